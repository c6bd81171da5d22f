"""confluent-kafka (librdkafka) fetching against a real snakafka broker subprocess:
out-of-range fetches and auto.offset.reset, long polls woken by an append, fetch sizes
below a batch's size, and logs of many segments, with retention moving the log start.
Consumers assign() partitions and use no group (helpers.confluent_consumer).
"""

from __future__ import annotations

import time

from confluent_kafka import TopicPartition

from integration.helpers import (
    BASE_TS,
    Send,
    check_log,
    confluent_consume,
    confluent_consumer,
    confluent_create_topic,
    confluent_produce,
    now_ms,
    raw_fetch,
    wait_until,
    workload,
)
from snakafka.testing.process import BrokerProcess

TIMEOUT = 10


def test_out_of_range_fetch_resets(broker: BrokerProcess, topic_name: str) -> None:
    """Fetching beyond the end answers OFFSET_OUT_OF_RANGE; the client resets per
    auto.offset.reset."""
    confluent_create_topic(broker.bootstrap, topic_name, 1)
    confluent_produce(broker.bootstrap, topic_name, [Send(None, b"r%d" % i, (), BASE_TS + i, partition=0) for i in range(5)])
    assert raw_fetch(broker.bootstrap, topic_name, 0, offset=1000)[0] == 1  # OFFSET_OUT_OF_RANGE
    assert raw_fetch(broker.bootstrap, topic_name, 0, offset=5)[:2] == (0, 5)  # the end itself is in range
    got = confluent_consume(broker.bootstrap, topic_name, [0], start=1000, conf={"auto.offset.reset": "earliest"})
    assert [(r.offset, r.value) for r in got] == [(i, b"r%d" % i) for i in range(5)]
    assert confluent_consume(broker.bootstrap, topic_name, [0], start=1000, conf={"auto.offset.reset": "latest"}) == []


def test_long_poll_fetch_wakes_on_produce(broker: BrokerProcess, topic_name: str) -> None:
    """A consumer waiting at the end (fetch.wait.max.ms long) gets a new record as soon
    as it is appended, not when the wait expires."""
    confluent_create_topic(broker.bootstrap, topic_name, 1)
    confluent_produce(broker.bootstrap, topic_name, [Send(None, b"first", (), BASE_TS, partition=0)])
    c = confluent_consumer(broker.bootstrap, {"fetch.wait.max.ms": 8000, "enable.partition.eof": False})
    try:
        c.assign([TopicPartition(topic_name, 0, 0)])
        deadline = time.monotonic() + 15
        while True:  # read what is there: the consumer's next fetch is at the end
            msg = c.poll(0.2)
            if msg is not None and msg.error() is None:
                assert msg.value() == b"first"
                break
            assert time.monotonic() < deadline, "first record not consumed"
        time.sleep(1.0)  # let the consumer's next fetch park on the broker
        start = time.monotonic()
        confluent_produce(broker.bootstrap, topic_name, [Send(None, b"wake", (), BASE_TS, partition=0)], conf={"linger.ms": 0})
        msg = None
        while time.monotonic() - start < 7:
            msg = c.poll(0.1)
            if msg is not None and msg.error() is None:
                break
        elapsed = time.monotonic() - start
        assert msg is not None and msg.error() is None and msg.value() == b"wake"
        assert elapsed < 3, f"parked fetch answered after {elapsed:.1f}s: it was not woken by the append"
    finally:
        c.close()


def test_small_fetch_sizes_still_progress(broker: BrokerProcess, topic_name: str) -> None:
    """max.partition.fetch.bytes / fetch.max.bytes below a batch's size: the broker still
    returns the first batch whole (KIP-74) and the consumer reads everything."""
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    sends = workload(2, keyed=60, null_key=20, explicit=20, value_size=400)
    acked = confluent_produce(broker.bootstrap, topic_name, sends, conf={"linger.ms": 20, "batch.num.messages": 4})
    consumed = confluent_consume(broker.bootstrap, topic_name, range(2),
                                 conf={"fetch.message.max.bytes": 500, "fetch.max.bytes": 1000, "message.max.bytes": 1000,
                                       "receive.message.max.bytes": 20000})
    check_log(sends, acked, consumed)
    err, _, batches = raw_fetch(broker.bootstrap, topic_name, 0, max_bytes=10)
    assert err == 0 and len(batches) == 1, "a fetch smaller than the first batch must return that batch whole"
    assert batches[0][0].base_offset == 0
    err, _, batches = raw_fetch(broker.bootstrap, topic_name, 0, offset=batches[0][0].next_offset, max_bytes=3000)
    sizes = [h.size for h, _ in batches]
    assert err == 0 and 1 <= len(batches) and (len(batches) == 1 or sum(sizes) <= 3000), sizes


def test_many_segments(broker: BrokerProcess, topic_name: str) -> None:
    """A topic with small segments rolls many of them: offsets, reads from any offset
    and time lookups work across segment boundaries."""
    confluent_create_topic(broker.bootstrap, topic_name, 1, {"segment.bytes": "20000", "segment.index.bytes": "4096"})
    sends = [Send(b"k%d" % i, b"seg-%05d-" % i + b"s" * 300, (), BASE_TS + i * 10, partition=0) for i in range(600)]
    acked = confluent_produce(broker.bootstrap, topic_name, sends, conf={"linger.ms": 5, "batch.num.messages": 7})
    check_log(sends, acked, confluent_consume(broker.bootstrap, topic_name, [0]))
    c = confluent_consumer(broker.bootstrap)
    try:
        for i in (0, 1, 123, 317, 598, 599):
            [tp] = c.offsets_for_times([TopicPartition(topic_name, 0, BASE_TS + i * 10 - 5)], timeout=TIMEOUT)
            assert tp.offset == i, (i, tp.offset)
    finally:
        c.close()
    for start in (57, 400, 599):
        got = confluent_consume(broker.bootstrap, topic_name, [0], start=start)
        assert [r.offset for r in got] == list(range(start, 600))
        assert got[0].value == sends[start].value


def test_retention_advances_log_start(tmp_path) -> None:
    """Retention deletes whole old segments (never the active one); the earliest offset
    moves up, reads from the beginning start there, and a consumer positioned before
    it gets OFFSET_OUT_OF_RANGE and resets."""
    b = BrokerProcess(tmp_path / "data", overrides={"log.retention.check.interval.ms": "200",
                                                   "log.segment.delete.delay.ms": "0"})
    b.start()
    try:
        t = "retained"
        # the first half with CreateTime far in the past, the second half now: the old
        # segments are past retention.ms at once, the ones with recent records are not
        # (if all were expired Kafka would delete the active segment too, after a roll)
        confluent_create_topic(b.bootstrap, t, 1, {"segment.bytes": "20000", "retention.ms": "60000"})
        recent = now_ms()
        sends = [Send(b"k", b"ret-%04d-" % i + b"r" * 300, (), (BASE_TS if i < 150 else recent) + i, partition=0)
                 for i in range(300)]
        confluent_produce(b.bootstrap, t, sends, conf={"batch.num.messages": 5})
        c = confluent_consumer(b.bootstrap)
        try:
            def low() -> int:
                return c.get_watermark_offsets(TopicPartition(t, 0), timeout=TIMEOUT)[0]
            start = wait_until(lambda: low() > 0 and low(), 15, interval=0.2, message="log start offset to advance")
            assert c.get_watermark_offsets(TopicPartition(t, 0), timeout=TIMEOUT)[1] == 300
            time.sleep(0.5)  # a few more retention passes change nothing
            start = low()
            assert 0 < start <= 150, f"log start {start}: segments with recent records must stay"
            [tp] = c.offsets_for_times([TopicPartition(t, 0, 0)], timeout=TIMEOUT)
            assert tp.offset == start
        finally:
            c.close()
        got = confluent_consume(b.bootstrap, t, [0], start=-2)  # OFFSET_BEGINNING
        assert [r.offset for r in got] == list(range(start, 300))
        assert [r.value for r in got] == [s.value for s in sends[start:]]
        assert raw_fetch(b.bootstrap, t, 0, offset=0)[0] == 1  # OFFSET_OUT_OF_RANGE below the log start
        got = confluent_consume(b.bootstrap, t, [0], start=0, conf={"auto.offset.reset": "earliest"})
        assert got[0].offset == start and len(got) == 300 - start
    finally:
        b.stop()

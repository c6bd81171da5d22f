"""confluent-kafka (librdkafka) against a real snakafka broker subprocess: record
timestamps (CreateTime kept as sent, LogAppendTime set by the broker, in answers,
fetched records and stored batch headers) and offset lookups (offsets_for_times,
watermarks).
Consumers assign() partitions and use no group (helpers.confluent_consumer).
"""

from __future__ import annotations

import pytest
from confluent_kafka import TopicPartition

from integration.helpers import (
    BASE_TS,
    CREATE_TIME,
    LOG_APPEND_TIME,
    Send,
    check_log,
    confluent_consume,
    confluent_consumer,
    confluent_create_topic,
    confluent_produce,
    now_ms,
    offsets_for_times_sends,
    raw_fetch,
    workload,
)
from snakafka.protocol.batch import TIMESTAMP_TYPE_MASK
from snakafka.testing.process import BrokerProcess

TIMEOUT = 10


def test_log_append_time(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 2, {"message.timestamp.type": "LogAppendTime"})
    sends = workload(2, keyed=6, null_key=4, explicit=4, tag="lat")  # CreateTime far in the past
    before = now_ms()
    acked = confluent_produce(broker.bootstrap, topic_name, sends)
    after = now_ms()
    # the produce answer carries the broker's append time, and librdkafka reports it
    for a in acked:
        assert a.timestamp_type == LOG_APPEND_TIME, a
        assert before - 5 <= a.timestamp <= after + 5, (before, a.timestamp, after)
    consumed = confluent_consume(broker.bootstrap, topic_name, range(2))
    check_log(sends, acked, consumed, timestamp_type=LOG_APPEND_TIME, append_window=(before - 5, after + 5))
    by_offset = {(a.partition, a.offset): a.timestamp for a in acked}
    for r in consumed:
        assert r.timestamp == by_offset[(r.partition, r.offset)], "fetched append time differs from the acknowledged one"


def test_offsets_for_times(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    sends = offsets_for_times_sends(partition=1, n=10, step=1000)
    # two produce calls: the lookup crosses batch boundaries
    acked = confluent_produce(broker.bootstrap, topic_name, sends[:5], conf={"linger.ms": 50})
    acked += confluent_produce(broker.bootstrap, topic_name, sends[5:], conf={"linger.ms": 50})
    assert [a.offset for a in acked] == list(range(10))
    c = confluent_consumer(broker.bootstrap)
    try:
        def lookup(ts: int, part: int = 1) -> int:
            [tp] = c.offsets_for_times([TopicPartition(topic_name, part, ts)], timeout=TIMEOUT)
            assert tp.error is None, tp.error
            return tp.offset
        assert lookup(BASE_TS + 4500) == 5  # between records: the first at/after it
        assert lookup(BASE_TS + 5000) == 5  # exact
        assert lookup(BASE_TS + 4999) == 5
        assert lookup(BASE_TS + 5001) == 6
        assert lookup(0) == 0
        assert lookup(BASE_TS + 9000) == 9
        assert lookup(BASE_TS + 9001) == -1  # after the last record: none (OFFSET_END)
        assert lookup(BASE_TS, part=0) == -1  # empty partition
        # start consuming at the looked-up offset
        c.assign([TopicPartition(topic_name, 1, lookup(BASE_TS + 7500))])
        msg = None
        for _ in range(50):
            msg = c.poll(0.2)
            if msg is not None and msg.error() is None:
                break
        assert msg is not None and msg.error() is None
        assert (msg.offset(), msg.value(), msg.timestamp()[1]) == (8, b"ts-8", BASE_TS + 8000)
    finally:
        c.close()


def test_watermarks_and_list_offsets(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    sends = [Send(None, b"v%d" % i, (), BASE_TS + i, partition=0) for i in range(7)]
    confluent_produce(broker.bootstrap, topic_name, sends)
    c = confluent_consumer(broker.bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic_name, 0), timeout=TIMEOUT) == (0, 7)
        assert c.get_watermark_offsets(TopicPartition(topic_name, 1), timeout=TIMEOUT) == (0, 0)
    finally:
        c.close()


def test_create_time_kept_as_sent(broker: BrokerProcess, topic_name: str) -> None:
    """Out-of-order CreateTime timestamps within one partition are stored as sent."""
    confluent_create_topic(broker.bootstrap, topic_name, 1)
    stamps = [BASE_TS + 50, BASE_TS + 10, BASE_TS + 999_999, BASE_TS]
    sends = [Send(None, b"s%d" % i, (), ts, partition=0) for i, ts in enumerate(stamps)]
    acked = confluent_produce(broker.bootstrap, topic_name, sends, conf={"linger.ms": 20})
    consumed = confluent_consume(broker.bootstrap, topic_name, [0])
    assert [r.timestamp for r in consumed] == stamps
    assert all(r.timestamp_type == CREATE_TIME for r in consumed)
    check_log(sends, acked, consumed)


@pytest.mark.parametrize("codec", ["none", "lz4"])
def test_log_append_time_stored_in_batch_header(broker: BrokerProcess, topic_name: str, codec: str) -> None:
    """With LogAppendTime the broker sets the batch's timestamp type bit and its max
    timestamp to the append time (records keep their own deltas, readers ignore them)."""
    confluent_create_topic(broker.bootstrap, topic_name, 1, {"message.timestamp.type": "LogAppendTime"})
    before = now_ms()
    confluent_produce(broker.bootstrap, topic_name, [Send(None, b"v%d" % i, (), BASE_TS + i, partition=0) for i in range(5)],
                      conf={"compression.type": codec, "linger.ms": 50})
    after = now_ms()
    _, _, batches = raw_fetch(broker.bootstrap, topic_name, 0)
    assert batches, "the fetch returned no batches"
    for h, _ in batches:
        assert h.attributes & TIMESTAMP_TYPE_MASK, "timestamp type bit not set"
        assert before - 5 <= h.max_timestamp <= after + 5

"""confluent-kafka (librdkafka) against a real snakafka broker subprocess.

Consumers use assign() with explicit start offsets and no commits: librdkafka requires
a group.id, but nothing here touches the group APIs.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
)

from integration.helpers import (
    BASE_TS,
    CODECS,
    CREATE_TIME,
    LARGE_VALUE_SIZE,
    LOG_APPEND_TIME,
    Rec,
    Send,
    assert_stored_codec,
    check_log,
    confluent_admin,
    confluent_consume,
    confluent_consumer,
    confluent_create_topic,
    confluent_produce,
    confluent_producer,
    large_send,
    norm_headers,
    now_ms,
    offsets_for_times_sends,
    raw_fetch,
    wait_until,
    workload,
)
from snakafka.protocol.batch import TIMESTAMP_TYPE_MASK
from snakafka.testing.process import BrokerProcess

TIMEOUT = 10


def _topic_md(admin, name):
    return admin.list_topics(topic=name, timeout=5).topics.get(name)


def _exists(admin, name) -> bool:
    t = admin.list_topics(timeout=5).topics.get(name)
    return t is not None and t.error is None


def _describe(admin, name) -> dict:
    res = ConfigResource(ConfigResource.Type.TOPIC, name)
    return admin.describe_configs([res], request_timeout=TIMEOUT)[res].result(TIMEOUT)


# -- admin -------------------------------------------------------------------------------


def test_admin_create_list_describe_alter_partitions(broker: BrokerProcess, topic_name: str) -> None:
    admin = confluent_admin(broker.bootstrap)
    fs = admin.create_topics([NewTopic(topic_name, num_partitions=3, replication_factor=1,
                                       config={"retention.ms": "123456789", "max.message.bytes": "200000"})],
                             operation_timeout=TIMEOUT, request_timeout=TIMEOUT)
    assert fs[topic_name].result(TIMEOUT) is None

    t = wait_until(lambda: _topic_md(admin, topic_name), TIMEOUT, message="topic in metadata")
    assert t.error is None
    assert sorted(t.partitions) == [0, 1, 2]
    for pid, p in t.partitions.items():
        assert p.id == pid
        assert p.leader == 0
        assert p.replicas == [0]
        assert p.isrs == [0]
        assert p.error is None
    assert topic_name in admin.list_topics(timeout=5).topics

    configs = _describe(admin, topic_name)
    assert configs["retention.ms"].value == "123456789"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["max.message.bytes"].value == "200000"
    assert configs["cleanup.policy"].value == "delete"
    assert configs["cleanup.policy"].source == ConfigSource.DEFAULT_CONFIG.value
    assert configs["message.timestamp.type"].value == "CreateTime"

    # creating it again fails with TOPIC_ALREADY_EXISTS
    fs = admin.create_topics([NewTopic(topic_name, num_partitions=1, replication_factor=1)], request_timeout=TIMEOUT)
    with pytest.raises(KafkaException) as exc:
        fs[topic_name].result(TIMEOUT)
    assert exc.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS

    # create partitions 3 -> 5; shrinking is refused
    fs = admin.create_partitions([NewPartitions(topic_name, 5)], request_timeout=TIMEOUT)
    assert fs[topic_name].result(TIMEOUT) is None
    wait_until(lambda: len(_topic_md(admin, topic_name).partitions) == 5, TIMEOUT, message="5 partitions")
    assert all(p.leader == 0 for p in _topic_md(admin, topic_name).partitions.values())
    fs = admin.create_partitions([NewPartitions(topic_name, 2)], request_timeout=TIMEOUT)
    with pytest.raises(KafkaException) as exc:
        fs[topic_name].result(TIMEOUT)
    assert exc.value.args[0].code() == KafkaError.INVALID_PARTITIONS
    # new partitions take records
    acked = confluent_produce(broker.bootstrap, topic_name, [Send(b"k", b"on-4", (), BASE_TS, partition=4)])
    assert (acked[0].partition, acked[0].offset) == (4, 0)

    # incremental alter: set one, delete another (back to its default)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic_name, incremental_configs=[
        ConfigEntry("retention.ms", "555000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("max.message.bytes", None, incremental_operation=AlterConfigOpType.DELETE),
    ])
    admin.incremental_alter_configs([res], request_timeout=TIMEOUT)[res].result(TIMEOUT)
    configs = _describe(admin, topic_name)
    assert configs["retention.ms"].value == "555000"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["max.message.bytes"].value == "1048588"
    assert configs["max.message.bytes"].source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value

    # an invalid value is refused and changes nothing
    res = ConfigResource(ConfigResource.Type.TOPIC, topic_name, incremental_configs=[
        ConfigEntry("retention.ms", "not-a-number", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as exc:
        admin.incremental_alter_configs([res], request_timeout=TIMEOUT)[res].result(TIMEOUT)
    assert exc.value.args[0].code() == KafkaError.INVALID_CONFIG
    assert _describe(admin, topic_name)["retention.ms"].value == "555000"

    # delete: gone from metadata
    assert admin.delete_topics([topic_name], operation_timeout=TIMEOUT, request_timeout=TIMEOUT)[topic_name].result(TIMEOUT) is None
    wait_until(lambda: not _exists(admin, topic_name), TIMEOUT, message="topic gone from metadata")
    # deleting it again: UNKNOWN_TOPIC_OR_PART
    with pytest.raises(KafkaException) as exc:
        admin.delete_topics([topic_name], request_timeout=TIMEOUT)[topic_name].result(TIMEOUT)
    assert exc.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_delete_topic_without_auto_create(noauto_broker: BrokerProcess, topic_name: str) -> None:
    """With auto.create.topics.enable=false a deleted topic stays gone: producing fails."""
    bootstrap = noauto_broker.bootstrap
    admin = confluent_admin(bootstrap)
    confluent_create_topic(bootstrap, topic_name, 2)
    acked = confluent_produce(bootstrap, topic_name, [Send(b"k", b"before-delete", (), BASE_TS, partition=1)])
    assert (acked[0].partition, acked[0].offset) == (1, 0)
    admin.delete_topics([topic_name], request_timeout=TIMEOUT)[topic_name].result(TIMEOUT)
    wait_until(lambda: not _exists(admin, topic_name), TIMEOUT, message="topic gone from metadata")

    p = confluent_producer(bootstrap, {"message.timeout.ms": 3000, "topic.metadata.propagation.max.ms": 500})
    errors = []
    p.produce(topic_name, b"after-delete", on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(10) == 0
    assert len(errors) == 1 and errors[0] is not None, f"produce to a deleted topic succeeded: {errors}"
    assert errors[0].code() in (KafkaError._UNKNOWN_TOPIC, KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._MSG_TIMED_OUT), errors[0]
    assert not _exists(admin, topic_name), "a metadata request re-created the topic with auto-create off"


def test_deleted_topic_recreated_by_auto_create(broker: BrokerProcess, topic_name: str) -> None:
    """With auto-create on (the default), producing to a deleted topic creates it anew
    with num.partitions (1) partitions and an empty log."""
    admin = confluent_admin(broker.bootstrap)
    confluent_create_topic(broker.bootstrap, topic_name, 3)
    confluent_produce(broker.bootstrap, topic_name, [Send(None, b"old", (), BASE_TS, partition=0)] * 3)
    admin.delete_topics([topic_name], request_timeout=TIMEOUT)[topic_name].result(TIMEOUT)
    wait_until(lambda: not _exists(admin, topic_name), TIMEOUT, message="topic gone from metadata")
    acked = confluent_produce(broker.bootstrap, topic_name, [Send(None, b"new", (), BASE_TS + 1)])
    assert (acked[0].partition, acked[0].offset) == (0, 0)
    assert len(_topic_md(admin, topic_name).partitions) == 1
    got = confluent_consume(broker.bootstrap, topic_name, [0])
    assert [(r.offset, r.value) for r in got] == [(0, b"new")]


# -- produce / consume ------------------------------------------------------------------


@pytest.mark.parametrize("acks", ["1", "all"])
def test_roundtrip_keyed_null_explicit_with_headers(broker: BrokerProcess, topic_name: str, acks: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 3)
    sends = workload(3, keyed=20, null_key=8, explicit=9)
    acked = confluent_produce(broker.bootstrap, topic_name, sends, conf={"acks": acks, "linger.ms": 2})
    # delivery reports carry the CreateTime we set
    assert [a.timestamp for a in acked] == [s.timestamp for s in sends]
    consumed = confluent_consume(broker.bootstrap, topic_name, range(3))
    check_log(sends, acked, consumed)
    # a second produce continues each partition's offsets
    more = workload(3, keyed=0, null_key=0, explicit=3, tag="more", base_ts=BASE_TS + 1000)
    acked2 = confluent_produce(broker.bootstrap, topic_name, more, conf={"acks": acks})
    sizes = {p: sum(1 for a in acked if a.partition == p) for p in range(3)}
    assert [(a.partition, a.offset) for a in acked2] == [(p, sizes[p]) for p in range(3)]
    check_log(sends + more, acked + acked2, confluent_consume(broker.bootstrap, topic_name, range(3)))


def test_acks_zero(broker: BrokerProcess, topic_name: str) -> None:
    """acks=0: no answers, but the records land, in order, with contiguous offsets."""
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    sends = [Send(b"k%d" % i, b"acks0-%03d" % i, (("i", b"%d" % i),), BASE_TS + i, partition=i % 2) for i in range(40)]
    p = confluent_producer(broker.bootstrap, {"acks": 0, "linger.ms": 2})
    errors = []
    for s in sends:
        p.produce(topic_name, s.value, s.key, partition=s.partition, timestamp=s.timestamp, headers=list(s.headers),
                  on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(10) == 0
    assert errors == [None] * len(sends)
    # no acknowledgement to wait on: poll until everything is readable
    def all_there():
        got = confluent_consume(broker.bootstrap, topic_name, range(2))
        return got if len(got) >= len(sends) else None
    consumed = wait_until(all_there, 15, interval=0.2, message="acks=0 records to arrive")
    for part in range(2):
        got = [r for r in consumed if r.partition == part]
        want = [s for s in sends if s.partition == part]
        assert [r.offset for r in got] == list(range(len(want)))
        assert [(r.key, r.value, r.headers, r.timestamp) for r in got] == [(s.key, s.value, s.headers, s.timestamp) for s in want]


@pytest.mark.parametrize("codec", CODECS)
def test_compression(broker: BrokerProcess, topic_name: str, codec: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    sends = workload(2, keyed=30, null_key=10, explicit=10, tag=codec, value_size=300)
    acked = confluent_produce(broker.bootstrap, topic_name, sends, conf={"compression.type": codec, "linger.ms": 20})
    check_log(sends, acked, confluent_consume(broker.bootstrap, topic_name, range(2)))
    # librdkafka only compresses with lz4 when the broker's ApiVersions imply it can (it
    # keys that feature on FindCoordinator): check what was really stored
    assert_stored_codec(broker.bootstrap, topic_name, range(2), codec)


def test_large_record_near_one_megabyte(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    small_before = Send(b"a", b"before", (), BASE_TS, partition=1)
    big = large_send(partition=1, ts=BASE_TS + 1)
    small_after = Send(b"b", b"after", (), BASE_TS + 2, partition=1)
    sends = [small_before, big, small_after]
    conf = {"message.max.bytes": 1048588, "linger.ms": 0}
    acked = confluent_produce(broker.bootstrap, topic_name, sends, conf=conf)
    assert [a.offset for a in acked] == [0, 1, 2]
    consumed = confluent_consume(broker.bootstrap, topic_name, [0, 1], conf={"fetch.message.max.bytes": 1048576})
    large = consumed[1].value
    assert large is not None and len(large) == LARGE_VALUE_SIZE
    check_log(sends, acked, consumed)


def test_batch_above_max_message_bytes_is_refused(broker: BrokerProcess, topic_name: str) -> None:
    """The broker (not the client) refuses a batch above the topic's max.message.bytes
    with MESSAGE_TOO_LARGE; smaller records after it still go through."""
    confluent_create_topic(broker.bootstrap, topic_name, 1, {"max.message.bytes": "10000"})
    p = confluent_producer(broker.bootstrap, {"message.max.bytes": 2_000_000, "linger.ms": 0, "retries": 0})
    reports = []
    p.produce(topic_name, b"x" * 20_000, partition=0, on_delivery=lambda err, msg: reports.append(err))
    assert p.flush(10) == 0
    assert reports[0] is not None and reports[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, reports
    acked = confluent_produce(broker.bootstrap, topic_name, [Send(None, b"small", (), BASE_TS, partition=0)])
    assert acked[0].offset == 0


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


# -- more of Kafka's documented behaviour ----------------------------------------------


def test_create_topics_validation(broker: BrokerProcess, topic_name: str) -> None:
    admin = confluent_admin(broker.bootstrap)

    def create_error(topic: NewTopic, **kw) -> int:
        fs = admin.create_topics([topic], request_timeout=TIMEOUT, **kw)
        try:
            fs[topic.topic].result(TIMEOUT)
        except KafkaException as exc:
            return exc.args[0].code()
        return KafkaError.NO_ERROR

    assert create_error(NewTopic(topic_name, num_partitions=1, replication_factor=3)) == KafkaError.INVALID_REPLICATION_FACTOR
    assert create_error(NewTopic(topic_name, num_partitions=0, replication_factor=1)) == KafkaError.INVALID_PARTITIONS
    assert create_error(NewTopic("bad name!", num_partitions=1, replication_factor=1)) == KafkaError.TOPIC_EXCEPTION
    assert create_error(NewTopic("x" * 250, num_partitions=1, replication_factor=1)) == KafkaError.TOPIC_EXCEPTION
    assert create_error(NewTopic(topic_name, 1, 1, config={"retention.ms": "soon"})) == KafkaError.INVALID_CONFIG
    assert create_error(NewTopic(topic_name, 1, 1, config={"no.such.config": "1"})) == KafkaError.INVALID_CONFIG
    assert create_error(NewTopic(topic_name, 1, 1, config={"cleanup.policy": "shred"})) == KafkaError.INVALID_CONFIG
    # validate_only: accepted, not created
    assert create_error(NewTopic(topic_name, num_partitions=2, replication_factor=1), validate_only=True) == KafkaError.NO_ERROR
    assert not _exists(admin, topic_name)
    # -1 defaults: num.partitions (1) and default.replication.factor (1)
    assert create_error(NewTopic(topic_name)) == KafkaError.NO_ERROR
    t = wait_until(lambda: _topic_md(admin, topic_name), TIMEOUT, message="topic in metadata")
    assert len(t.partitions) == 1 and t.partitions[0].replicas == [0]
    assert not _exists(admin, "bad name!")


def test_describe_broker_configs(broker: BrokerProcess) -> None:
    admin = confluent_admin(broker.bootstrap)
    res = ConfigResource(ConfigResource.Type.BROKER, "0")
    configs = admin.describe_configs([res], request_timeout=TIMEOUT)[res].result(TIMEOUT)
    assert configs["message.max.bytes"].value == "1048588"
    assert configs["num.partitions"].value == "1"
    assert configs["auto.create.topics.enable"].value == "true"
    # set by --override on the command line: a static broker config
    assert configs["group.initial.rebalance.delay.ms"].value == "0"
    assert configs["group.initial.rebalance.delay.ms"].source == ConfigSource.STATIC_BROKER_CONFIG.value


def test_multiple_topics_one_producer_one_consumer(broker: BrokerProcess, topic_name: str) -> None:
    other = topic_name + "-b"
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    confluent_create_topic(broker.bootstrap, other, 3)
    p = confluent_producer(broker.bootstrap, {"linger.ms": 20})
    a_sends = workload(2, tag="a")
    b_sends = workload(3, tag="b")
    reports: dict[str, list] = {topic_name: [None] * len(a_sends), other: [None] * len(b_sends)}
    for i in range(max(len(a_sends), len(b_sends))):  # interleaved: produce requests carry both topics
        for t, sends in ((topic_name, a_sends), (other, b_sends)):
            if i < len(sends):
                s = sends[i]
                kw = {"partition": s.partition} if s.partition is not None else {}
                p.produce(t, s.value, s.key, headers=list(s.headers), timestamp=s.timestamp,
                          on_delivery=lambda err, msg, t=t, i=i: reports[t].__setitem__(i, (err, msg)), **kw)
    assert p.flush(20) == 0

    def acked(t: str) -> list:
        out = []
        for err, msg in reports[t]:
            assert err is None, err
            out.append(Rec(msg.partition(), msg.offset(), msg.key(), msg.value(), norm_headers(msg.headers()), msg.timestamp()[1]))
        return out

    c = confluent_consumer(broker.bootstrap)
    got: dict[str, list] = {topic_name: [], other: []}
    eof: set = set()
    try:
        c.assign([TopicPartition(topic_name, q, 0) for q in range(2)] + [TopicPartition(other, q, 0) for q in range(3)])
        deadline = time.monotonic() + 20
        while len(eof) < 5:
            assert time.monotonic() < deadline, eof
            msg = c.poll(0.2)
            if msg is None:
                continue
            if msg.error() is not None:
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                eof.add((msg.topic(), msg.partition()))
                continue
            eof.discard((msg.topic(), msg.partition()))
            got[msg.topic()].append(Rec(msg.partition(), msg.offset(), msg.key(), msg.value(), norm_headers(msg.headers()),
                                        msg.timestamp()[1]))
    finally:
        c.close()
    check_log(a_sends, acked(topic_name), got[topic_name])
    check_log(b_sends, acked(other), got[other])


def test_idempotent_producer(broker: BrokerProcess, topic_name: str) -> None:
    """enable.idempotence: InitProducerId, then sequenced batches; in order, no duplicates."""
    confluent_create_topic(broker.bootstrap, topic_name, 3)
    sends = workload(3, keyed=40, null_key=10, explicit=12)
    acked = confluent_produce(broker.bootstrap, topic_name, sends,
                              conf={"enable.idempotence": True, "linger.ms": 1, "max.in.flight.requests.per.connection": 5,
                                    "batch.num.messages": 3})
    check_log(sends, acked, confluent_consume(broker.bootstrap, topic_name, range(3)))
    # the batches carry a producer id and sequences: look at them as stored
    err, high_watermark, batches = raw_fetch(broker.bootstrap, topic_name, 0)
    assert err == 0 and batches and high_watermark == sum(len(recs) for _, recs in batches)
    pids = {h.producer_id for h, _ in batches}
    assert len(pids) == 1 and pids.pop() >= 0
    seq = 0
    for h, recs in batches:
        assert h.base_sequence == seq, "sequences must run on without gaps"
        seq += len(recs)


def test_mixed_codecs_in_one_partition_and_reads_from_inside_a_batch(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 1)
    sends, acked = [], []
    for n, codec in enumerate(("none", *CODECS)):
        chunk = [Send(b"k", b"%s-%d-" % (codec.encode(), i) + b"z" * 200, (("c", codec.encode()),), BASE_TS + 10 * n + i,
                      partition=0) for i in range(10)]
        acked += confluent_produce(broker.bootstrap, topic_name, chunk, conf={"compression.type": codec, "linger.ms": 50})
        sends += chunk
    assert [a.offset for a in acked] == list(range(50))
    check_log(sends, acked, confluent_consume(broker.bootstrap, topic_name, [0]))
    # the stored batches keep the producer's codecs (topic compression.type=producer)
    _, high_watermark, batches = raw_fetch(broker.bootstrap, topic_name, 0)
    assert high_watermark == 50
    # (lz4 itself is checked by test_compression[lz4]: librdkafka may not use it yet)
    assert {0, 1, 2, 4} <= {h.compression for h, _ in batches} <= {0, 1, 2, 3, 4}
    # start inside a compressed batch: the consumer gets exactly from that offset
    for start in (3, 17, 25, 49):
        got = confluent_consume(broker.bootstrap, topic_name, [0], start=start)
        assert [r.offset for r in got] == list(range(start, 50))
        assert got[0].value == sends[start].value


@pytest.mark.parametrize("topic_codec,producer_codec,stored", [("gzip", "none", 1), ("uncompressed", "lz4", 0),
                                                                ("zstd", "snappy", 4), ("lz4", "lz4", 3)])
def test_topic_compression_type(broker: BrokerProcess, topic_name: str, topic_codec: str, producer_codec: str,
                                stored: int) -> None:
    """A topic's compression.type other than 'producer' makes the broker store batches
    in that codec, whatever the producer used; readers see the same records."""
    confluent_create_topic(broker.bootstrap, topic_name, 1, {"compression.type": topic_codec})
    sends = [Send(b"k%d" % i, b"value-%d-" % i + b"q" * 100, (("i", b"%d" % i),), BASE_TS + i, partition=0) for i in range(30)]
    acked = confluent_produce(broker.bootstrap, topic_name, sends, conf={"compression.type": producer_codec, "linger.ms": 50})
    check_log(sends, acked, confluent_consume(broker.bootstrap, topic_name, [0]))
    _, _, batches = raw_fetch(broker.bootstrap, topic_name, 0)
    assert {h.compression for h, _ in batches} == {stored}
    assert [(r.offset, r.key, r.value) for _, rs in batches for r in rs] == [(a.offset, a.key, a.value) for a in acked]


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
    for h, _ in batches:
        assert h.attributes & TIMESTAMP_TYPE_MASK, "timestamp type bit not set"
        assert before - 5 <= h.max_timestamp <= after + 5


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

"""kafka-python 3.x against a real snakafka broker subprocess: KafkaAdminClient,
KafkaProducer (idempotent by default in 3.x, and plain acks=1), KafkaConsumer with
assign() and no group."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import (
    ConfigResource,
    ConfigResourceType,
    KafkaAdminClient,
    NewPartitions,
)
from kafka.errors import (
    InvalidPartitionsError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)

from integration.helpers import (
    BASE_TS,
    CODECS,
    LARGE_VALUE_SIZE,
    LOG_APPEND_TIME,
    Rec,
    Send,
    assert_stored_codec,
    check_log,
    large_send,
    norm_headers,
    now_ms,
    offsets_for_times_sends,
    timestamp_type_name,
    wait_until,
    workload,
)
from snakafka.testing.process import BrokerProcess

TIMEOUT_MS = 10_000


def admin_client(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS)


def create_topic(bootstrap: str, name: str, partitions: int, configs: dict[str, str] | None = None) -> dict:
    admin = admin_client(bootstrap)
    try:
        return admin.create_topics({name: {"num_partitions": partitions, "replication_factor": 1, "configs": configs or {}}},
                                   timeout_ms=TIMEOUT_MS, wait_for_metadata=True)
    finally:
        admin.close()


def produce(bootstrap: str, topic: str, sends: Sequence[Send], **conf: Any) -> list[Rec]:
    config: dict[str, Any] = {"bootstrap_servers": bootstrap, "linger_ms": 5, "request_timeout_ms": TIMEOUT_MS,
                              "delivery_timeout_ms": 20_000, "max_block_ms": TIMEOUT_MS}
    config.update(conf)
    producer = KafkaProducer(**config)
    try:
        futures = [producer.send(topic, value=s.value, key=s.key, headers=list(s.headers) or None,
                                 partition=s.partition, timestamp_ms=s.timestamp) for s in sends]
        producer.flush(20)
        out = []
        for s, f in zip(sends, futures, strict=True):
            md = f.get(timeout=1)
            out.append(Rec(md.partition, md.offset, s.key, s.value, norm_headers(s.headers), md.timestamp))
        return out
    finally:
        producer.close(timeout=5)


def consumer(bootstrap: str, **conf: Any) -> KafkaConsumer:
    config: dict[str, Any] = {"bootstrap_servers": bootstrap, "group_id": None, "enable_auto_commit": False,
                              "request_timeout_ms": TIMEOUT_MS, "fetch_max_wait_ms": 100, "auto_offset_reset": "earliest"}
    config.update(conf)
    return KafkaConsumer(**config)


def consume(bootstrap: str, topic: str, partitions: Iterable[int], timeout: float = 20.0, **conf: Any) -> list[Rec]:
    """assign() every partition, seek to the beginning, read up to the end offsets."""
    parts = [TopicPartition(topic, p) for p in partitions]
    c = consumer(bootstrap, **conf)
    try:
        c.assign(parts)
        c.seek_to_beginning(*parts)
        ends = c.end_offsets(parts, timeout_ms=TIMEOUT_MS)
        out: list[Rec] = []
        deadline = time.monotonic() + timeout
        while any(c.position(tp, timeout_ms=TIMEOUT_MS) < ends[tp] for tp in parts):
            assert time.monotonic() < deadline, f"consume timed out: positions {[c.position(tp) for tp in parts]}, ends {ends}"
            for records in c.poll(timeout_ms=200).values():
                for r in records:
                    out.append(Rec(r.partition, r.offset, r.key, r.value, norm_headers(r.headers), r.timestamp,
                                   timestamp_type_name(r.timestamp_type)))
        return out
    finally:
        c.close()


# -- admin -------------------------------------------------------------------------------


def test_admin_create_list_describe_alter_partitions_delete(broker: BrokerProcess, topic_name: str) -> None:
    admin = admin_client(broker.bootstrap)
    try:
        result = admin.create_topics({topic_name: {"num_partitions": 3, "replication_factor": 1,
                                                   "configs": {"retention.ms": "7654321", "cleanup.policy": "compact"}}},
                                     timeout_ms=TIMEOUT_MS, wait_for_metadata=True)
        [created] = result["topics"]
        assert (created["name"], created["error_code"], created["num_partitions"], created["replication_factor"]) == (topic_name, 0, 3, 1)
        # CreateTopics v5+ answers with the topic's configs
        assert created["configs"]["retention.ms"]["value"] == "7654321"
        assert created["configs"]["cleanup.policy"]["value"] == "compact"

        assert topic_name in admin.list_topics()
        [described] = admin.describe_topics([topic_name])
        assert described["error_code"] == 0 and described["is_internal"] is False
        parts = sorted(described["partitions"], key=lambda p: p["partition_index"])
        assert [p["partition_index"] for p in parts] == [0, 1, 2]
        for p in parts:
            assert (p["leader_id"], p["replica_nodes"], p["isr_nodes"], p["error_code"]) == (0, [0], [0], 0)

        res = ConfigResource(ConfigResourceType.TOPIC, topic_name)
        modified = admin.describe_configs([res])["topic"][topic_name]
        assert set(modified) == {"retention.ms", "cleanup.policy"}, "only the overridden keys are 'modified'"
        assert modified["retention.ms"]["value"] == "7654321"
        assert modified["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
        everything = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic_name)], config_filter="all")["topic"][topic_name]
        assert everything["max.message.bytes"]["value"] == "1048588"
        assert everything["max.message.bytes"]["config_source"] == "DEFAULT_CONFIG"
        assert everything["segment.bytes"]["value"] == "1073741824"

        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics({topic_name: {"num_partitions": 1, "replication_factor": 1}}, timeout_ms=TIMEOUT_MS)

        admin.create_partitions({topic_name: NewPartitions(4)}, timeout_ms=TIMEOUT_MS)
        wait_until(lambda: len(admin.describe_topics([topic_name])[0]["partitions"]) == 4, 10, message="4 partitions")
        with pytest.raises(InvalidPartitionsError):
            admin.create_partitions({topic_name: NewPartitions(4)}, timeout_ms=TIMEOUT_MS)

        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic_name, {"retention.ms": "86400000"})])
        modified = admin.describe_configs([res])["topic"][topic_name]
        assert modified["retention.ms"]["value"] == "86400000"
        admin.reset_configs([ConfigResource(ConfigResourceType.TOPIC, topic_name, ["cleanup.policy"])])
        modified = admin.describe_configs([res])["topic"][topic_name]
        assert "cleanup.policy" not in modified
        assert modified["retention.ms"]["value"] == "86400000"

        deleted = admin.delete_topics([topic_name], timeout_ms=TIMEOUT_MS)
        assert [(t["name"], t["error_code"]) for t in deleted["topics"]] == [(topic_name, 0)]
        wait_until(lambda: topic_name not in admin.list_topics(), 10, message="topic gone")
        with pytest.raises(UnknownTopicOrPartitionError):
            admin.delete_topics([topic_name], timeout_ms=TIMEOUT_MS)
    finally:
        admin.close()


def test_delete_topic_without_auto_create(noauto_broker: BrokerProcess, topic_name: str) -> None:
    bootstrap = noauto_broker.bootstrap
    create_topic(bootstrap, topic_name, 2)
    acked = produce(bootstrap, topic_name, [Send(b"k", b"before", (), BASE_TS, partition=0)])
    assert (acked[0].partition, acked[0].offset) == (0, 0)
    admin = admin_client(bootstrap)
    try:
        admin.delete_topics([topic_name], timeout_ms=TIMEOUT_MS)
        wait_until(lambda: topic_name not in admin.list_topics(), 10, message="topic gone")
        producer = KafkaProducer(bootstrap_servers=bootstrap, max_block_ms=1500, request_timeout_ms=3000)
        try:
            with pytest.raises(KafkaTimeoutError):  # metadata never shows the topic
                producer.send(topic_name, b"after").get(timeout=5)
        finally:
            producer.close(timeout=2)
        assert topic_name not in admin.list_topics()
    finally:
        admin.close()


# -- produce / consume ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["acks1", "idempotent-acks-all"])
def test_roundtrip_keyed_null_explicit_with_headers(broker: BrokerProcess, topic_name: str, mode: str) -> None:
    create_topic(broker.bootstrap, topic_name, 3)
    conf = {"acks": 1, "enable_idempotence": False} if mode == "acks1" else {"acks": "all", "enable_idempotence": True}
    sends = workload(3, keyed=20, null_key=8, explicit=9)
    acked = produce(broker.bootstrap, topic_name, sends, **conf)
    assert [a.timestamp for a in acked] == [s.timestamp for s in sends]
    check_log(sends, acked, consume(broker.bootstrap, topic_name, range(3)))


@pytest.mark.parametrize("codec", CODECS)
def test_compression(broker: BrokerProcess, topic_name: str, codec: str) -> None:
    create_topic(broker.bootstrap, topic_name, 2)
    sends = workload(2, keyed=30, null_key=10, explicit=10, tag=codec, value_size=300)
    acked = produce(broker.bootstrap, topic_name, sends, compression_type=codec, linger_ms=20)
    check_log(sends, acked, consume(broker.bootstrap, topic_name, range(2)))
    assert_stored_codec(broker.bootstrap, topic_name, range(2), codec)


def test_large_record_near_one_megabyte(broker: BrokerProcess, topic_name: str) -> None:
    create_topic(broker.bootstrap, topic_name, 1)
    sends = [Send(b"a", b"before", (), BASE_TS, partition=0), large_send(0, BASE_TS + 1),
             Send(b"b", b"after", (), BASE_TS + 2, partition=0)]
    acked = produce(broker.bootstrap, topic_name, sends, max_request_size=1_048_576 + 1024, linger_ms=0)
    assert [a.offset for a in acked] == [0, 1, 2]
    consumed = consume(broker.bootstrap, topic_name, [0])
    large = consumed[1].value
    assert large is not None and len(large) == LARGE_VALUE_SIZE
    check_log(sends, acked, consumed)


def test_batch_above_topic_max_message_bytes(broker: BrokerProcess, topic_name: str) -> None:
    create_topic(broker.bootstrap, topic_name, 1, {"max.message.bytes": "5000"})
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=0, retries=0, enable_idempotence=False,
                             request_timeout_ms=TIMEOUT_MS, max_block_ms=TIMEOUT_MS)
    try:
        with pytest.raises(MessageSizeTooLargeError):
            producer.send(topic_name, b"x" * 8000, partition=0).get(timeout=10)
        assert producer.send(topic_name, b"fits", partition=0).get(timeout=10).offset == 0
    finally:
        producer.close(timeout=5)


def test_log_append_time(broker: BrokerProcess, topic_name: str) -> None:
    create_topic(broker.bootstrap, topic_name, 2, {"message.timestamp.type": "LogAppendTime"})
    sends = workload(2, keyed=6, null_key=4, explicit=4, tag="lat")
    before = now_ms()
    acked = produce(broker.bootstrap, topic_name, sends)
    after = now_ms()
    for a in acked:  # RecordMetadata.timestamp is the log_append_time of the produce answer
        assert before - 5 <= a.timestamp <= after + 5, (before, a.timestamp, after)
    consumed = consume(broker.bootstrap, topic_name, range(2))
    check_log(sends, acked, consumed, timestamp_type=LOG_APPEND_TIME, append_window=(before - 5, after + 5))
    acked_ts = {(a.partition, a.offset): a.timestamp for a in acked}
    assert all(r.timestamp == acked_ts[(r.partition, r.offset)] for r in consumed)


def test_offsets_for_times_and_end_offsets(broker: BrokerProcess, topic_name: str) -> None:
    create_topic(broker.bootstrap, topic_name, 2)
    sends = offsets_for_times_sends(partition=0, n=10, step=1000)
    acked = produce(broker.bootstrap, topic_name, sends[:4]) + produce(broker.bootstrap, topic_name, sends[4:])
    assert [a.offset for a in acked] == list(range(10))
    tp0, tp1 = TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)
    c = consumer(broker.bootstrap)
    try:
        def lookup(ts: int, tp: TopicPartition = tp0) -> tuple[int, int] | None:
            found = c.offsets_for_times({tp: ts}, timeout_ms=TIMEOUT_MS)[tp]
            return None if found is None else (found.offset, found.timestamp)
        assert lookup(BASE_TS + 2500) == (3, BASE_TS + 3000)
        assert lookup(BASE_TS + 3000) == (3, BASE_TS + 3000)
        assert lookup(BASE_TS + 4001) == (5, BASE_TS + 5000)  # crosses into the second batch
        assert lookup(0) == (0, BASE_TS)
        assert lookup(BASE_TS + 9001) is None
        assert lookup(BASE_TS, tp1) is None
        assert c.beginning_offsets([tp0, tp1], timeout_ms=TIMEOUT_MS) == {tp0: 0, tp1: 0}
        assert c.end_offsets([tp0, tp1], timeout_ms=TIMEOUT_MS) == {tp0: 10, tp1: 0}
        # seek to a looked-up offset and read from there
        c.assign([tp0])
        found = lookup(BASE_TS + 6500)
        assert found is not None
        c.seek(tp0, found[0])
        got: list[Any] = []

        def three_polled() -> bool:
            got.extend(r for rs in c.poll(timeout_ms=200).values() for r in rs)
            return len(got) >= 3

        wait_until(three_polled, 10, message="records after seek")
        assert [(r.offset, r.value, r.timestamp) for r in got] == [(7, b"ts-7", BASE_TS + 7000), (8, b"ts-8", BASE_TS + 8000),
                                                                    (9, b"ts-9", BASE_TS + 9000)]
    finally:
        c.close()


def test_out_of_range_position_resets_to_earliest(broker: BrokerProcess, topic_name: str) -> None:
    create_topic(broker.bootstrap, topic_name, 1)
    produce(broker.bootstrap, topic_name, [Send(None, b"r%d" % i, (), BASE_TS + i, partition=0) for i in range(4)])
    tp = TopicPartition(topic_name, 0)
    c = consumer(broker.bootstrap, auto_offset_reset="earliest")
    try:
        c.assign([tp])
        c.seek(tp, 1000)  # past the end: the broker answers OFFSET_OUT_OF_RANGE, the client resets
        got: list[Any] = []

        def four_polled() -> bool:
            got.extend(r for rs in c.poll(timeout_ms=200).values() for r in rs)
            return len(got) >= 4

        wait_until(four_polled, 15, message="records after the reset")
        assert [(r.offset, r.value) for r in got] == [(i, b"r%d" % i) for i in range(4)]
    finally:
        c.close()

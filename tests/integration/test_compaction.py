"""Compaction end to end: a topic with cleanup.policy=compact, written and read by
confluent-kafka against a broker subprocess whose log cleaner runs every 200 ms."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from snakafka.testing.process import BrokerProcess

KEYS = [b"k%d" % i for i in range(8)]
DELETED = set(KEYS[:3])
ROUNDS = 4


def _consume_all(bootstrap: str, topic: str) -> list[tuple[int, bytes | None, bytes | None]]:
    """(offset, key, value) of every record from offset 0 to the end of partition 0."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"compaction-{uuid.uuid4().hex[:6]}",
                         "enable.auto.commit": False, "enable.partition.eof": True, "fetch.wait.max.ms": 100,
                         "socket.timeout.ms": 5000})
    out: list[tuple[int, bytes | None, bytes | None]] = []
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    return out
                raise AssertionError(f"consumer error: {error}")
            offset = msg.offset()
            assert offset is not None
            out.append((offset, msg.key(), msg.value()))
        raise AssertionError(f"no end of partition within 10 s ({len(out)} records read)")
    finally:
        consumer.close()


def _produce(producer: Any, topic: str, key: bytes, value: bytes | None) -> None:
    producer.produce(topic, key=key, value=value)
    producer.flush(10)  # one batch per record: many small batches, many segments


def test_compacted_topic_keeps_the_latest_value_of_each_key(tmp_path: Path) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    broker = BrokerProcess(tmp_path / "data", overrides={"log.cleaner.backoff.ms": "200"})
    with broker:
        topic = f"compacted-{uuid.uuid4().hex[:8]}"
        admin = AdminClient({"bootstrap.servers": broker.bootstrap, "socket.timeout.ms": 5000})
        config = {"cleanup.policy": "compact", "segment.bytes": "1024", "min.cleanable.dirty.ratio": "0.01",
                  "delete.retention.ms": "100"}
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1, config=config)],
                            operation_timeout=10, request_timeout=10)[topic].result(10)

        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "acks": "all",
                             "enable.idempotence": False, "message.timeout.ms": 15000})
        expected: dict[bytes, bytes] = {}
        for r in range(ROUNDS):
            for key in KEYS:
                value = b"%s-v%d" % (key, r)
                _produce(producer, topic, key, value)
                expected[key] = value
        for key in sorted(DELETED):
            _produce(producer, topic, key, None)
            del expected[key]
        for i in range(40):  # push everything above out of the active segment, which is never cleaned
            _produce(producer, topic, b"pad", b"pad-%d" % i)

        deadline = time.monotonic() + 20
        while True:
            records = _consume_all(broker.bootstrap, topic)
            watched = [(o, k, v) for o, k, v in records if k in KEYS]
            seen = {k: v for _, k, v in watched}
            if len(watched) == len(expected) and seen == expected:
                break
            assert time.monotonic() < deadline, (
                f"not compacted within 20 s: {len(watched)} records of watched keys, "
                f"{sum(v is None for _, _, v in watched)} tombstones, expected {len(expected)} live keys")
            time.sleep(0.3)

        offsets = [o for o, _, _ in records]
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
        assert all(v is not None for _, _, v in watched), "tombstones are gone after delete.retention.ms"
        assert [v for _, k, v in records if k == b"pad"][-1] == b"pad-39"


def test_compacted_topic_refuses_records_without_a_key(broker: BrokerProcess, topic_name: str) -> None:
    """As Kafka's LogValidator: INVALID_RECORD for the whole batch, with Kafka's message;
    keyed records and other topics are unaffected."""
    from confluent_kafka import KafkaError, Producer
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic_name, num_partitions=1, replication_factor=1,
                                  config={"cleanup.policy": "compact"})], operation_timeout=10)[topic_name].result(10)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "message.timeout.ms": 10000,
                         "retries": 0})
    reports: list[tuple[bytes | None, KafkaError | None]] = []
    for key in (b"k", None, b"j"):
        producer.produce(topic_name, key=key, value=b"v",
                         on_delivery=lambda err, msg: reports.append((msg.key(), err)))
        producer.flush(10)
    assert [(key, err.code() if err else None) for key, err in reports] == [
        (b"k", None), (None, KafkaError.INVALID_RECORD), (b"j", None)]
    assert [(o, k) for o, k, _ in _consume_all(broker.bootstrap, topic_name)] == [(0, b"k"), (1, b"j")]

"""Pipelined produce with a real client: librdkafka's idempotent producer with 5 requests
in flight per connection, acks=all, on replication factor 3 (min.insync.replicas=2). The
brokers append a connection's produce requests while earlier ones wait for the ISR, so
this checks what must not change: every acknowledged record is read back once, each
partition in send order, with no sequence error (an out-of-order append would fail the
producer with OUT_OF_ORDER_SEQUENCE_NUMBER)."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from cluster.test_cluster_brokers import consume_all
from snakafka.testing.cluster import LocalCluster

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

PARTITIONS = 3
PER_PARTITION = 4000


def test_an_idempotent_producer_with_five_requests_in_flight_keeps_order(cluster: LocalCluster) -> None:
    topic = "pipelined-idempotent"
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})  # kept: a collected client cancels its futures
    admin.create_topics([NewTopic(topic, PARTITIONS, 3, config={"min.insync.replicas": "2"})])[topic].result(20)
    errors: list[str] = []
    acked = 0

    def on_delivery(err: KafkaError | None, _msg: object) -> None:
        nonlocal acked
        if err is not None:
            errors.append(err.str())
        else:
            acked += 1

    producer = Producer({"bootstrap.servers": cluster.bootstrap, "enable.idempotence": True, "acks": "all",
                         "max.in.flight.requests.per.connection": 5, "linger.ms": 0, "batch.num.messages": 50,
                         "on_delivery": on_delivery})
    for seq in range(PER_PARTITION):
        for p in range(PARTITIONS):
            while True:
                try:
                    producer.produce(topic, f"{p}-{seq}".encode(), partition=p)
                    break
                except BufferError:
                    producer.poll(0.01)
        producer.poll(0)
    assert producer.flush(60) == 0
    assert not errors, errors[:3]
    assert acked == PARTITIONS * PER_PARTITION

    seen = consume_all(cluster.bootstrap, topic, PARTITIONS, PARTITIONS * PER_PARTITION)
    assert len(seen) == PARTITIONS * PER_PARTITION
    for p in range(PARTITIONS):
        values = [seen[(p, offset)] for offset in range(PER_PARTITION)]  # offsets 0.. with no gap
        assert values == [f"{p}-{seq}".encode() for seq in range(PER_PARTITION)]

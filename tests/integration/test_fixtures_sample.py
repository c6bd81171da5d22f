"""A sample of what a user's test module looks like with the pytest plugin's fixtures:
`snakafka_topic` (a fresh topic per test on the session's embedded broker) and
`snakafka_cluster` (three broker processes and a real ZooKeeper), each driven by the three
Python clients: confluent-kafka, kafka-python and aiokafka, every one producing with
acks=all and reading back through a consumer group."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from kafka import KafkaConsumer, KafkaProducer

from snakafka.server.broker import Broker
from snakafka.testing import EmbeddedBroker, LocalCluster

pytest_plugins = ["pytester"]

COUNT = 20
TIMEOUT_S = 60.0


def sent_values(tag: str) -> list[bytes]:
    return [f"{tag}-{i}".encode() for i in range(COUNT)]


def confluent_round_trip(bootstrap: str, topic: str) -> list[bytes]:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for value in sent_values("confluent"):
        producer.produce(topic, value)
    assert producer.flush(TIMEOUT_S) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got: list[bytes] = []
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while len(got) < COUNT and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                payload = message.value()
                assert payload is not None
                got.append(payload)
    finally:
        consumer.close()
    return got


def kafka_python_round_trip(bootstrap: str, topic: str) -> list[bytes]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=30000)
    try:
        for value in sent_values("kafka-python"):
            producer.send(topic, value).get(timeout=TIMEOUT_S)
    finally:
        producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"g-{uuid.uuid4().hex[:8]}",
                             auto_offset_reset="earliest", consumer_timeout_ms=int(TIMEOUT_S * 1000))
    got: list[bytes] = []
    try:
        for message in consumer:
            got.append(message.value)
            if len(got) == COUNT:
                break
    finally:
        consumer.close()
    return got


def aiokafka_round_trip(bootstrap: str, topic: str) -> list[bytes]:
    async def run() -> list[bytes]:
        async with AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all") as producer:
            for value in sent_values("aiokafka"):
                await producer.send_and_wait(topic, value)
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"g-{uuid.uuid4().hex[:8]}",
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            got: list[bytes] = []
            while len(got) < COUNT:
                message = await consumer.getone()
                assert message.value is not None
                got.append(message.value)
            return got
        finally:
            await consumer.stop()

    return asyncio.run(asyncio.wait_for(run(), TIMEOUT_S))


CLIENTS: dict[str, tuple[str, Callable[[str, str], list[bytes]]]] = {
    "confluent-kafka": ("confluent", confluent_round_trip),
    "kafka-python": ("kafka-python", kafka_python_round_trip),
    "aiokafka": ("aiokafka", aiokafka_round_trip),
}


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_each_client_on_a_fresh_topic(client: str, snakafka_bootstrap: str, snakafka_topic: str) -> None:
    tag, round_trip = CLIENTS[client]
    assert round_trip(snakafka_bootstrap, snakafka_topic) == sent_values(tag)


@pytest.mark.snakafka_topic(partitions=3, configs={"retention.ms": "3600000"})
def test_the_marker_shapes_the_topic(snakafka_broker: EmbeddedBroker, snakafka_topic: str) -> None:
    async def describe(broker: Broker) -> tuple[int, dict[str, str]]:
        info = broker.cache.topics[snakafka_topic]
        return len(info.partitions), dict(info.configs)

    assert snakafka_broker.call(describe) == (3, {"retention.ms": "3600000"})


def test_each_test_gets_its_own_topic_deleted_after_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_topics='''
        seen = []

        def topics(broker):
            async def names(b):
                return set(b.cache.topics)
            return broker.call(names)

        def test_one(snakafka_broker, snakafka_topic):
            seen.append(snakafka_topic)
            assert snakafka_topic in topics(snakafka_broker)

        def test_two(snakafka_broker, snakafka_topic):
            assert snakafka_topic != seen[0]
            assert seen[0] not in topics(snakafka_broker)
    ''')
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=2)


@pytest.mark.slow
@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_each_client_on_the_cluster(client: str, snakafka_cluster: LocalCluster) -> None:
    tag, round_trip = CLIENTS[client]
    topic = f"cluster-{client}-{uuid.uuid4().hex[:8]}"  # created on first use, 3 replicas
    assert round_trip(snakafka_cluster.bootstrap, topic) == sent_values(tag)
    metadata = AdminClient({"bootstrap.servers": snakafka_cluster.bootstrap}).list_topics(topic, timeout=10)
    assert len(metadata.brokers) == 3
    assert sorted(metadata.topics[topic].partitions[0].replicas) == [0, 1, 2]


def test_no_zookeeper_skips_the_cluster_with_the_reason(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("snakafka.testing.zookeeper.JAR", "/nonexistent/zookeeper.jar")
    pytester.makepyfile(test_cluster='''
        def test_needs_a_cluster(snakafka_cluster):
            raise AssertionError("ran without ZooKeeper")
    ''')
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*snakafka_cluster needs ZooKeeper: ZooKeeper is not installed*zookeeper*"])

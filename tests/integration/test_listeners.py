"""Several listeners (listeners / advertised.listeners / listener.security.protocol.map):
each is served, and a client is told the brokers' endpoints of the listener it came in
on, as Kafka does; so clients bootstrapped on either listener stay on it."""

from __future__ import annotations

import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from snakafka.testing.process import BrokerProcess, free_port

from .helpers import confluent_create_topic, wait_until


def test_two_listeners_each_advertise_their_own_endpoint(tmp_path: Path, topic_name: str) -> None:
    inside, outside = free_port(), free_port()
    broker = BrokerProcess(tmp_path / "data", port=inside, overrides={
        "listeners": f"PLAINTEXT://127.0.0.1:{inside},EXTERNAL://127.0.0.1:{outside}",
        # "localhost" tells the answers apart: a client told the other listener's
        # endpoint would connect to 127.0.0.1 with the wrong port
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{inside},EXTERNAL://localhost:{outside}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT",
        "group.initial.rebalance.delay.ms": "0",
    })
    with broker:
        external = f"localhost:{outside}"
        for bootstrap, endpoint in ((broker.bootstrap, ("127.0.0.1", inside)), (external, ("localhost", outside))):
            brokers = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).brokers
            assert [(b.id, b.host, b.port) for b in brokers.values()] == [(0, *endpoint)]

        confluent_create_topic(external, topic_name, 2)
        producer = Producer({"bootstrap.servers": external, "acks": "all"})
        for i in range(10):
            producer.produce(topic_name, value=b"%d" % i, partition=i % 2)
        assert producer.flush(15) == 0

        # a group through the other listener: FindCoordinator answers with its endpoint too
        consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"g-{uuid.uuid4().hex[:6]}",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        got: list[bytes] = []
        try:
            consumer.subscribe([topic_name])

            def read() -> bool:
                msg = consumer.poll(0.2)
                if msg is not None and msg.error() is None:
                    value = msg.value()
                    assert value is not None
                    got.append(value)
                return len(got) == 10

            wait_until(read, 30, message="all ten records through the PLAINTEXT listener")
            consumer.commit(asynchronous=False)
            committed = consumer.committed([TopicPartition(topic_name, p) for p in range(2)], timeout=10)
            assert sorted(tp.offset for tp in committed) == [5, 5]
        finally:
            consumer.close()
        assert sorted(got, key=int) == [b"%d" % i for i in range(10)]

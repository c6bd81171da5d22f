"""EmbeddedBroker (a broker on its own event loop in a thread of the test process) and the
pytest plugin's fixtures, with real clients: confluent-kafka from this thread, aiokafka
from the test's own asyncio loop while the broker runs on its loop in its thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from confluent_kafka import TopicPartition as ConfluentTopicPartition

from integration.helpers import (
    check_log,
    confluent_admin,
    confluent_consume,
    confluent_consumer,
    confluent_create_topic,
    confluent_produce,
    wait_until,
    workload,
)
from snakafka.config.broker import ConfigError
from snakafka.log.files import CLEAN_SHUTDOWN_FILE
from snakafka.testing import EmbeddedBroker, EmbeddedBrokerError

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module")
def embedded() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as broker:
        yield broker


def new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def broker_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("snakafka-embedded-")}


def values(bootstrap: str, topic: str, partitions: int = 1) -> list[bytes | None]:
    return [r.value for r in confluent_consume(bootstrap, topic, range(partitions), timeout=20)]


def test_round_trip_and_the_bound_port_is_advertised(embedded: EmbeddedBroker) -> None:
    # port 0: the OS chose the port at bind time, and Metadata advertises that one
    assert embedded.port > 0 and embedded.bootstrap == f"127.0.0.1:{embedded.port}"
    brokers = confluent_admin(embedded.bootstrap).list_topics(timeout=10).brokers
    assert [(b.id, b.host, b.port) for b in brokers.values()] == [(0, "127.0.0.1", embedded.port)]

    topic = new_name("rt")
    confluent_create_topic(embedded.bootstrap, topic, 3)
    sends = workload(3)
    acked = confluent_produce(embedded.bootstrap, topic, sends)
    check_log(sends, acked, confluent_consume(embedded.bootstrap, topic, range(3)))


def read_group(bootstrap: str, group: str, topic: str, count: int) -> tuple[list[bytes], Any]:
    """Subscribe as `group` and read `count` records; returns them and the open consumer."""
    consumer = confluent_consumer(bootstrap, {"group.id": group, "auto.offset.reset": "earliest",
                                              "enable.partition.eof": False, "enable.auto.offset.store": True})
    consumer.subscribe([topic])
    got: list[bytes] = []

    def read() -> bool:
        msg = consumer.poll(0.2)
        if msg is not None:
            assert msg.error() is None, msg.error()
            got.append(msg.value())
        return len(got) >= count

    try:
        wait_until(read, 30, interval=0, message=f"{count} records through group {group}")
    except BaseException:
        consumer.close()
        raise
    return got, consumer


def test_consumer_group_commits_and_a_new_member_resumes(embedded: EmbeddedBroker) -> None:
    topic, group = new_name("grp"), new_name("g")
    confluent_create_topic(embedded.bootstrap, topic, 1)
    confluent_produce(embedded.bootstrap, topic, workload(1, keyed=0, null_key=10, explicit=0, tag="first"))

    first, consumer = read_group(embedded.bootstrap, group, topic, 10)
    try:
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    assert len(first) == 10

    later = workload(1, keyed=0, null_key=5, explicit=0, tag="later")
    confluent_produce(embedded.bootstrap, topic, later)
    resumed, consumer = read_group(embedded.bootstrap, group, topic, 5)
    try:
        extra = consumer.poll(1.0)  # nothing past the five new records
        assert extra is None, extra.value()
        committed = consumer.committed([ConfluentTopicPartition(topic, 0)], timeout=10)
    finally:
        consumer.close()
    assert resumed == [s.value for s in later]
    assert [tp.offset for tp in committed] == [10]


def test_aiokafka_from_the_tests_own_event_loop(embedded: EmbeddedBroker) -> None:
    topic = new_name("aio")

    async def round_trip() -> list[tuple[bytes | None, bytes | None]]:
        producer = AIOKafkaProducer(bootstrap_servers=embedded.bootstrap, request_timeout_ms=10_000)
        await producer.start()
        try:
            for i in range(20):
                await producer.send(topic, key=b"k%d" % i, value=b"v%d" % i)
            await producer.flush()
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=embedded.bootstrap, auto_offset_reset="earliest",
                                    request_timeout_ms=10_000)
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, 0)])
            got: list[tuple[bytes | None, bytes | None]] = []
            while len(got) < 20:
                batches = await consumer.getmany(timeout_ms=500)
                got += [(m.key, m.value) for msgs in batches.values() for m in msgs]
            return got
        finally:
            await consumer.stop()

    async def bounded() -> list[tuple[bytes | None, bytes | None]]:
        return await asyncio.wait_for(round_trip(), 60)

    assert asyncio.run(bounded()) == [(b"k%d" % i, b"v%d" % i) for i in range(20)]


def test_two_embedded_brokers_at_once_are_independent() -> None:
    topic = new_name("two")
    with EmbeddedBroker() as a, EmbeddedBroker() as b:
        assert a.port != b.port and a.data_dir != b.data_dir
        assert len(broker_threads()) >= 2
        confluent_create_topic(a.bootstrap, topic, 1)
        confluent_produce(a.bootstrap, topic, workload(1, keyed=0, null_key=3, explicit=0, tag="a"))
        assert topic not in confluent_admin(b.bootstrap).list_topics(timeout=10).topics
        confluent_create_topic(b.bootstrap, topic, 1)
        confluent_produce(b.bootstrap, topic, workload(1, keyed=0, null_key=2, explicit=0, tag="b"))
        assert [v[:1] for v in values(a.bootstrap, topic) if v] == [b"a"] * 3
        assert [v[:1] for v in values(b.bootstrap, topic) if v] == [b"b"] * 2
        b.stop()
        assert len(values(a.bootstrap, topic)) == 3  # a serves on without b


def test_callers_data_dir_survives_stop_and_a_restart_sees_the_records(tmp_path: Path) -> None:
    data, topic = tmp_path / "data", new_name("restart")
    sends = workload(2, keyed=6, null_key=0, explicit=2, tag="before")
    with EmbeddedBroker(data) as first:
        confluent_create_topic(first.bootstrap, topic, 2)
        acked = confluent_produce(first.bootstrap, topic, sends)
        port = first.port
    assert (data / CLEAN_SHUTDOWN_FILE).exists() and (data / f"{topic}-0").is_dir()
    assert first.data_dir == data

    with EmbeddedBroker(data, port=port) as second:  # the same port is free again at once
        assert second.port == port
        check_log(sends, acked, confluent_consume(second.bootstrap, topic, range(2)))


def test_temporary_data_dir_is_removed_at_stop() -> None:
    broker = EmbeddedBroker().start()
    data = broker.data_dir
    assert data is not None and data.is_dir()
    broker.stop()
    assert not data.exists() and broker.data_dir is None


def test_bad_override_raises_one_line_and_leaves_no_thread() -> None:
    threads = set(threading.enumerate())
    broker = EmbeddedBroker(overrides={"num.partitions": "abc"})
    with pytest.raises(ConfigError) as info:
        broker.start()
    assert str(info.value) == "Invalid value abc for configuration num.partitions: Not a number of type INT"
    assert set(threading.enumerate()) == threads
    assert broker.data_dir is None  # its temporary directory is gone too
    broker.stop()  # harmless


def test_port_in_use_raises_one_line_and_leaves_no_thread(embedded: EmbeddedBroker) -> None:
    threads = set(threading.enumerate())
    broker = EmbeddedBroker(port=embedded.port)
    with pytest.raises(EmbeddedBrokerError) as info:
        broker.start(timeout=20)
    message = str(info.value)
    assert message.startswith("cannot start the broker: ") and "address already in use" in message
    assert "\n" not in message
    assert set(threading.enumerate()) == threads and broker.data_dir is None
    with socket.create_connection(("127.0.0.1", embedded.port), timeout=5):
        pass  # the running broker is untouched


def test_log_dir_of_another_broker_raises_and_a_later_start_recovers(tmp_path: Path) -> None:
    data, topic = tmp_path / "data", new_name("owned")
    with EmbeddedBroker(data) as owner:
        confluent_produce(owner.bootstrap, topic, workload(1, keyed=0, null_key=4, explicit=0))
    threads = set(threading.enumerate())
    with pytest.raises(EmbeddedBrokerError, match=r"^cannot start the broker: log dir .* belongs to broker.id=0, not 1$"):
        EmbeddedBroker(data, overrides={"broker.id": "1"}).start()
    assert set(threading.enumerate()) == threads
    with EmbeddedBroker(data) as again:
        assert len(values(again.bootstrap, topic)) == 4


def test_start_timeout_gives_up_the_start_and_leaves_no_thread() -> None:
    threads = set(threading.enumerate())
    broker = EmbeddedBroker()
    with pytest.raises(TimeoutError, match="did not start within 0s"):
        broker.start(timeout=0)  # the thread has barely begun: its start is cancelled
    assert set(threading.enumerate()) == threads and broker.data_dir is None
    broker.stop()


def test_stop_is_idempotent_and_a_stopped_broker_starts_again(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path / "data")
    broker.stop()  # never started
    with pytest.raises(EmbeddedBrokerError, match="not been started"):
        _ = broker.bootstrap
    threads = set(threading.enumerate())
    broker.start()
    with pytest.raises(EmbeddedBrokerError, match="already started"):
        broker.start()
    assert broker.running and len(set(threading.enumerate()) - threads) == 1
    broker.stop()
    broker.stop()
    assert not broker.running and set(threading.enumerate()) == threads
    with broker:  # the same object, again (a restart on the same data)
        assert confluent_admin(broker.bootstrap).list_topics(timeout=10).brokers
    broker.stop()
    assert set(threading.enumerate()) == threads


PLUGIN_TESTS = '''
import sys
import uuid

from confluent_kafka import Consumer, Producer


def test_plugin_import_is_light():
    # collected and run before any fixture: the broker's modules are not loaded yet
    assert "snakafka.testing.embedded" not in sys.modules
    assert "snakafka.server.broker" not in sys.modules


def test_produce_and_consume(snakafka_bootstrap):
    topic = f"plugin-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": snakafka_bootstrap})
    producer.produce(topic, b"hello")
    assert producer.flush(15) == 0
    consumer = Consumer({"bootstrap.servers": snakafka_bootstrap, "group.id": "plugin",
                         "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        for _ in range(150):
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                break
        assert msg is not None and msg.value() == b"hello"
    finally:
        consumer.close()


def test_the_session_shares_one_broker(snakafka_broker, snakafka_bootstrap):
    assert snakafka_bootstrap == snakafka_broker.bootstrap == f"127.0.0.1:{snakafka_broker.port}"
'''


def test_pytest_plugin_fixtures(pytester: pytest.Pytester) -> None:
    """The pytest11 entry point registers the fixtures in a fresh pytest process."""
    pytester.makepyfile(test_uses_snakafka=PLUGIN_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=180)
    result.assert_outcomes(passed=3)

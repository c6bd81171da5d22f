"""The transactional data path end to end, with real consumers.

Hand-built transactional batches (kafka-python's encoder) go over the wire in Produce
requests (BrokerConnection, kio); the end-of-transaction markers go through
ReplicaManager.write_txn_markers inside an embedded broker (the path the transaction
coordinator's WriteTxnMarkers uses). Then confluent-kafka (librdkafka) and kafka-python
consumers read in read_committed (committed records only, nothing at or past the last
stable offset, aborted records skipped thanks to the fetch's aborted-transaction list)
and read_uncommitted (everything). ListOffsets read_committed answers the LSO. An open
transaction survives a clean restart and a kill -9 (recovery rebuilds it): consumers
stay blocked at its first offset until its marker arrives.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from kio.schema.errors import ErrorCode
from kio.schema.produce.v9 import request as produce_v9
from kio.schema.types import TopicName, TransactionalId
from kio.static.primitive import Records, i16, i32, i32Timedelta
from support.txn_batches import marker, plain_batch, txn_batch

from integration.helpers import (
    confluent_consume,
    confluent_consumer,
    confluent_create_topic,
)
from snakafka.client.connection import BrokerConnection
from snakafka.protocol.control import TxnMarker
from snakafka.server.broker import Broker
from snakafka.testing.embedded import EmbeddedBroker
from snakafka.testing.process import BrokerProcess

READ_COMMITTED = {"isolation.level": "read_committed"}
READ_UNCOMMITTED = {"isolation.level": "read_uncommitted"}


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(tmp_path_factory.mktemp("txn-data") / "data")
    broker.start()
    yield broker
    broker.stop()


def produce(bootstrap: str, topic: str, data: bytes, *, partition: int = 0) -> tuple[ErrorCode, int]:
    """One Produce v9 (acks=-1) of `data`: (error, base offset)."""
    host, port = bootstrap.rsplit(":", 1)
    request = produce_v9.ProduceRequest(
        transactional_id=TransactionalId("txn-data-path"), acks=i16(-1),
        timeout=i32Timedelta.parse(datetime.timedelta(seconds=10)),
        topic_data=(produce_v9.TopicProduceData(name=TopicName(topic), partition_data=(
            produce_v9.PartitionProduceData(index=i32(partition), records=Records(data)),)),),
    )

    async def send() -> Any:
        async with BrokerConnection(host, int(port), client_id="txn-data-path") as conn:
            return await conn.send(request, timeout=10)

    response = asyncio.run(asyncio.wait_for(send(), 20))
    answer = response.responses[0].partition_responses[0]
    return answer.error_code, int(answer.base_offset)


def end_txn(broker: EmbeddedBroker, topic: str, txn: TxnMarker, partitions: int = 1) -> dict[tuple[str, int], ErrorCode]:
    async def write(b: Broker) -> dict[tuple[str, int], ErrorCode]:
        return await b.replica_manager.write_txn_markers(txn, [(topic, p) for p in range(partitions)], 5_000)
    return broker.call(write)


def values(bootstrap: str, topic: str, conf: dict[str, str]) -> list[bytes | None]:
    return [r.value for r in confluent_consume(bootstrap, topic, [0], conf=conf, timeout=20)]


def watermarks(bootstrap: str, topic: str, conf: dict[str, str]) -> tuple[int, int]:
    """librdkafka's ListOffsets (earliest, latest) at the consumer's isolation level."""
    consumer = confluent_consumer(bootstrap, conf)
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return int(low), int(high)
    finally:
        consumer.close()


def kafka_python_values(bootstrap: str, topic: str, isolation: str, expected: int) -> list[bytes]:
    """kafka-python's consumer (its own protocol code, not librdkafka): every value it
    returns within a few seconds after reaching `expected` records."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation, enable_auto_commit=False,
                             consumer_timeout_ms=1_500, request_timeout_ms=10_000, fetch_max_wait_ms=100)
    try:
        consumer.assign([KTopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        out: list[bytes] = []
        deadline = time.monotonic() + 20
        while len(out) < expected and time.monotonic() < deadline:
            out += [m.value for m in consumer]
        out += [m.value for m in consumer]  # and nothing more arrives
        return out
    finally:
        consumer.close()


def write_scenario(bootstrap: str, topic: str) -> None:
    """0 p0 | 1-2 A: a1 a2 | 3 B: b1 | 4 A: a3 | 5 COMMIT A | 6 ABORT B | 7 p1 | 8 C: c1 (open) | 9 p2"""
    assert produce(bootstrap, topic, plain_batch([b"p0"])) == (ErrorCode.none, 0)
    assert produce(bootstrap, topic, txn_batch(1000, 0, [b"a1", b"a2"])) == (ErrorCode.none, 1)
    assert produce(bootstrap, topic, txn_batch(1001, 0, [b"b1"])) == (ErrorCode.none, 3)
    assert produce(bootstrap, topic, txn_batch(1000, 2, [b"a3"])) == (ErrorCode.none, 4)


def test_read_committed_sees_only_committed_records(embedded: EmbeddedBroker) -> None:
    bootstrap, topic = embedded.bootstrap, "txn-data-committed"
    confluent_create_topic(bootstrap, topic)
    write_scenario(bootstrap, topic)
    assert values(bootstrap, topic, READ_COMMITTED) == [b"p0"], "blocked at the first open transaction"
    assert watermarks(bootstrap, topic, READ_COMMITTED) == (0, 1)
    assert end_txn(embedded, topic, TxnMarker(1000, 0, 0, commit=True)) == {(topic, 0): ErrorCode.none}
    assert end_txn(embedded, topic, TxnMarker(1001, 0, 0, commit=False)) == {(topic, 0): ErrorCode.none}
    assert produce(bootstrap, topic, plain_batch([b"p1"])) == (ErrorCode.none, 7)
    assert produce(bootstrap, topic, txn_batch(1002, 0, [b"c1"])) == (ErrorCode.none, 8)
    assert produce(bootstrap, topic, plain_batch([b"p2"])) == (ErrorCode.none, 9)

    committed = [b"p0", b"a1", b"a2", b"a3", b"p1"]
    assert values(bootstrap, topic, READ_COMMITTED) == committed, "aborted b1 skipped, nothing past the LSO (8)"
    assert watermarks(bootstrap, topic, READ_COMMITTED) == (0, 8)
    assert watermarks(bootstrap, topic, READ_UNCOMMITTED) == (0, 10)
    everything = [b"p0", b"a1", b"a2", b"b1", b"a3", b"p1", b"c1", b"p2"]
    assert values(bootstrap, topic, READ_UNCOMMITTED) == everything
    assert kafka_python_values(bootstrap, topic, "read_committed", len(committed)) == committed
    assert kafka_python_values(bootstrap, topic, "read_uncommitted", len(everything)) == everything

    assert end_txn(embedded, topic, TxnMarker(1002, 0, 0, commit=True)) == {(topic, 0): ErrorCode.none}
    assert values(bootstrap, topic, READ_COMMITTED) == [*committed, b"c1", b"p2"]
    assert watermarks(bootstrap, topic, READ_COMMITTED) == (0, 11)


def test_a_waiting_read_committed_consumer_wakes_on_the_marker(embedded: EmbeddedBroker) -> None:
    bootstrap, topic = embedded.bootstrap, "txn-data-wakeup"
    confluent_create_topic(bootstrap, topic)
    produce(bootstrap, topic, txn_batch(2000, 0, [b"x"]))
    consumer = confluent_consumer(bootstrap, {**READ_COMMITTED, "fetch.wait.max.ms": 5_000, "enable.partition.eof": False})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        assert consumer.poll(1.0) is None
        end_txn(embedded, topic, TxnMarker(2000, 0, 0, commit=True))
        started = time.monotonic()
        msg = None
        while msg is None and time.monotonic() - started < 10:
            msg = consumer.poll(0.5)
        assert msg is not None and msg.error() is None and msg.value() == b"x"
        assert time.monotonic() - started < 4, "the long poll was woken, not timed out"
    finally:
        consumer.close()


def test_markers_are_fenced_and_clients_cannot_write_them(embedded: EmbeddedBroker) -> None:
    bootstrap, topic = embedded.bootstrap, "txn-data-fencing"
    confluent_create_topic(bootstrap, topic)
    produce(bootstrap, topic, txn_batch(3000, 0, [b"x"], epoch=5))
    error, _ = produce(bootstrap, topic, marker(3000, commit=True, epoch=5))
    assert error == ErrorCode.invalid_record, "a client may not write control batches"
    assert end_txn(embedded, topic, TxnMarker(3000, 4, 0, commit=True)) == {(topic, 0): ErrorCode.invalid_producer_epoch}
    assert end_txn(embedded, topic, TxnMarker(3000, 5, 0, commit=True), partitions=2) == {
        (topic, 0): ErrorCode.none, (topic, 1): ErrorCode.unknown_topic_or_partition}
    assert values(bootstrap, topic, READ_COMMITTED) == [b"x"]


def _restart_scenario(bootstrap: str, topic: str) -> None:
    confluent_create_topic(bootstrap, topic)
    assert produce(bootstrap, topic, plain_batch([b"before"])) == (ErrorCode.none, 0)
    assert produce(bootstrap, topic, txn_batch(4000, 0, [b"t1"])) == (ErrorCode.none, 1)
    assert produce(bootstrap, topic, plain_batch([b"after"])) == (ErrorCode.none, 2)


def _check_blocked_then_commit(broker: EmbeddedBroker, topic: str) -> None:
    bootstrap = broker.bootstrap
    assert values(bootstrap, topic, READ_COMMITTED) == [b"before"]
    assert watermarks(bootstrap, topic, READ_COMMITTED) == (0, 1)
    assert values(bootstrap, topic, READ_UNCOMMITTED) == [b"before", b"t1", b"after"]
    assert end_txn(broker, topic, TxnMarker(4000, 0, 0, commit=True)) == {(topic, 0): ErrorCode.none}
    assert values(bootstrap, topic, READ_COMMITTED) == [b"before", b"t1", b"after"]


def test_an_open_transaction_survives_a_clean_restart(tmp_path: Path) -> None:
    topic = "txn-data-restart"
    with EmbeddedBroker(tmp_path / "data") as first:
        _restart_scenario(first.bootstrap, topic)
    with EmbeddedBroker(tmp_path / "data") as second:
        _check_blocked_then_commit(second, topic)


def test_an_open_transaction_survives_kill_9(tmp_path: Path) -> None:
    """The broker process is killed: the next start recovers the log and rebuilds the
    open transaction from the batches."""
    topic = "txn-data-kill"
    proc = BrokerProcess(tmp_path / "data", overrides={"group.initial.rebalance.delay.ms": "0"})
    proc.start()
    try:
        _restart_scenario(proc.bootstrap, topic)
    finally:
        proc.kill()
    with EmbeddedBroker(tmp_path / "data") as second:
        _check_blocked_then_commit(second, topic)

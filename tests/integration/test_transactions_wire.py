"""The transaction APIs on the wire (kio requests at chosen versions, BrokerConnection):
FindCoordinator of a transactional id, the error codes Kafka returns for fenced, unknown
and mismatched producers, and transaction state that survives a broker restart (reloaded
from __transaction_state): an open transaction is aborted by the next instance, a
committed one stays committed, and epochs keep growing.
"""

from __future__ import annotations

import asyncio
import datetime
import importlib
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest
from confluent_kafka import KafkaError
from kio.schema.errors import ErrorCode
from kio.static.primitive import i8, i16, i32, i32Timedelta, i64

from integration.group_wire import TRANSACTION_KEY
from integration.helpers import confluent_consume, confluent_create_topic
from snakafka.client.connection import BrokerConnection
from snakafka.testing.process import BrokerProcess

REQUEST_TIMEOUT = 10.0
T = TypeVar("T")


def schema(api: str, version: int) -> ModuleType:
    return importlib.import_module(f"kio.schema.{api}.v{version}.request")


def run(scenario: Callable[[], Awaitable[T]], timeout: float = 60.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), timeout)
    return asyncio.run(bounded())


async def coordinator(bootstrap: str, transactional_id: str) -> BrokerConnection:
    """A connection to the transactional id's coordinator, once it has loaded the id's
    partition of __transaction_state (created by the first FindCoordinator)."""
    host, port = bootstrap.rsplit(":", 1)
    deadline = asyncio.get_running_loop().time() + 30
    async with BrokerConnection(host, int(port)) as conn:
        while True:
            found = await conn.send(schema("find_coordinator", 3).FindCoordinatorRequest(
                key=transactional_id, key_type=i8(TRANSACTION_KEY)), REQUEST_TIMEOUT)
            if found.error_code == ErrorCode.none:
                break
            assert asyncio.get_running_loop().time() < deadline, found
            await asyncio.sleep(0.1)
    return await BrokerConnection(found.host, int(found.port)).connect()


async def init_producer_id(bootstrap: str, transactional_id: str, timeout_ms: int = 60000, version: int = 4,
                           expected: tuple[int, int] | None = None) -> Any:
    """InitProducerId, retried while the coordinator is loading or finishing a fence."""
    conn = await coordinator(bootstrap, transactional_id)
    try:
        fields: dict[str, Any] = {"transactional_id": transactional_id,
                                  "transaction_timeout": i32Timedelta.parse(datetime.timedelta(milliseconds=timeout_ms))}
        if expected is not None:
            fields.update(producer_id=i64(expected[0]), producer_epoch=i16(expected[1]))
        for _ in range(100):
            resp = await conn.send(schema("init_producer_id", version).InitProducerIdRequest(**fields), REQUEST_TIMEOUT)
            if resp.error_code not in (ErrorCode.concurrent_transactions, ErrorCode.coordinator_load_in_progress):
                return resp
            await asyncio.sleep(0.1)
        return resp
    finally:
        await conn.close()


async def add_partitions(bootstrap: str, transactional_id: str, producer_id: int, epoch: int, topic: str,
                         version: int = 3) -> int:
    m = schema("add_partitions_to_txn", version)
    conn = await coordinator(bootstrap, transactional_id)
    try:
        resp = await conn.send(m.AddPartitionsToTxnRequest(
            v3_and_below_transactional_id=transactional_id, v3_and_below_producer_id=i64(producer_id),
            v3_and_below_producer_epoch=i16(epoch),
            v3_and_below_topics=(m.AddPartitionsToTxnTopic(name=topic, partitions=(i32(0),)),)), REQUEST_TIMEOUT)
    finally:
        await conn.close()
    codes = {int(p.partition_error_code) for t in resp.results_by_topic_v3_and_below for p in t.results_by_partition}
    assert len(codes) == 1, resp
    return codes.pop()


async def end_txn(bootstrap: str, transactional_id: str, producer_id: int, epoch: int, *, commit: bool,
                  version: int = 3) -> int:
    conn = await coordinator(bootstrap, transactional_id)
    try:
        resp = await conn.send(schema("end_txn", version).EndTxnRequest(
            transactional_id=transactional_id, producer_id=i64(producer_id), producer_epoch=i16(epoch),
            committed=commit), REQUEST_TIMEOUT)
    finally:
        await conn.close()
    return int(resp.error_code)


def test_find_coordinator_of_a_transactional_id(broker: BrokerProcess) -> None:
    tid = f"tw-{uuid.uuid4().hex[:8]}"

    async def scenario() -> tuple[Any, Any]:
        conn = await coordinator(broker.bootstrap, tid)
        await conn.close()
        host, port = broker.bootstrap.rsplit(":", 1)
        async with BrokerConnection(host, int(port)) as c:
            batched = await c.send(schema("find_coordinator", 4).FindCoordinatorRequest(
                key_type=i8(TRANSACTION_KEY), coordinator_keys=(tid, tid + "-2")), REQUEST_TIMEOUT)
            single = await c.send(schema("find_coordinator", 1).FindCoordinatorRequest(
                key=tid, key_type=i8(TRANSACTION_KEY)), REQUEST_TIMEOUT)
        return batched, single

    batched, single = run(scenario)
    assert [(c.key, c.error_code, c.node_id, c.port) for c in batched.coordinators] == [
        (tid, ErrorCode.none, 0, broker.port), (tid + "-2", ErrorCode.none, 0, broker.port)]
    assert (single.error_code, single.node_id, single.port) == (ErrorCode.none, 0, broker.port)


def test_error_codes_of_fenced_and_unknown_producers(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 1)
    tid = f"tw-{topic_name}"
    bs = broker.bootstrap

    async def scenario() -> None:
        first = await init_producer_id(bs, tid)
        assert (first.error_code, first.producer_epoch) == (ErrorCode.none, 0)
        assert await add_partitions(bs, tid, first.producer_id, 0, topic_name) == 0
        # a second InitProducerId aborts the open transaction at a bumped epoch, then bumps again
        second = await init_producer_id(bs, tid)
        assert second.error_code == ErrorCode.none
        assert second.producer_id == first.producer_id and second.producer_epoch == 2
        assert await end_txn(bs, tid, first.producer_id, 0, commit=True) == KafkaError.PRODUCER_FENCED
        assert await end_txn(bs, tid, first.producer_id, 0, commit=True, version=1) == KafkaError.INVALID_PRODUCER_EPOCH
        assert await add_partitions(bs, tid, first.producer_id, 0, topic_name, version=1) \
            == KafkaError.INVALID_PRODUCER_EPOCH
        assert await end_txn(bs, tid, first.producer_id + 1000, 2, commit=True) == KafkaError.INVALID_PRODUCER_ID_MAPPING
        assert await end_txn(bs, tid, second.producer_id, 2, commit=True) == KafkaError.INVALID_TXN_STATE  # none open
        assert await end_txn(bs, f"never-{tid}", 1, 0, commit=True) == KafkaError.INVALID_PRODUCER_ID_MAPPING
        too_long = await init_producer_id(bs, tid, timeout_ms=900001)
        assert too_long.error_code == KafkaError.INVALID_TRANSACTION_TIMEOUT
        # KIP-360: a producer that knows its id and epoch re-initialises; a stale one is fenced
        again = await init_producer_id(bs, tid, expected=(second.producer_id, 2))
        assert (again.error_code, again.producer_epoch) == (ErrorCode.none, 3)
        stale = await init_producer_id(bs, tid, expected=(second.producer_id, 0))
        assert stale.error_code == KafkaError.PRODUCER_FENCED
        old_client = await init_producer_id(bs, tid, expected=(second.producer_id, 0), version=3)
        assert old_client.error_code == KafkaError.INVALID_PRODUCER_EPOCH
        # a retried commit of a committed transaction succeeds; an abort of it is refused
        assert await add_partitions(bs, tid, again.producer_id, 3, topic_name) == 0
        assert await end_txn(bs, tid, again.producer_id, 3, commit=True) == 0
        for _ in range(50):
            code = await end_txn(bs, tid, again.producer_id, 3, commit=True)
            if code != KafkaError.CONCURRENT_TRANSACTIONS:
                break
            await asyncio.sleep(0.1)
        assert code == 0
        assert await end_txn(bs, tid, again.producer_id, 3, commit=False) == KafkaError.INVALID_TXN_STATE

    run(scenario)


def _restart(b: BrokerProcess) -> None:
    b.stop()
    b.start()


def test_restart_with_an_open_transaction(tmp_path: Path, topic_name: str) -> None:
    """The transaction's state (Ongoing, its partition) is reloaded from
    __transaction_state: the next instance aborts it, read_committed then reads past it."""
    from confluent_kafka import Producer

    b = BrokerProcess(tmp_path / "data", overrides={"group.initial.rebalance.delay.ms": "0"})
    b.start()
    try:
        confluent_create_topic(b.bootstrap, topic_name, 1)
        tid = f"tr-{topic_name}"
        p = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": tid})
        p.init_transactions(30)
        p.begin_transaction()
        p.produce(topic_name, value=b"open")
        p.flush(30)
        first = run(lambda: init_producer_id(b.bootstrap, f"other-{tid}"))  # an unrelated id, for contrast
        assert first.error_code == ErrorCode.none
        del p  # the producer process "dies" with its transaction open
        _restart(b)
        after = run(lambda: init_producer_id(b.bootstrap, tid))
        assert after.error_code == ErrorCode.none
        assert after.producer_epoch == 2, "reloaded at epoch 0, fenced to 1 by the abort, then bumped to 2"
        committed = confluent_consume(b.bootstrap, topic_name, [0], conf={"isolation.level": "read_committed"})
        assert committed == []
        uncommitted = confluent_consume(b.bootstrap, topic_name, [0], conf={"isolation.level": "read_uncommitted"})
        assert [r.value for r in uncommitted] == [b"open"]
    finally:
        b.stop()


def test_restart_after_a_commit(tmp_path: Path, topic_name: str) -> None:
    from confluent_kafka import Producer

    b = BrokerProcess(tmp_path / "data", overrides={"group.initial.rebalance.delay.ms": "0"})
    b.start()
    try:
        confluent_create_topic(b.bootstrap, topic_name, 1)
        tid = f"tr-{topic_name}"
        p = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": tid})
        p.init_transactions(30)
        p.begin_transaction()
        p.produce(topic_name, value=b"kept")
        p.commit_transaction(30)
        p.flush(10)
        del p
        _restart(b)
        committed = confluent_consume(b.bootstrap, topic_name, [0], conf={"isolation.level": "read_committed"})
        assert [r.value for r in committed] == [b"kept"]
        after = run(lambda: init_producer_id(b.bootstrap, tid))
        assert (after.error_code, after.producer_epoch) == (ErrorCode.none, 1)
        p2 = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": tid})
        p2.init_transactions(30)
        p2.begin_transaction()
        p2.produce(topic_name, value=b"next")
        p2.commit_transaction(30)
        committed = confluent_consume(b.bootstrap, topic_name, [0], conf={"isolation.level": "read_committed"})
        assert [r.value for r in committed] == [b"kept", b"next"]
    finally:
        b.stop()


def test_describe_and_list_transactions(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 1)
    tid = f"td-{topic_name}"
    bs = broker.bootstrap

    async def scenario() -> tuple[Any, Any, Any, Any]:
        first = await init_producer_id(bs, tid, timeout_ms=45000)
        assert await add_partitions(bs, tid, first.producer_id, 0, topic_name) == 0
        conn = await coordinator(bs, tid)
        try:
            described = await conn.send(schema("describe_transactions", 0).DescribeTransactionsRequest(
                transactional_ids=(tid, f"missing-{tid}")), REQUEST_TIMEOUT)
            listed = await conn.send(schema("list_transactions", 1).ListTransactionsRequest(
                state_filters=("Ongoing", "NoSuchState"), producer_id_filters=(i64(first.producer_id),),
                duration_filter=i64(0)), REQUEST_TIMEOUT)
            none_long = await conn.send(schema("list_transactions", 1).ListTransactionsRequest(
                state_filters=(), producer_id_filters=(i64(first.producer_id),),
                duration_filter=i64(3_600_000)), REQUEST_TIMEOUT)
        finally:
            await conn.close()
        return first, described, listed, none_long

    first, described, listed, none_long = run(scenario)
    found, missing = described.transaction_states
    assert (found.error_code, found.transaction_state, found.producer_id, found.producer_epoch) == (
        ErrorCode.none, "Ongoing", first.producer_id, 0)
    assert found.transaction_timeout == datetime.timedelta(seconds=45)
    assert [(t.topic, list(t.partitions)) for t in found.topics] == [(topic_name, [0])]
    assert missing.error_code == ErrorCode.transactional_id_not_found
    assert listed.error_code == ErrorCode.none and list(listed.unknown_state_filters) == ["NoSuchState"]
    assert [(s.transactional_id, s.producer_id, s.transaction_state) for s in listed.transaction_states] == [
        (tid, first.producer_id, "Ongoing")]
    assert list(none_long.transaction_states) == []


def test_restart_reloads_transactional_offsets(tmp_path: Path, topic_name: str) -> None:
    """__consumer_offsets is reloaded honouring the markers: offsets of a committed
    transaction are the group's, those of a transaction still open at the restart stay
    pending (a read_committed consumer's OffsetFetch waits) until the next instance
    aborts it, and are then dropped."""
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

    b = BrokerProcess(tmp_path / "data", overrides={"group.initial.rebalance.delay.ms": "0"})
    b.start()
    group, tid = f"g-{topic_name}", f"tr-{topic_name}"

    def committed(isolation: str, timeout: float = 10) -> int:
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "isolation.level": isolation})
        try:
            return int(c.committed([TopicPartition(topic_name, 0)], timeout=timeout)[0].offset)
        finally:
            c.close()

    def metadata() -> object:
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group})
        try:
            return c.consumer_group_metadata()
        finally:
            c.close()

    try:
        confluent_create_topic(b.bootstrap, topic_name, 1)
        p = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": tid})
        p.init_transactions(30)
        p.begin_transaction()
        p.produce(topic_name, value=b"x")
        p.send_offsets_to_transaction([TopicPartition(topic_name, 0, 3)], metadata(), 30)
        p.commit_transaction(30)
        p.begin_transaction()
        p.produce(topic_name, value=b"y")
        p.send_offsets_to_transaction([TopicPartition(topic_name, 0, 8)], metadata(), 30)
        p.flush(30)
        del p  # dies with the second transaction open
        _restart(b)
        assert committed("read_uncommitted") == 3
        with pytest.raises(KafkaException, match="Timed out"):  # pending: UNSTABLE_OFFSET_COMMIT, retried
            committed("read_committed", timeout=2)
        p2 = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": tid})
        p2.init_transactions(30)  # aborts the open transaction: its offsets are dropped
        assert committed("read_committed") == 3
    finally:
        b.stop()

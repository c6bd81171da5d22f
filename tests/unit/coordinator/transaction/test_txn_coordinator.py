"""TransactionCoordinator over an in-memory __transaction_state and marker writer, with
a ManualClock: writes before answers, markers then Complete*, reload after a "restart"
(a new coordinator over the same records), timeouts and expiry."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Iterable

from snakafka.clock import ManualClock
from snakafka.coordinator.transaction import TransactionCoordinator, TxnConfig, TxnState
from snakafka.coordinator.transaction.schema import decode_key, decode_value
from snakafka.protocol.control import TxnMarker
from snakafka.protocol.errors import ErrorCode, KafkaError

E = ErrorCode
Record = tuple[bytes, bytes | None]
TP = ("t", 0)


class MemoryTxnLog:
    def __init__(self) -> None:
        self.records: dict[int, list[Record]] = defaultdict(list)
        self.fail: ErrorCode | None = None

    async def append(self, partition: int, records: list[Record]) -> None:
        if self.fail is not None:
            raise KafkaError(self.fail)
        self.records[partition].extend(records)
        await asyncio.sleep(0)

    def read(self, partition: int) -> Iterable[Record]:
        return list(self.records[partition])

    def states(self, partition: int) -> list[TxnState]:
        out = []
        for k, v in self.records[partition]:
            decode_key(k)
            value = decode_value(v)
            assert value is not None
            out.append(value.state)
        return out


class RecordingMarkers:
    """The MarkerWriter interface: records markers; `failures` partitions fail that many times."""

    def __init__(self) -> None:
        self.written: list[tuple[TxnMarker, tuple[str, int]]] = []
        self.failures: dict[tuple[str, int], int] = {}

    async def write_markers(self, marker: TxnMarker, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], ErrorCode]:
        out = {}
        for tp in partitions:
            if self.failures.get(tp, 0) > 0:
                self.failures[tp] -= 1
                out[tp] = E.not_leader_or_follower
            else:
                self.written.append((marker, tp))
                out[tp] = E.none
        await asyncio.sleep(0)
        return out


def make(log: MemoryTxnLog | None = None, clock: ManualClock | None = None,
         markers: RecordingMarkers | None = None) -> tuple[TransactionCoordinator, MemoryTxnLog, RecordingMarkers]:
    log = log or MemoryTxnLog()
    markers = markers or RecordingMarkers()
    ids = itertools.count(1000)

    async def new_id() -> int:
        return next(ids)

    config = TxnConfig(num_partitions=1, marker_retry_backoff_ms=1)
    return TransactionCoordinator(config, log, markers, new_id, clock or ManualClock()), log, markers


def test_commit_writes_prepare_markers_complete() -> None:
    async def scenario() -> None:
        c, log, markers = make()
        assert (await c.init_producer_id("tx", 1000)).error is E.not_coordinator
        await c.load_partition(0, coordinator_epoch=3)
        r = await c.init_producer_id("tx", 1000)
        assert (r.error, r.producer_id, r.producer_epoch) == (E.none, 1000, 0)
        assert await c.add_partitions("tx", 1000, 0, [TP, ("t", 1)]) is E.none
        assert await c.end_txn("tx", 1000, 0, True) is E.none
        await c.settle()
        assert sorted(tp for _, tp in markers.written) == [("t", 0), ("t", 1)]
        assert {m for m, _ in markers.written} == {TxnMarker(1000, 0, 3, True)}
        assert log.states(0) == [TxnState.EMPTY, TxnState.ONGOING, TxnState.PREPARE_COMMIT, TxnState.COMPLETE_COMMIT]
        await c.close()

    asyncio.run(scenario())


def test_failed_write_changes_nothing() -> None:
    async def scenario() -> None:
        c, log, _ = make()
        await c.load_partition(0, 0)
        await c.init_producer_id("tx", 1000)
        log.fail = E.not_enough_replicas
        assert await c.add_partitions("tx", 1000, 0, [TP]) is E.coordinator_not_available
        log.fail = E.not_leader_or_follower
        assert await c.add_partitions("tx", 1000, 0, [TP]) is E.not_coordinator
        log.fail = None
        assert c.transactions()[0].state is TxnState.EMPTY
        assert await c.end_txn("tx", 1000, 0, True) is E.invalid_txn_state
        await c.close()

    asyncio.run(scenario())


def test_markers_are_retried_and_the_state_survives_a_restart() -> None:
    async def scenario() -> None:
        markers = RecordingMarkers()
        markers.failures[TP] = 10**9  # the partition's leader is unreachable for now
        c, log, _ = make(markers=markers)
        await c.load_partition(0, 0)
        await c.init_producer_id("tx", 1000)
        await c.add_partitions("tx", 1000, 0, [TP])
        assert await c.end_txn("tx", 1000, 0, False) is E.none  # answered once PrepareAbort is durable
        await asyncio.sleep(0.05)
        assert c.transactions()[0].state is TxnState.PREPARE_ABORT
        assert await c.add_partitions("tx", 1000, 0, [TP]) is E.concurrent_transactions
        await c.close()  # the broker stops with the markers unwritten
        markers.failures.clear()
        c2, _, markers2 = make(log=log)
        await c2.load_partition(0, 1)  # the new coordinator finishes the abort
        await c2.settle()
        assert markers2.written == [(TxnMarker(1000, 0, 1, False), TP)]
        assert c2.transactions()[0].state is TxnState.COMPLETE_ABORT
        r = await c2.init_producer_id("tx", 1000)
        assert (r.producer_id, r.producer_epoch) == (1000, 1)
        await c2.close()

    asyncio.run(scenario())


def test_new_instance_fences_an_open_transaction() -> None:
    async def scenario() -> None:
        c, _, markers = make()
        await c.load_partition(0, 0)
        await c.init_producer_id("tx", 1000)
        await c.add_partitions("tx", 1000, 0, [TP])
        assert (await c.init_producer_id("tx", 1000)).error is E.concurrent_transactions
        await c.settle()
        assert markers.written == [(TxnMarker(1000, 1, 0, False), TP)]
        r = await c.init_producer_id("tx", 1000)
        assert (r.error, r.producer_epoch) == (E.none, 2)
        assert await c.end_txn("tx", 1000, 0, True) is E.producer_fenced
        await c.close()

    asyncio.run(scenario())


def test_timed_out_transaction_is_aborted_and_its_producer_fenced() -> None:
    async def scenario() -> None:
        clock = ManualClock()
        c, _, markers = make(clock=clock)
        await c.load_partition(0, 0)
        await c.init_producer_id("tx", 500)
        await c.add_partitions("tx", 1000, 0, [TP])
        clock.advance(500)
        assert await c.abort_timed_out() == 0
        clock.advance(1)
        assert await c.abort_timed_out() == 1
        await c.settle()
        assert markers.written == [(TxnMarker(1000, 1, 0, False), TP)]
        assert c.transactions()[0].state is TxnState.COMPLETE_ABORT
        assert await c.add_partitions("tx", 1000, 0, [TP]) is E.producer_fenced
        await c.close()

    asyncio.run(scenario())


def test_idle_transactional_ids_expire() -> None:
    async def scenario() -> None:
        clock = ManualClock()
        c, log, _ = make(clock=clock)
        await c.load_partition(0, 0)
        await c.init_producer_id("tx", 500)
        clock.advance(c.config.id_expiration_ms)
        assert await c.expire_transactional_ids() == 1
        assert c.transactions() == [] and log.records[0][-1][1] is None  # a tombstone
        c2, _, _ = make(log=log)
        await c2.load_partition(0, 0)
        assert c2.transactions() == []
        r = await c2.init_producer_id("tx", 500)
        assert (r.producer_id, r.producer_epoch) == (1000, 0)  # a new id (from c2's own generator)
        await c.close()
        await c2.close()

    asyncio.run(scenario())


def test_invalid_requests() -> None:
    async def scenario() -> None:
        c, _, _ = make()
        await c.load_partition(0, 0)
        assert (await c.init_producer_id("tx", 900001)).error is E.invalid_transaction_timeout
        assert (await c.init_producer_id("tx", 0)).error is E.invalid_transaction_timeout
        assert (await c.init_producer_id("", 100)).error is E.invalid_request
        assert await c.add_partitions("nobody", 1, 0, [TP]) is E.invalid_producer_id_mapping
        await c.close()

    asyncio.run(scenario())

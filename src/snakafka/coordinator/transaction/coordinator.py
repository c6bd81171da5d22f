"""TransactionCoordinator: the transactional ids whose `__transaction_state` partitions
this broker leads (Kafka's TransactionCoordinator + TransactionStateManager).

    coordinator = TransactionCoordinator(TxnConfig(), log, markers, new_producer_id, clock)
    await coordinator.load_partition(p, coordinator_epoch)   # became leader of __transaction_state-p
    result = await coordinator.init_producer_id("my-txn-id", 60000)
    await coordinator.unload_partition(p)                    # no longer leader

Every change follows state.py's rule: prepare a transit, write it (acks=-1) to the
log, and only when it is durable apply it and answer. EndTxn answers once PrepareCommit
or PrepareAbort is durable (as Kafka does); a task the coordinator owns then writes the
markers to every partition of the transaction (retrying until each is written) and
finally writes CompleteCommit / CompleteAbort. Loading a partition replays its records
and finishes any transaction left in a Prepare state. Transactional ids of partitions
not loaded answer NOT_COORDINATOR, of partitions being loaded
COORDINATOR_LOAD_IN_PROGRESS.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from snakafka.clock import Clock
from snakafka.coordinator.offsets_schema import SchemaError, partition_for_group
from snakafka.coordinator.transaction import state as sm
from snakafka.coordinator.transaction.schema import (
    TxnLogValue,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
)
from snakafka.coordinator.transaction.state import (
    TopicPartition,
    TxnMetadata,
    TxnState,
    TxnTransit,
)
from snakafka.protocol.control import TxnMarker
from snakafka.protocol.errors import ErrorCode, KafkaError

log = logging.getLogger(__name__)

E = ErrorCode


@dataclass(frozen=True, slots=True)
class TxnConfig:
    """The transaction.* broker configs the coordinator uses (Kafka's names and defaults)."""

    num_partitions: int = 50  # transaction.state.log.num.partitions
    max_timeout_ms: int = 900000  # transaction.max.timeout.ms
    id_expiration_ms: int = 604800000  # transactional.id.expiration.ms
    abort_interval_ms: int = 10000  # transaction.abort.timed.out.transaction.cleanup.interval.ms
    expiration_interval_ms: int = 3600000  # transaction.remove.expired.transaction.cleanup.interval.ms
    marker_retry_backoff_ms: int = 100


class TxnStateLog(Protocol):
    """__transaction_state: append returns once durable (raises KafkaError otherwise);
    read yields a partition's (key, value) records in log order (other entries ignored)."""

    async def append(self, partition: int, records: list[tuple[bytes, bytes | None]]) -> None: ...

    def read(self, partition: int) -> Iterable[Any]: ...


class MarkerWriter(Protocol):
    """Writes one marker to partitions wherever they are led; per partition
    ErrorCode.none once written (or when the partition no longer exists)."""

    async def write_markers(self, marker: TxnMarker,
                            partitions: list[TopicPartition]) -> dict[TopicPartition, ErrorCode]: ...


@dataclass(frozen=True, slots=True)
class InitProducerIdResult:
    error: ErrorCode
    producer_id: int = -1
    producer_epoch: int = -1


class _Status(enum.Enum):
    LOADING = "loading"
    LOADED = "loaded"


@dataclass(eq=False)
class _Owned:
    index: int
    coordinator_epoch: int
    status: _Status = _Status.LOADING
    txns: dict[str, TxnMetadata] = field(default_factory=dict)


_UNAVAILABLE = frozenset({E.unknown_topic_or_partition, E.not_enough_replicas, E.not_enough_replicas_after_append,
                          E.request_timed_out})
_MOVED = frozenset({E.not_leader_or_follower, E.kafka_storage_error})
# marker errors that will not go away by retrying: give the partition up (logged)
_MARKER_GIVE_UP = frozenset({E.invalid_producer_epoch, E.transaction_coordinator_fenced, E.corrupt_message,
                             E.message_too_large, E.record_list_too_large, E.invalid_required_acks,
                             E.unsupported_for_message_format})


def txn_write_error(code: ErrorCode) -> ErrorCode:
    """TransactionStateManager.appendTransactionToLog's mapping of a failed write."""
    if code in _UNAVAILABLE:
        return E.coordinator_not_available
    if code in _MOVED:
        return E.not_coordinator
    if code in (E.message_too_large, E.record_list_too_large):
        return E.unknown_server_error
    return code


class TransactionCoordinator:
    def __init__(self, config: TxnConfig, txn_log: TxnStateLog, markers: MarkerWriter,
                 new_producer_id: Callable[[], Awaitable[int]], clock: Clock) -> None:
        self.config = config
        self.txn_log = txn_log
        self.markers = markers
        self.new_producer_id = new_producer_id
        self.clock = clock
        self.partitions: dict[int, _Owned] = {}
        self.active = True
        self._tasks: set[asyncio.Task[Any]] = set()
        self._completing: dict[str, asyncio.Task[None]] = {}

    # -- ownership -----------------------------------------------------------------------

    def partition_for(self, transactional_id: str) -> int:
        """abs(javaHashCode(transactional.id)) % transaction.state.log.num.partitions."""
        return partition_for_group(transactional_id, self.config.num_partitions)

    def _owned(self, transactional_id: str) -> tuple[ErrorCode, _Owned | None]:
        if not self.active:
            return E.coordinator_not_available, None
        owned = self.partitions.get(self.partition_for(transactional_id))
        if owned is None:
            return E.not_coordinator, None
        if owned.status is _Status.LOADING:
            return E.coordinator_load_in_progress, None
        return E.none, owned

    def _lookup(self, transactional_id: str) -> tuple[ErrorCode, _Owned | None, TxnMetadata | None]:
        error, owned = self._owned(transactional_id)
        if owned is None:
            return error, None, None
        md = owned.txns.get(transactional_id)
        return (E.invalid_producer_id_mapping if md is None else E.none), owned, md

    def describe(self, transactional_id: str) -> tuple[ErrorCode, TxnMetadata | None]:
        """DescribeTransactions of one id: TRANSACTIONAL_ID_NOT_FOUND if it has no state here."""
        error, owned, md = self._lookup(transactional_id)
        if owned is None:
            return error, None
        if md is None or md.state is TxnState.DEAD:
            return E.transactional_id_not_found, None
        return E.none, md

    def list_transactions(self, states: set[str], producer_ids: set[int],
                          min_duration_ms: int = -1) -> tuple[ErrorCode, list[TxnMetadata]]:
        """ListTransactions: the transactional ids of loaded partitions, filtered by state
        name, producer id and (v1) how long the transaction has been open."""
        loading = any(o.status is _Status.LOADING for o in self.partitions.values())
        now = self.clock.time_ms()
        found = [md for md in self.transactions()
                 if (not states or md.state.kafka_name in states)
                 and (not producer_ids or md.producer_id in producer_ids)
                 and (min_duration_ms < 0 or (md.state is TxnState.ONGOING and now - md.start_ms >= min_duration_ms))]
        return (E.coordinator_load_in_progress if loading else E.none), found

    def transactions(self) -> list[TxnMetadata]:
        """The transactional ids of loaded partitions (DescribeTransactions, tests)."""
        return [md for o in self.partitions.values() if o.status is _Status.LOADED for md in o.txns.values()]

    async def load_partition(self, index: int, coordinator_epoch: int) -> None:
        """Become coordinator of __transaction_state-`index`: replay it, then finish the
        transactions a previous coordinator left half-way (markers not all written)."""
        if index in self.partitions:
            return
        owned = _Owned(index, coordinator_epoch)
        self.partitions[index] = owned
        count = 0
        log.info("loading transactions from __transaction_state-%d (coordinator epoch %d)", index, coordinator_epoch)
        try:
            for entry in self.txn_log.read(index):
                if self.partitions.get(index) is not owned:
                    return
                if isinstance(entry, tuple):
                    self._replay(owned, entry[0], entry[1])
                count += 1
                if count % 1000 == 0:
                    await asyncio.sleep(0)
        except BaseException:
            if self.partitions.get(index) is owned:
                del self.partitions[index]
            raise
        owned.status = _Status.LOADED
        log.info("loaded %d records, %d transactional ids from __transaction_state-%d", count, len(owned.txns), index)
        for md in owned.txns.values():
            if md.state in sm.PREPARING:
                log.info("transactional id %s was left in %s: writing its markers", md.transactional_id, md.state)
                self._spawn_completion(owned, md)

    def _replay(self, owned: _Owned, key: bytes, value: bytes | None) -> None:
        try:
            transactional_id = decode_key(key)
            v = decode_value(value)
        except SchemaError as e:
            log.error("skipping an unreadable __transaction_state-%d record: %s", owned.index, e)
            return
        if v is None or v.state is TxnState.DEAD:
            owned.txns.pop(transactional_id, None)
            return
        owned.txns[transactional_id] = TxnMetadata(
            transactional_id, v.producer_id, v.producer_epoch, v.transaction_timeout_ms, v.state, v.partitions,
            v.start_timestamp_ms, v.last_update_timestamp_ms)

    async def unload_partition(self, index: int) -> None:
        owned = self.partitions.pop(index, None)
        if owned is None:
            return
        for transactional_id in owned.txns:
            task = self._completing.pop(transactional_id, None)
            if task is not None:
                task.cancel()
        log.info("unloaded %d transactional ids of __transaction_state-%d", len(owned.txns), index)

    # -- the write path ------------------------------------------------------------------

    async def _write(self, owned: _Owned, md: TxnMetadata, transit: TxnTransit) -> ErrorCode:
        """Persist `transit` and apply it once durable; the error to answer otherwise."""
        sm.begin(md, transit)
        value = TxnLogValue(transit.producer_id, transit.producer_epoch, transit.timeout_ms, transit.state,
                            transit.partitions, transit.last_update_ms, transit.start_ms)
        record = (encode_key(md.transactional_id), None if transit.state is TxnState.DEAD else encode_value(value))
        try:
            await self.txn_log.append(owned.index, [record])
        except KafkaError as e:
            sm.abandon(md, transit)
            log.warning("transactional id %s: writing %s failed: %s", md.transactional_id, transit.state, e.code.name)
            return txn_write_error(e.code)
        except Exception:
            sm.abandon(md, transit)
            log.exception("transactional id %s: writing %s failed", md.transactional_id, transit.state)
            return E.unknown_server_error
        if self.partitions.get(owned.index) is not owned or owned.txns.get(md.transactional_id) is not md:
            return E.not_coordinator  # unloaded meanwhile: the next coordinator replays the record
        sm.complete_transition(md, transit)
        if transit.state is TxnState.DEAD:
            del owned.txns[md.transactional_id]
        return E.none

    # -- InitProducerId --------------------------------------------------------------------

    async def init_producer_id(self, transactional_id: str, timeout_ms: int,
                               expected: tuple[int, int] | None = None) -> InitProducerIdResult:
        if not transactional_id:
            return InitProducerIdResult(E.invalid_request)
        if timeout_ms <= 0 or timeout_ms > self.config.max_timeout_ms:
            return InitProducerIdResult(E.invalid_transaction_timeout)
        error, owned = self._owned(transactional_id)
        if owned is None:
            return InitProducerIdResult(error)
        md = owned.txns.get(transactional_id)
        if md is None:
            producer_id = await self.new_producer_id()
            md = owned.txns.setdefault(transactional_id, TxnMetadata(
                transactional_id, producer_id, sm.NO_PRODUCER_EPOCH, timeout_ms, TxnState.EMPTY,
                last_update_ms=self.clock.time_ms()))
        new_id = await self.new_producer_id() if sm.needs_new_producer_id(md, expected) else None
        decision = sm.prepare_init_producer_id(md, timeout_ms, self.clock.time_ms(), expected, new_id)
        if isinstance(decision, ErrorCode):
            return InitProducerIdResult(decision)
        if decision.state is TxnState.PREPARE_EPOCH_FENCE:
            # An open transaction of an older producer instance: abort it at a bumped epoch
            # (fencing that instance); this one retries and gets the epoch after it.
            log.info("transactional id %s: fencing producer %d epoch %d and aborting its transaction",
                     transactional_id, md.producer_id, md.producer_epoch)
            error = await self._fence_and_abort(owned, md, decision)
            return InitProducerIdResult(error if error is not E.none else E.concurrent_transactions)
        error = await self._write(owned, md, decision)
        if error is not E.none:
            return InitProducerIdResult(error)
        log.info("transactional id %s: producer id %d epoch %d", transactional_id, md.producer_id, md.producer_epoch)
        return InitProducerIdResult(E.none, md.producer_id, md.producer_epoch)

    async def _fence_and_abort(self, owned: _Owned, md: TxnMetadata, fence: TxnTransit) -> ErrorCode:
        md.pending = TxnState.PREPARE_EPOCH_FENCE
        decision = sm.prepare_end_txn(md, md.producer_id, fence.producer_epoch, False, self.clock.time_ms(),
                                      from_client=False)
        if isinstance(decision, ErrorCode):
            md.pending = None
            return decision
        error = await self._write(owned, md, decision)
        if error is E.none:
            self._spawn_completion(owned, md)
        return error

    # -- AddPartitionsToTxn / AddOffsetsToTxn ------------------------------------------------

    async def add_partitions(self, transactional_id: str, producer_id: int, producer_epoch: int,
                             partitions: Iterable[TopicPartition]) -> ErrorCode:
        if not transactional_id:
            return E.invalid_request
        error, owned, md = self._lookup(transactional_id)
        if owned is None or md is None:
            return error
        decision = sm.prepare_add_partitions(md, producer_id, producer_epoch, frozenset(partitions),
                                             self.clock.time_ms())
        if isinstance(decision, ErrorCode):
            return decision
        return await self._write(owned, md, decision)

    # -- EndTxn ------------------------------------------------------------------------------

    async def end_txn(self, transactional_id: str, producer_id: int, producer_epoch: int, commit: bool) -> ErrorCode:
        if not transactional_id:
            return E.invalid_request
        error, owned, md = self._lookup(transactional_id)
        if owned is None or md is None:
            return error
        decision = sm.prepare_end_txn(md, producer_id, producer_epoch, commit, self.clock.time_ms())
        if isinstance(decision, ErrorCode):
            return decision
        error = await self._write(owned, md, decision)
        if error is E.none:
            log.info("transactional id %s: %s of producer %d epoch %d over %d partitions", transactional_id,
                     md.state, md.producer_id, md.producer_epoch, len(md.partitions))
            self._spawn_completion(owned, md)
        return error

    def _spawn_completion(self, owned: _Owned, md: TxnMetadata) -> None:
        if md.transactional_id in self._completing:
            return
        task = asyncio.get_running_loop().create_task(self._complete(owned, md),
                                                      name=f"txn-markers-{md.transactional_id}")
        self._completing[md.transactional_id] = task
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._completion_done(md.transactional_id, t))

    def _completion_done(self, transactional_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._completing.get(transactional_id) is task:
            del self._completing[transactional_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("transactional id %s: completing the transaction failed", transactional_id,
                      exc_info=task.exception())

    async def _complete(self, owned: _Owned, md: TxnMetadata) -> None:
        """Write the markers of a PrepareCommit/PrepareAbort transaction to all its
        partitions (retrying those that fail), then CompleteCommit/CompleteAbort."""
        marker = TxnMarker(md.producer_id, md.producer_epoch, owned.coordinator_epoch,
                           md.state is TxnState.PREPARE_COMMIT)
        remaining = sorted(md.partitions)
        backoff = self.config.marker_retry_backoff_ms / 1000
        while remaining:
            if self.partitions.get(owned.index) is not owned:
                return
            results = await self.markers.write_markers(marker, remaining)
            failed = []
            for tp in remaining:
                code = results.get(tp, E.unknown_server_error)
                if code is E.none:
                    continue
                if code in _MARKER_GIVE_UP:
                    log.warning("transactional id %s: %s marker for %s-%d refused (%s): giving it up",
                                md.transactional_id, "COMMIT" if marker.commit else "ABORT", tp[0], tp[1], code.name)
                    continue
                failed.append(tp)
            if failed and failed == remaining:
                log.debug("transactional id %s: retrying markers for %s", md.transactional_id, failed)
            remaining = failed
            if remaining:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
        while self.partitions.get(owned.index) is owned and md.state in sm.PREPARING:
            if md.pending is None:
                error = await self._write(owned, md, sm.prepare_complete(md, self.clock.time_ms()))
                if error is E.none:
                    log.info("transactional id %s: %s", md.transactional_id, md.state)
                    return
                if error is E.not_coordinator:
                    return
            await asyncio.sleep(self.config.marker_retry_backoff_ms / 1000)

    # -- timeouts and expiry -------------------------------------------------------------------

    async def abort_timed_out(self) -> int:
        """Abort the transactions open longer than their timeout, bumping the epoch so that
        their producer is fenced (Kafka's abortTimedOutTransactions). Returns how many."""
        now = self.clock.time_ms()
        aborted = 0
        for owned in list(self.partitions.values()):
            if owned.status is not _Status.LOADED:
                continue
            for md in list(owned.txns.values()):
                if not sm.timed_out(md, now):
                    continue
                log.info("transactional id %s: transaction of producer %d epoch %d timed out after %d ms: aborting",
                         md.transactional_id, md.producer_id, md.producer_epoch, md.timeout_ms)
                error = await self._fence_and_abort(owned, md, sm.prepare_fence_epoch(md))
                if error is E.none:
                    aborted += 1
        return aborted

    async def expire_transactional_ids(self) -> int:
        """Tombstone transactional ids unused for transactional.id.expiration.ms."""
        now = self.clock.time_ms()
        removed = 0
        for owned in list(self.partitions.values()):
            if owned.status is not _Status.LOADED:
                continue
            for md in list(owned.txns.values()):
                if (sm.expired(md, now, self.config.id_expiration_ms)
                        and await self._write(owned, md, sm.prepare_dead(md, now)) is E.none):
                    removed += 1
        if removed:
            log.info("expired %d transactional ids", removed)
        return removed

    async def settle(self) -> None:
        """Wait until every marker task is done (tests)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks), timeout=1.0)

    async def close(self) -> None:
        self.active = False
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.partitions.clear()

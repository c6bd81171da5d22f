"""The group coordinator's state and its one way of changing persisted state.

GroupRuntime owns the groups of the __consumer_offsets partitions this broker
coordinates, the timer, the background tasks, and the write path:

* `write(partition, records)` appends records and, once they are durable, applies them
  with `replay(key, value)`, the same function that rebuilds the groups when a partition
  is loaded. Writes on one partition are applied in the order they were issued (the
  order of the log), whatever order their appends complete in.
* `load_partition` replays a partition's records; `unload_partition` forgets its groups.

Rebalancing and offset logic live in rebalance.py and offset_ops.py, on top of this.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from snakafka.clock import Clock
from snakafka.coordinator.group.config import GroupConfig
from snakafka.coordinator.group.group import GroupMetadata
from snakafka.coordinator.group.offsets import CommittedOffset
from snakafka.coordinator.group.results import TopicPartition
from snakafka.coordinator.group.state import GroupState
from snakafka.coordinator.group.storage import OffsetsLog, Record, TxnOffsetsLog
from snakafka.coordinator.group.timer import Timer
from snakafka.coordinator.group.txn_offsets import PendingTxnOffsets
from snakafka.coordinator.internal_topic_log import TxnMarkerRecord, TxnRecord
from snakafka.coordinator.offsets_schema import (
    GroupMetadataKey,
    GroupMetadataValue,
    OffsetKey,
    OffsetValue,
    SchemaError,
    UnknownRecordTypeError,
    decode_key,
    decode_value,
    partition_for_group,
)
from snakafka.protocol.errors import ErrorCode, KafkaError

log = logging.getLogger(__name__)

T = TypeVar("T")

_LOAD_YIELD_EVERY = 1000


class PartitionStatus(enum.Enum):
    LOADING = "loading"
    LOADED = "loaded"


@dataclass(eq=False)
class _OwnedPartition:
    index: int
    status: PartitionStatus = PartitionStatus.LOADING
    write_tail: asyncio.Future[None] | None = field(default=None, repr=False)


class GroupRuntime:
    def __init__(self, config: GroupConfig, offsets_log: OffsetsLog, clock: Clock, *, run_timers: bool = True) -> None:
        self.config = config
        self.offsets_log = offsets_log
        self.clock = clock
        self.groups: dict[str, GroupMetadata] = {}
        self.partitions: dict[int, _OwnedPartition] = {}
        # offsets whose commit is being written, per group: not yet in `group.offsets`
        self.pending_commits: dict[str, Counter[TopicPartition]] = {}
        # offsets written inside transactions, until their producer's marker (txn_offsets.py)
        self.txn_offsets = PendingTxnOffsets()
        self.timer = Timer(clock, self._wake_timers)
        self.active = True
        self.on_group_loaded: Callable[[GroupMetadata], None] = lambda group: None
        self.on_group_unloaded: Callable[[GroupMetadata], None] = lambda group: None
        self._run_timers = run_timers
        self._timer_task: asyncio.Task[None] | None = None
        self._timer_wakeup: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- clocks, tasks, timers ------------------------------------------------------------

    def now_ms(self) -> int:
        return self.clock.time_ms()

    def start(self) -> None:
        """Start the timer task (needs a running loop); called by the first load."""
        if self._run_timers and self._timer_task is None and self.active:
            self._timer_wakeup = asyncio.Event()
            self._timer_task = asyncio.get_running_loop().create_task(self._timer_loop(), name="group-coordinator-timers")

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run `coro` as a task the coordinator owns: it finishes even if the request that
        started it is cancelled, and close() cancels it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("group coordinator task failed", exc_info=task.exception())

    def _wake_timers(self) -> None:
        if self._timer_wakeup is not None:
            self._timer_wakeup.set()

    async def _timer_loop(self) -> None:
        assert self._timer_wakeup is not None
        while True:
            self.timer.run_due()
            deadline = self.timer.next_deadline()
            delay = None if deadline is None else max(0.0, (deadline - self.clock.monotonic_ms()) / 1000)
            self._timer_wakeup.clear()
            try:
                async with asyncio.timeout(delay):
                    await self._timer_wakeup.wait()
            except TimeoutError:
                pass

    async def settle(self) -> None:
        """Let every owned task and every woken waiter run until nothing is left to do."""
        for _ in range(10_000):
            for _ in range(5):
                await asyncio.sleep(0)
            if not self._tasks:
                return
            await asyncio.wait(set(self._tasks), timeout=1.0)
        raise RuntimeError("group coordinator tasks did not settle")

    async def close(self) -> None:
        self.active = False
        for index in list(self.partitions):
            self.unload(index)  # waiting requests get NOT_COORDINATOR
        self.timer.clear()
        tasks = list(self._tasks)
        if self._timer_task is not None:
            tasks.append(self._timer_task)
            self._timer_task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- ownership -------------------------------------------------------------------------

    def partition_for(self, group_id: str) -> int:
        return partition_for_group(group_id, self.config.offsets_topic_num_partitions)

    def status_error(self, group_id: str | None, *, allow_empty_id: bool = False) -> ErrorCode | None:
        """GroupCoordinator.validateGroupStatus: can this broker answer for the group now?"""
        if group_id is None or (group_id == "" and not allow_empty_id):
            return ErrorCode.invalid_group_id
        if not self.active:
            return ErrorCode.coordinator_not_available
        owned = self.partitions.get(self.partition_for(group_id))
        if owned is None:
            return ErrorCode.not_coordinator
        if owned.status is PartitionStatus.LOADING:
            return ErrorCode.coordinator_load_in_progress
        return None

    def is_current(self, group: GroupMetadata) -> bool:
        """Is `group` still the group of its id (not unloaded, deleted or replaced)?"""
        return self.groups.get(group.group_id) is group

    def loaded_groups(self) -> list[GroupMetadata]:
        return [g for g in self.groups.values()
                if (p := self.partitions.get(g.partition)) is not None and p.status is PartitionStatus.LOADED]

    def new_group(self, group_id: str) -> GroupMetadata:
        group = GroupMetadata(group_id, self.partition_for(group_id), self.now_ms())
        self.groups[group_id] = group
        return group

    def drop_group(self, group: GroupMetadata) -> None:
        """Forget a group that has nothing left to persist (Dead, or never written)."""
        if self.is_current(group):
            del self.groups[group.group_id]
        if group.join_op is not None and group.join_op.entry is not None:
            group.join_op.entry.cancel()
        if group.sync_timer is not None:
            group.sync_timer.cancel()
        for member in group.members.values():
            if member.timer is not None:
                member.timer.cancel()

    async def load(self, index: int) -> None:
        self.start()
        if index in self.partitions:
            return
        owned = _OwnedPartition(index)
        self.partitions[index] = owned
        count = 0
        log.info("loading groups and offsets from __consumer_offsets-%d", index)
        try:
            for entry in self.offsets_log.read(index):
                if self.partitions.get(index) is not owned:
                    return  # unloaded while loading
                if isinstance(entry, TxnRecord):
                    self.replay_txn(entry.producer_id, entry.key, entry.value)
                elif isinstance(entry, TxnMarkerRecord):
                    self.complete_txn(entry.producer_id, index, entry.commit)
                else:
                    self.replay(*entry)
                count += 1
                if count % _LOAD_YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        except BaseException:
            if self.partitions.get(index) is owned:
                self.unload(index)
            raise
        if self.partitions.get(index) is not owned:
            return
        owned.status = PartitionStatus.LOADED
        groups = [g for g in self.groups.values() if g.partition == index]
        log.info("loaded %d records, %d groups from __consumer_offsets-%d", count, len(groups), index)
        for group in groups:
            self.on_group_loaded(group)

    def unload(self, index: int) -> None:
        if self.partitions.pop(index, None) is None:
            return
        groups = [g for g in self.groups.values() if g.partition == index]
        for group in groups:
            self.on_group_unloaded(group)
            self.drop_group(group)
            self.pending_commits.pop(group.group_id, None)
        self.txn_offsets.drop_groups({g.group_id for g in groups})
        log.log(logging.INFO if groups else logging.DEBUG, "unloaded %d groups of __consumer_offsets-%d",
                len(groups), index)

    # -- the write path --------------------------------------------------------------------

    async def write(self, index: int, records: list[Record], producer: tuple[int, int] | None = None) -> None:
        """Append `records` to partition `index` and, once durable and after every earlier
        write of the partition has been applied, apply them with replay(). Raises
        KafkaError: the log's error, or NOT_COORDINATOR if the partition is no longer ours
        (then nothing is applied: whoever loads the partition next replays them).
        `producer` (id, epoch): a transactional write (TxnOffsetCommit), applied as
        pending offsets of that producer with replay_txn()."""
        owned = self.partitions.get(index)
        if owned is None or owned.status is not PartitionStatus.LOADED:
            raise KafkaError(ErrorCode.not_coordinator)
        previous = owned.write_tail
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        owned.write_tail = done
        error: KafkaError | None = None
        try:
            try:
                if producer is None:
                    await self.offsets_log.append(index, records)
                elif isinstance(self.offsets_log, TxnOffsetsLog):
                    await self.offsets_log.append_txn(index, records, *producer)
                else:
                    raise KafkaError(ErrorCode.unsupported_version, "this offsets log has no transactions")
            except KafkaError as e:
                error = e
            except Exception as e:
                log.exception("append to __consumer_offsets-%d failed", index)
                error = KafkaError(ErrorCode.unknown_server_error, str(e))
            if previous is not None:
                await asyncio.shield(previous)
            if error is None:
                if self.partitions.get(index) is not owned:
                    error = KafkaError(ErrorCode.not_coordinator)
                else:
                    for key, value in records:
                        if producer is None:
                            self.replay(key, value)
                        else:
                            self.replay_txn(producer[0], key, value)
        finally:
            if not done.done():
                done.set_result(None)
            if owned.write_tail is done:
                owned.write_tail = None
        if error is not None:
            raise error

    def replay(self, key: bytes, value: bytes | None) -> None:
        """Apply one __consumer_offsets record to the in-memory state: at load time and
        for every record the coordinator writes, once it is durable."""
        try:
            k = decode_key(key)
            v = decode_value(k, value)
        except UnknownRecordTypeError:
            return  # records of other group types (KIP-848 and later)
        except SchemaError as e:
            log.error("skipping an unreadable __consumer_offsets record: %s", e)
            return
        if isinstance(k, OffsetKey):
            assert v is None or isinstance(v, OffsetValue)
            self._replay_offset(k, v)
        else:
            assert v is None or isinstance(v, GroupMetadataValue)
            self._replay_group(k, v)

    def _replay_offset(self, key: OffsetKey, value: OffsetValue | None) -> None:
        group = self.groups.get(key.group)
        tp = (key.topic, key.partition)
        if value is None:
            if group is not None:
                group.offsets.pop(tp, None)
                owned = self.partitions.get(group.partition)
                loading = owned is None or owned.status is PartitionStatus.LOADING
                if loading and not group.offsets and group.generation_id == 0 and not group.members:
                    self.drop_group(group)  # it only ever held offsets, all deleted (as Kafka loads it)
            return
        if group is None:
            group = self.new_group(key.group)
        group.offsets[tp] = CommittedOffset.from_value(value)
        self.txn_offsets.plain_commit(key.group, tp)

    def replay_txn(self, producer_id: int, key: bytes, value: bytes | None) -> None:
        """A record of a transactional batch: a pending offset of `producer_id`."""
        try:
            k = decode_key(key)
            v = decode_value(k, value)
        except SchemaError as e:
            log.error("skipping an unreadable transactional __consumer_offsets record: %s", e)
            return
        if not isinstance(k, OffsetKey) or not isinstance(v, OffsetValue):
            return  # Kafka writes only offsets transactionally
        if k.group not in self.groups:
            self.new_group(k.group)  # as Kafka's handleTxnCommitOffsets creates it
        self.txn_offsets.add(producer_id, k.group, (k.topic, k.partition), CommittedOffset.from_value(v))

    def complete_txn(self, producer_id: int, index: int, commit: bool) -> None:
        """The producer's COMMIT or ABORT marker is in __consumer_offsets-`index`: its
        pending offsets of the groups of that partition become committed or are dropped."""
        groups = {g for g in self.txn_offsets.by_producer.get(producer_id, {}) if self.partition_for(g) == index}
        applied = self.txn_offsets.complete(producer_id, groups, commit)
        for group_id, offsets in applied.items():
            group = self.groups.get(group_id)
            if group is not None:
                group.offsets.update(offsets)
        if applied or not commit:
            log.debug("producer %d: %s its offsets in __consumer_offsets-%d", producer_id,
                      "committed" if commit else "aborted", index)

    def _replay_group(self, key: GroupMetadataKey, value: GroupMetadataValue | None) -> None:
        group = self.groups.get(key.group)
        owned = self.partitions.get(self.partition_for(key.group))
        loading = owned is None or owned.status is PartitionStatus.LOADING
        if value is None:
            if group is None:
                return
            self.drop_group(group)
            if group.offsets:  # offsets outlive the group record (as Kafka loads them)
                self.new_group(key.group).offsets = group.offsets
            return
        if group is None or loading:
            loaded = GroupMetadata.from_value(key.group, self.partition_for(key.group), value)
            if group is not None:
                loaded.offsets = group.offsets
                self.drop_group(group)
            self.groups[key.group] = loaded
            if not loading:
                self.on_group_loaded(loaded)
            return
        if group.state is not GroupState.DEAD:
            group.apply_value(value)

"""GroupCoordinator: the classic group protocol and committed offsets, for the groups whose
__consumer_offsets partitions this broker leads.

    coordinator = GroupCoordinator(GroupConfig(), InternalTopicLog(...), SystemClock())
    await coordinator.load_partition(p)     # became leader of __consumer_offsets-p
    result = await coordinator.join_group(...)
    await coordinator.unload_partition(p)   # no longer leader
    await coordinator.close()

State lives in GroupRuntime (runtime.py); membership in membership.py and rebalance.py;
offsets and group deletion in offset_ops.py. Persisted state changes only by replaying
records that are durable in the log. Groups of partitions not loaded answer
NOT_COORDINATOR, of partitions being loaded COORDINATOR_LOAD_IN_PROGRESS.

One asyncio loop; the coordinator owns its tasks (timers, writes) and cancels them in
close(). Times come from the injected Clock: pass run_timers=False and call
run_due_timers() to drive timeouts by hand (tests, with a ManualClock).
"""

from __future__ import annotations

from collections.abc import Iterable

from snakafka.clock import Clock
from snakafka.coordinator.group.config import GroupConfig
from snakafka.coordinator.group.member import Protocols
from snakafka.coordinator.group.membership import GroupMembership
from snakafka.coordinator.group.offset_ops import OffsetCommit, OffsetOps
from snakafka.coordinator.group.results import (
    FetchedOffset,
    GroupSummary,
    JoinResult,
    SyncResult,
    TopicPartition,
)
from snakafka.coordinator.group.runtime import GroupRuntime, PartitionStatus
from snakafka.coordinator.group.state import GroupState
from snakafka.coordinator.group.storage import OffsetsLog
from snakafka.coordinator.group.timer import TimerEntry
from snakafka.protocol.errors import ErrorCode


class GroupCoordinator:
    def __init__(self, config: GroupConfig, offsets_log: OffsetsLog, clock: Clock, *, run_timers: bool = True) -> None:
        self.config = config
        self.clock = clock
        self.runtime = GroupRuntime(config, offsets_log, clock, run_timers=run_timers)
        self.membership = GroupMembership(self.runtime)
        self.offsets = OffsetOps(self.runtime, self.membership)
        self._retention_timer: TimerEntry | None = None

    # -- partitions -------------------------------------------------------------------------

    def partition_for(self, group_id: str) -> int:
        """The __consumer_offsets partition of a group (Utils.abs(hashCode) % partitions)."""
        return self.runtime.partition_for(group_id)

    async def load_partition(self, partition: int) -> None:
        """Become coordinator of __consumer_offsets-`partition`: replay its records."""
        self._schedule_retention_check()
        await self.runtime.load(partition)

    async def unload_partition(self, partition: int) -> None:
        """Stop coordinating the partition's groups; their waiting requests get NOT_COORDINATOR."""
        self.runtime.unload(partition)

    def is_loading(self, partition: int) -> bool:
        owned = self.runtime.partitions.get(partition)
        return owned is not None and owned.status is PartitionStatus.LOADING

    def owned_partitions(self) -> set[int]:
        return set(self.runtime.partitions)

    # -- membership ---------------------------------------------------------------------------

    async def join_group(
        self, group_id: str, member_id: str, group_instance_id: str | None, client_id: str, client_host: str,
        session_timeout_ms: int, rebalance_timeout_ms: int, protocol_type: str, protocols: Protocols,
        require_known_member_id: bool, supports_skip_assignment: bool = False, reason: str | None = None,
    ) -> JoinResult:
        return await self.membership.join_group(
            group_id, member_id, group_instance_id, client_id, client_host, session_timeout_ms, rebalance_timeout_ms,
            protocol_type, protocols, require_known_member_id, supports_skip_assignment, reason,
        )

    async def sync_group(self, group_id: str, generation_id: int, member_id: str, group_instance_id: str | None,
                         protocol_type: str | None, protocol_name: str | None,
                         assignments: dict[str, bytes]) -> SyncResult:
        return await self.membership.sync_group(group_id, generation_id, member_id, group_instance_id,
                                                protocol_type, protocol_name, assignments)

    async def heartbeat(self, group_id: str, member_id: str, group_instance_id: str | None,
                        generation_id: int) -> ErrorCode:
        return await self.membership.heartbeat(group_id, member_id, group_instance_id, generation_id)

    async def leave_group(self, group_id: str,
                          members: list[tuple[str, str | None]]) -> tuple[ErrorCode, list[ErrorCode]]:
        """Batched LeaveGroup (v3+): (member id, group instance id) pairs; a member id of ""
        removes the static member with that instance id. Returns (top-level error, one
        error per member); the list is empty when the top-level error is set."""
        return await self.membership.leave_group(group_id, members)

    # -- offsets ------------------------------------------------------------------------------

    async def commit_offsets(
        self, group_id: str, member_id: str, group_instance_id: str | None, generation_id: int,
        offsets: dict[TopicPartition, OffsetCommit], retention_ms: int | None = None,
    ) -> dict[TopicPartition, ErrorCode]:
        """offsets: (topic, partition) -> (offset, leader epoch, metadata). Generation -1 with
        no member id is a standalone consumer's commit (allowed while the group is Empty or
        does not exist). retention_ms: OffsetCommit v2-v4's retention time, None for the default."""
        return await self.offsets.commit_offsets(group_id, member_id, group_instance_id, generation_id, offsets,
                                                 retention_ms)

    async def commit_txn_offsets(
        self, group_id: str, producer_id: int, producer_epoch: int, member_id: str, group_instance_id: str | None,
        generation_id: int, offsets: dict[TopicPartition, OffsetCommit],
    ) -> dict[TopicPartition, ErrorCode]:
        """TxnOffsetCommit: offsets pending until the producer's transaction ends."""
        return await self.offsets.commit_txn_offsets(group_id, producer_id, producer_epoch, member_id,
                                                     group_instance_id, generation_id, offsets)

    def complete_txn(self, producer_id: int, partitions: Iterable[int], commit: bool) -> None:
        """The producer's COMMIT/ABORT marker is durable in these __consumer_offsets
        partitions: its pending offsets there become committed, or are dropped."""
        for index in partitions:
            if index in self.runtime.partitions:
                self.runtime.complete_txn(producer_id, index, commit)

    async def fetch_offsets(self, group_id: str, partitions: list[TopicPartition] | None,
                            require_stable: bool = False) -> tuple[ErrorCode, dict[TopicPartition, FetchedOffset]]:
        return await self.offsets.fetch_offsets(group_id, partitions, require_stable)

    async def delete_offsets(self, group_id: str,
                             partitions: list[TopicPartition]) -> tuple[ErrorCode, dict[TopicPartition, ErrorCode]]:
        return await self.offsets.delete_offsets(group_id, partitions)

    async def delete_groups(self, group_ids: list[str]) -> dict[str, ErrorCode]:
        return await self.offsets.delete_groups(group_ids)

    async def expire_offsets(self, now_ms: int | None = None) -> int:
        return await self.offsets.expire_offsets(now_ms)

    # -- admin reads ------------------------------------------------------------------------------

    def list_groups(self, states_filter: Iterable[str] = ()) -> list[tuple[str, str, str]]:
        """(group id, protocol type, state) of the groups of loaded partitions; a non-empty
        filter keeps the groups in those states (compared case-insensitively)."""
        wanted = {s.lower() for s in states_filter}
        return [
            (g.group_id, g.protocol_type or "", str(g.state))
            for g in self.runtime.loaded_groups()
            if g.state is not GroupState.DEAD and (not wanted or str(g.state).lower() in wanted)
        ]

    def describe_group(self, group_id: str) -> GroupSummary:
        error = self.runtime.status_error(group_id, allow_empty_id=True)
        if error is not None:
            return GroupSummary(error, "", "", "")
        group = self.runtime.groups.get(group_id)
        if group is None:
            return GroupSummary(ErrorCode.none, str(GroupState.DEAD), "", "")
        return group.summary()

    # -- time and lifecycle ---------------------------------------------------------------------

    def run_due_timers(self) -> int:
        """Fire the timers that are due by the clock (the timer task does this by itself)."""
        return self.runtime.timer.run_due()

    async def settle(self) -> None:
        """Wait until the coordinator's own tasks are done (tests)."""
        await self.runtime.settle()

    def _schedule_retention_check(self) -> None:
        if self._retention_timer is None and self.runtime.active:
            self._retention_timer = self.runtime.timer.schedule_in(
                self.config.offsets_retention_check_interval_ms, self._retention_check)

    def _retention_check(self) -> None:
        self._retention_timer = None
        if self.runtime.active:
            self.runtime.spawn(self.expire_offsets())
            self._schedule_retention_check()

    async def close(self) -> None:
        if self._retention_timer is not None:
            self._retention_timer.cancel()
            self._retention_timer = None
        await self.runtime.close()

"""Offset and group-lifecycle APIs: OffsetCommit, OffsetFetch, OffsetDelete, DeleteGroups,
and retention (GroupCoordinator.handleCommitOffsets and friends, GroupMetadataManager
.storeOffsets / getOffsets / cleanupGroupMetadata).

Every change is written first and applied to the cache of committed offsets only when
durable, by replaying the records; an answer is never given before that.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass

from snakafka.coordinator.group.group import (
    COMPLETING,
    DEAD,
    EMPTY,
    PREPARING,
    STABLE,
    GroupMetadata,
)
from snakafka.coordinator.group.offsets import metadata_too_large
from snakafka.coordinator.group.rebalance import Rebalancer, validate_member
from snakafka.coordinator.group.results import NO_OFFSET, FetchedOffset, TopicPartition
from snakafka.coordinator.group.runtime import GroupRuntime
from snakafka.coordinator.group.state import GroupState
from snakafka.coordinator.group.storage import (
    Record,
    group_write_error,
    offset_write_error,
)
from snakafka.coordinator.offsets_schema import (
    GroupMetadataKey,
    OffsetKey,
    OffsetValue,
    encode_key,
    encode_offset_value,
)
from snakafka.protocol.errors import ErrorCode, KafkaError

log = logging.getLogger(__name__)

E = ErrorCode
OffsetCommit = tuple[int, int, str | None]  # offset, leader epoch (-1: none), metadata
UNSTABLE = FetchedOffset(-1, -1, "", E.unstable_offset_commit)


class OffsetOps:
    def __init__(self, runtime: GroupRuntime, rebalancer: Rebalancer) -> None:
        self.rt = runtime
        self.rebalancer = rebalancer
        self.config = runtime.config

    # -- OffsetCommit ------------------------------------------------------------------------

    def _offset_records(self, group_id: str, offsets: dict[TopicPartition, OffsetCommit], now: int,
                        expire: int | None) -> tuple[dict[TopicPartition, ErrorCode], list[Record]]:
        """The offset records of a commit (plain or transactional), and the answer per
        partition: OFFSET_METADATA_TOO_LARGE for those refused, NONE for those written."""
        answer: dict[TopicPartition, ErrorCode] = {}
        records: list[Record] = []
        for tp, (offset, leader_epoch, metadata) in offsets.items():
            if metadata_too_large(metadata, self.config.offset_metadata_max_bytes):
                answer[tp] = E.offset_metadata_too_large
                continue
            value = OffsetValue(offset, metadata or "", now, leader_epoch, expire)
            records.append((encode_key(OffsetKey(group_id, tp[0], tp[1])), encode_offset_value(value)))
            answer[tp] = E.none
        return answer, records

    async def commit_offsets(
        self, group_id: str, member_id: str, group_instance_id: str | None, generation_id: int,
        offsets: dict[TopicPartition, OffsetCommit], retention_ms: int | None = None,
    ) -> dict[TopicPartition, ErrorCode]:
        error = self.rt.status_error(group_id, allow_empty_id=True)
        if error is None:
            error = self._validate_commit(group_id, member_id, group_instance_id, generation_id)
        if error is not None:
            return {tp: error for tp in offsets}
        now = self.rt.now_ms()
        expire = None if retention_ms is None else now + retention_ms
        answer, records = self._offset_records(group_id, offsets, now, expire)
        written = [tp for tp, code in answer.items() if code is E.none]
        if records:
            error = await asyncio.shield(self.rt.spawn(self._store_offsets(group_id, written, records)))
            if error is not E.none:
                answer.update(dict.fromkeys(written, error))
        return answer

    def _validate_commit(self, group_id: str, member_id: str, instance_id: str | None,
                         generation_id: int) -> ErrorCode | None:
        group = self.rt.groups.get(group_id)
        if group is None:
            if generation_id >= 0:
                return E.illegal_generation  # an older generation of a group that is gone
            # a standalone consumer: Kafka keeps its offsets without group management
            return E.unknown_member_id if member_id or instance_id is not None else None
        if group.state is DEAD:
            return E.coordinator_not_available
        if generation_id >= 0 or member_id or instance_id is not None:
            error = validate_member(group, member_id, instance_id)
            if error is None and generation_id != group.generation_id:
                error = E.illegal_generation
            if error is not None:
                return error
        elif group.state is not EMPTY:
            return E.unknown_member_id  # only members commit for a group that has members
        if group.state is COMPLETING:
            # the member has its new generation but not its assignment yet
            return E.rebalance_in_progress
        if group.state in (STABLE, PREPARING):
            # still accepted while preparing: the heartbeat tells the member to rejoin
            self.rebalancer.touch(group, group.members[member_id])
        return None

    async def commit_txn_offsets(
        self, group_id: str, producer_id: int, producer_epoch: int, member_id: str, group_instance_id: str | None,
        generation_id: int, offsets: dict[TopicPartition, OffsetCommit],
    ) -> dict[TopicPartition, ErrorCode]:
        """TxnOffsetCommit (GroupCoordinator.handleTxnCommitOffsets): the offsets are
        written as a transactional batch of the producer and stay pending until its
        transaction ends (txn_offsets.py). v3 requests carry the member and generation,
        which are checked as Kafka's doTxnCommitOffsets does."""
        error = self.rt.status_error(group_id, allow_empty_id=True)
        if error is None:
            group = self.rt.groups.get(group_id) or self.rt.new_group(group_id)
            if group.state is DEAD:
                error = E.coordinator_not_available
            elif group_instance_id is not None or member_id:
                error = validate_member(group, member_id, group_instance_id)
            if error is None and generation_id >= 0 and generation_id != group.generation_id:
                error = E.illegal_generation
        if error is not None:
            return {tp: error for tp in offsets}
        now = self.rt.now_ms()
        answer, records = self._offset_records(group_id, offsets, now, None)
        written = [tp for tp, code in answer.items() if code is E.none]
        if records:
            error = await asyncio.shield(self.rt.spawn(
                self._store_offsets(group_id, written, records, (producer_id, producer_epoch))))
            if error is not E.none:
                answer.update(dict.fromkeys(written, error))
        return answer

    async def _store_offsets(self, group_id: str, tps: list[TopicPartition], records: list[Record],
                             producer: tuple[int, int] | None = None) -> ErrorCode:
        pending = self.rt.pending_commits.setdefault(group_id, Counter())
        pending.update(tps)
        try:
            await self.rt.write(self.rt.partition_for(group_id), records, producer)
            return E.none
        except KafkaError as e:
            return offset_write_error(e.code)
        finally:
            pending.subtract(tps)
            if not +pending and self.rt.pending_commits.get(group_id) is pending:
                del self.rt.pending_commits[group_id]

    # -- OffsetFetch -------------------------------------------------------------------------

    async def fetch_offsets(self, group_id: str, partitions: list[TopicPartition] | None,
                            require_stable: bool = False) -> tuple[ErrorCode, dict[TopicPartition, FetchedOffset]]:
        """Committed offsets regardless of the group's state (it may not use group
        management at all); offset -1 for partitions without one. `partitions` None: all."""
        error = self.rt.status_error(group_id, allow_empty_id=True)
        if error is not None:
            return error, {}
        group = self.rt.groups.get(group_id)
        pending = self.rt.pending_commits.get(group_id, Counter()).copy()
        pending.update(self.rt.txn_offsets.pending_partitions(group_id))  # open transactions' offsets
        if group is None or group.state is DEAD:
            # a standalone consumer's first commit may be in flight: the group appears when it lands
            return E.none, {tp: UNSTABLE if require_stable and pending[tp] > 0 else NO_OFFSET
                            for tp in partitions or ()}
        answer = {}
        for tp in list(group.offsets) if partitions is None else partitions:
            if require_stable and pending[tp] > 0:
                answer[tp] = UNSTABLE
            elif (committed := group.offsets.get(tp)) is not None:
                answer[tp] = FetchedOffset(committed.offset, committed.leader_epoch, committed.metadata, E.none)
            else:
                answer[tp] = NO_OFFSET
        return E.none, answer

    # -- DeleteGroups, OffsetDelete, retention ---------------------------------------------------

    async def delete_groups(self, group_ids: list[str]) -> dict[str, ErrorCode]:
        answer: dict[str, ErrorCode] = {}
        deleting: list[GroupMetadata] = []
        for group_id in dict.fromkeys(group_ids):
            error = self.rt.status_error(group_id, allow_empty_id=True)
            group = self.rt.groups.get(group_id)
            if error is not None:
                answer[group_id] = error
            elif group is None or group.state is DEAD:
                answer[group_id] = E.group_id_not_found
            elif group.state is not EMPTY:
                answer[group_id] = E.non_empty_group
            else:
                deleting.append(group)
        removals = [self._removal(group, list(group.offsets), delete_group=True) for group in deleting]
        results = await asyncio.shield(asyncio.gather(*(self.rt.spawn(self._remove(r)) for r in removals)))
        for group, error in zip(deleting, results):
            answer[group.group_id] = error
            if error is E.none:
                group.log.info("group deleted")
        return {group_id: answer[group_id] for group_id in dict.fromkeys(group_ids)}

    async def delete_offsets(self, group_id: str,
                             partitions: list[TopicPartition]) -> tuple[ErrorCode, dict[TopicPartition, ErrorCode]]:
        error = self.rt.status_error(group_id)
        if error is not None:
            return error, {}
        group = self.rt.groups.get(group_id)
        if group is None or group.state is DEAD:
            return E.group_id_not_found, {}
        answer: dict[TopicPartition, ErrorCode] = {}
        if group.state is EMPTY:
            eligible = list(partitions)
        elif group.is_consumer_group:
            eligible = []
            for tp in partitions:
                if group.is_subscribed_to_topic(tp[0]):
                    answer[tp] = E.group_subscribed_to_topic
                else:
                    eligible.append(tp)
        else:
            return E.non_empty_group, {}
        if eligible:
            error = await asyncio.shield(self.rt.spawn(self._remove(self._removal(group, eligible))))
            answer.update(dict.fromkeys(eligible, error))
            group.log.info("deleted offsets of %d partitions: %s", len(eligible), error.name)
        return E.none, {tp: answer[tp] for tp in dict.fromkeys(partitions)}

    async def expire_offsets(self, now_ms: int | None = None) -> int:
        """Remove offsets past offsets.retention.minutes, and the Empty groups left without
        offsets (GroupMetadataManager.cleanupGroupMetadata). Returns the offsets removed."""
        now = self.rt.now_ms() if now_ms is None else now_ms
        retention = self.config.offsets_retention_ms
        removals = []
        for group in self.rt.loaded_groups():
            if group.state is DEAD:
                continue
            pending = {tp for tp, n in self.rt.pending_commits.get(group.group_id, Counter()).items() if n > 0}
            pending |= self.rt.txn_offsets.pending_partitions(group.group_id)
            expired = group.expired_offsets(now, retention, pending)
            if expired or (group.state is EMPTY and not group.offsets and not pending):
                removals.append(self._removal(group, expired))
        if not removals:
            return 0
        results = await asyncio.shield(asyncio.gather(*(self.rt.spawn(self._remove(r)) for r in removals)))
        removed = sum(r.offsets for r, error in zip(removals, results) if error is E.none)
        if removed:
            log.info("removed %d expired offsets", removed)
        return removed

    def _removal(self, group: GroupMetadata, tps: list[TopicPartition], delete_group: bool = False) -> _Removal:
        """Tombstones for the group's offsets `tps` and, when the group is Empty and has no
        offsets left (or is being deleted), for the group itself, which is Dead from now
        on so that nothing joins or commits while the tombstones are written."""
        tps = [tp for tp in dict.fromkeys(tps) if tp in group.offsets]
        pending = +self.rt.pending_commits.get(group.group_id, Counter())
        pending.update(self.rt.txn_offsets.pending_partitions(group.group_id))
        dies = group.state is EMPTY and (delete_group or not (set(group.offsets) - set(tps)) and not pending)
        records: list[Record] = [(encode_key(OffsetKey(group.group_id, t, p)), None) for t, p in tps]
        previous = group.state
        if dies:
            group.log.info("group is empty and has no offsets left: it is now Dead (generation %d)", group.generation_id)
            group.transition_to(DEAD, self.rt.now_ms())
            if group.generation_id > 0:  # a group that only stored offsets never had a group record
                records.append((encode_key(GroupMetadataKey(group.group_id)), None))
        return _Removal(group, records, len(tps), previous if dies else None)

    async def _remove(self, removal: _Removal) -> ErrorCode:
        group = removal.group
        if removal.records:
            try:
                await self.rt.write(group.partition, removal.records)
            except KafkaError as e:
                group.log.warning("could not write %d tombstones: %s", len(removal.records), e.code.name)
                if removal.previous_state is not None and self.rt.is_current(group):
                    group.undo_dead(removal.previous_state)
                    return group_write_error(e.code)
                return offset_write_error(e.code)
        if removal.previous_state is not None and self.rt.is_current(group) and group.state is DEAD:
            self.rt.drop_group(group)
        return E.none


@dataclass(frozen=True, slots=True)
class _Removal:
    group: GroupMetadata
    records: list[Record]
    offsets: int
    previous_state: GroupState | None  # set when the group dies with these tombstones

"""Offsets committed inside transactions (TxnOffsetCommit, KIP-98).

A transactional producer's offsets are written to __consumer_offsets as a transactional
batch with the producer's id and epoch, and stay *pending* - invisible to OffsetFetch,
answered UNSTABLE_OFFSET_COMMIT to a fetch that requires stable offsets - until the
transaction coordinator writes that producer's marker to the partition: COMMIT makes
them the group's committed offsets (unless a plain commit of the same partition was
written after them), ABORT drops them. Kafka's GroupMetadata
.pendingTransactionalOffsetCommits and GroupCoordinator.handleTxnCompletion.

Loading a partition replays the same way: pending offsets of a producer whose marker
follows in the log are completed by it; those without one stay pending, waiting for
the coordinator to finish the transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from snakafka.coordinator.group.offsets import CommittedOffset
from snakafka.coordinator.group.results import TopicPartition

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PendingOffset:
    offset: CommittedOffset
    seq: int  # its place in the partition's log order (compared with plain commits)


@dataclass(slots=True)
class PendingTxnOffsets:
    """producer id -> group -> partition -> its pending offset, plus the log order of
    each group's latest plain commit."""

    by_producer: dict[int, dict[str, dict[TopicPartition, PendingOffset]]] = field(default_factory=dict)
    plain_seq: dict[tuple[str, TopicPartition], int] = field(default_factory=dict)
    _seq: int = 0

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def add(self, producer_id: int, group_id: str, tp: TopicPartition, offset: CommittedOffset) -> None:
        self.by_producer.setdefault(producer_id, {}).setdefault(group_id, {})[tp] = PendingOffset(
            offset, self.next_seq())

    def plain_commit(self, group_id: str, tp: TopicPartition) -> None:
        self.plain_seq[(group_id, tp)] = self.next_seq()

    def is_pending(self, group_id: str, tp: TopicPartition) -> bool:
        return any(tp in groups.get(group_id, {}) for groups in self.by_producer.values())

    def pending_partitions(self, group_id: str) -> set[TopicPartition]:
        return {tp for groups in self.by_producer.values() for tp in groups.get(group_id, {})}

    def has_pending(self, group_id: str) -> bool:
        return any(group_id in groups for groups in self.by_producer.values())

    def complete(self, producer_id: int, group_ids: set[str] | None,
                 commit: bool) -> dict[str, dict[TopicPartition, CommittedOffset]]:
        """End the producer's transaction for `group_ids` (None: all its groups). Returns,
        per group, the offsets to make committed (empty on abort)."""
        groups = self.by_producer.get(producer_id)
        if not groups:
            return {}
        done = list(groups) if group_ids is None else [g for g in groups if g in group_ids]
        applied: dict[str, dict[TopicPartition, CommittedOffset]] = {}
        for group_id in done:
            pending = groups.pop(group_id)
            if commit:
                applied[group_id] = {tp: p.offset for tp, p in pending.items()
                                     if p.seq > self.plain_seq.get((group_id, tp), -1)}
        if not groups:
            del self.by_producer[producer_id]
        return applied

    def drop_groups(self, group_ids: set[str]) -> None:
        """Forget the pending offsets of unloaded groups."""
        for producer_id in list(self.by_producer):
            groups = self.by_producer[producer_id]
            for group_id in group_ids & set(groups):
                del groups[group_id]
            if not groups:
                del self.by_producer[producer_id]
        for key in [k for k in self.plain_seq if k[0] in group_ids]:
            del self.plain_seq[key]

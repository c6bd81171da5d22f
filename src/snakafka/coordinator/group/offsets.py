"""Committed offsets of one group, and which of them have expired.

Expiry follows Kafka 2.1+ (KIP-211): offsets of a group that still has consumers are kept
while the group consumes the topic; once the group is Empty, all its offsets expire
offsets.retention.minutes after it became Empty. Offsets committed with an explicit
retention time (OffsetCommit v2-v4) keep the old per-offset expire timestamp.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from snakafka.coordinator.group.results import TopicPartition
from snakafka.coordinator.offsets_schema import OffsetValue


@dataclass(frozen=True, slots=True)
class CommittedOffset:
    offset: int
    leader_epoch: int  # -1: none
    metadata: str
    commit_timestamp: int  # wall-clock ms
    expire_timestamp: int | None = None

    @classmethod
    def from_value(cls, value: OffsetValue) -> CommittedOffset:
        return cls(value.offset, value.leader_epoch, value.metadata, value.commit_timestamp, value.expire_timestamp)

    def to_value(self) -> OffsetValue:
        return OffsetValue(self.offset, self.metadata, self.commit_timestamp, self.leader_epoch, self.expire_timestamp)


def java_string_length(s: str) -> int:
    """String.length() in Java: UTF-16 code units (what offset.metadata.max.bytes counts)."""
    return len(s.encode("utf-16-le")) // 2


def metadata_too_large(metadata: str | None, max_length: int) -> bool:
    return metadata is not None and java_string_length(metadata) > max_length


def select_expired(
    offsets: Mapping[TopicPartition, CommittedOffset],
    now_ms: int,
    retention_ms: int,
    base_timestamp_ms: int | None,
    keep_topics: AbstractSet[str] = frozenset(),
    pending: AbstractSet[TopicPartition] = frozenset(),
) -> list[TopicPartition]:
    """Offsets past retention (GroupMetadata.removeExpiredOffsets.getExpiredOffsets).

    `base_timestamp_ms` is when the retention period started (the time the group became
    Empty), or None to count from each offset's commit. Offsets of `keep_topics` and with
    a commit in flight never expire."""
    expired = []
    for tp, committed in offsets.items():
        if tp[0] in keep_topics or tp in pending:
            continue
        if committed.expire_timestamp is not None:
            if now_ms >= committed.expire_timestamp:
                expired.append(tp)
        else:
            base = committed.commit_timestamp if base_timestamp_ms is None else base_timestamp_ms
            if now_ms - base >= retention_ms:
                expired.append(tp)
    return expired

"""Group coordinator settings, with Kafka's names (group.*, offsets.*) and defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GroupConfig:
    group_min_session_timeout_ms: int = 6000
    group_max_session_timeout_ms: int = 1_800_000
    group_initial_rebalance_delay_ms: int = 3000
    group_max_size: int = 2**31 - 1
    offsets_topic_num_partitions: int = 50
    offsets_retention_minutes: int = 10080
    offset_metadata_max_bytes: int = 4096
    offsets_retention_check_interval_ms: int = 600_000

    @property
    def offsets_retention_ms(self) -> int:
        return self.offsets_retention_minutes * 60_000


# A new member's JoinGroup may wait at most this long in a rebalance before it is dropped
# (GroupCoordinator.NewMemberJoinTimeoutMs): it has no member id yet, so it cannot heartbeat.
NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000

"""The classic group coordinator: JoinGroup/SyncGroup/Heartbeat/LeaveGroup, committed
offsets and their retention, persisted in __consumer_offsets. See coordinator.py."""

from snakafka.coordinator.group.config import GroupConfig
from snakafka.coordinator.group.coordinator import GroupCoordinator
from snakafka.coordinator.group.results import (
    FetchedOffset,
    GroupSummary,
    JoinMember,
    JoinResult,
    MemberSummary,
    SyncResult,
)
from snakafka.coordinator.group.state import GroupState
from snakafka.coordinator.group.storage import OffsetsLog

__all__ = [
    "FetchedOffset",
    "GroupConfig",
    "GroupCoordinator",
    "GroupState",
    "GroupSummary",
    "JoinMember",
    "JoinResult",
    "MemberSummary",
    "OffsetsLog",
    "SyncResult",
]

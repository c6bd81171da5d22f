"""What the group coordinator answers: plain frozen dataclasses the server layer turns
into responses of the client's version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from snakafka.protocol.errors import ErrorCode

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class JoinMember:
    """One member as the leader sees it in its JoinGroup response."""

    member_id: str
    group_instance_id: str | None
    metadata: bytes


@dataclass(frozen=True, slots=True)
class JoinResult:
    error_code: ErrorCode
    generation_id: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str = ""
    member_id: str = ""
    members: tuple[JoinMember, ...] = ()  # only the leader gets them
    skip_assignment: bool = False

    @classmethod
    def error(cls, member_id: str, code: ErrorCode) -> JoinResult:
        """JoinGroupResult(memberId, error): no generation (-1), no protocol, no leader."""
        return cls(code, member_id=member_id)


@dataclass(frozen=True, slots=True)
class SyncResult:
    error_code: ErrorCode
    protocol_type: str | None = None
    protocol_name: str | None = None
    assignment: bytes = b""


@dataclass(frozen=True, slots=True)
class MemberSummary:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    metadata: bytes
    assignment: bytes


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """DescribeGroups for one group; metadata and assignments only when Stable."""

    error_code: ErrorCode
    state: str
    protocol_type: str
    protocol: str
    members: tuple[MemberSummary, ...] = ()


class FetchedOffset(NamedTuple):
    """One partition of an OffsetFetch answer; offset -1 when nothing is committed."""

    offset: int
    leader_epoch: int
    metadata: str
    error: ErrorCode


NO_OFFSET = FetchedOffset(-1, -1, "", ErrorCode.none)

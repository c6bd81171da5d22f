"""One member of a classic group, as the coordinator keeps it in memory (MemberMetadata.scala).

Besides what the group record persists (ids, client, timeouts, protocols, assignment) a
live member carries its waiting JoinGroup / SyncGroup answers (futures) and its session
deadline; those are never written to the log.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from snakafka.coordinator.group.results import JoinResult, SyncResult
from snakafka.coordinator.group.timer import TimerEntry

Protocols = list[tuple[str, bytes]]


def protocol_metadata(protocols: Protocols, name: str) -> bytes:
    """The metadata a member gave for protocol `name` (the first entry of that name)."""
    for protocol, metadata in protocols:
        if protocol == name:
            return metadata
    raise KeyError(f"member does not support protocol {name!r}")


@dataclass(eq=False, slots=True)
class MemberMetadata:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: Protocols
    assignment: bytes = b""
    # a member that joined in the current rebalance and has not yet been in a generation
    is_new: bool = False
    join_waiter: asyncio.Future[JoinResult] | None = field(default=None, repr=False)
    sync_waiter: asyncio.Future[SyncResult] | None = field(default=None, repr=False)
    session_deadline_ms: int = 0  # monotonic
    timer: TimerEntry | None = field(default=None, repr=False)

    @property
    def is_static(self) -> bool:
        return self.group_instance_id is not None

    @property
    def is_awaiting_join(self) -> bool:
        return self.join_waiter is not None

    @property
    def is_awaiting_sync(self) -> bool:
        return self.sync_waiter is not None

    def protocol_names(self) -> list[str]:
        return [name for name, _ in self.protocols]

    def metadata(self, protocol: str) -> bytes:
        return protocol_metadata(self.protocols, protocol)

    def matches(self, protocols: Protocols) -> bool:
        """Same protocols, same order, same metadata: a rejoin that changes nothing."""
        return len(protocols) == len(self.protocols) and all(
            a[0] == b[0] and bytes(a[1]) == bytes(b[1]) for a, b in zip(protocols, self.protocols)
        )

    def vote(self, candidates: set[str]) -> str:
        """The member's most preferred protocol among those every member supports."""
        for name, _ in self.protocols:
            if name in candidates:
                return name
        raise ValueError("member does not support any of the candidate protocols")

"""A classic group in memory (GroupMetadata.scala): members, generation, protocol, leader,
pending members, static members and committed offsets.

Pure bookkeeping: no I/O, no timers. The coordinator decides when things happen; this
class keeps the counts right (members supporting each protocol, members awaiting join)
and answers the questions Kafka's GroupMetadata answers. Not thread-safe: used from one
event loop.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Any

from snakafka.coordinator.group.member import MemberMetadata, Protocols
from snakafka.coordinator.group.offsets import CommittedOffset, select_expired
from snakafka.coordinator.group.results import (
    GroupSummary,
    JoinMember,
    JoinResult,
    MemberSummary,
    SyncResult,
    TopicPartition,
)
from snakafka.coordinator.group.state import GroupState, check_transition
from snakafka.coordinator.group.timer import TimerEntry
from snakafka.coordinator.offsets_schema import GroupMetadataValue
from snakafka.coordinator.offsets_schema import MemberMetadata as MemberRecord
from snakafka.protocol.consumer_protocol import (
    CONSUMER_PROTOCOL_TYPE,
    SubscriptionError,
    subscribed_topics,
)
from snakafka.protocol.errors import ErrorCode

_log = logging.getLogger("snakafka.coordinator.group")

EMPTY = GroupState.EMPTY
PREPARING = GroupState.PREPARING_REBALANCE
COMPLETING = GroupState.COMPLETING_REBALANCE
STABLE = GroupState.STABLE
DEAD = GroupState.DEAD


class GroupLogger(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every message with the group id."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return f"[group {self.extra['group_id'] if self.extra else '?'}] {msg}", kwargs


@dataclass(eq=False, slots=True)
class DelayedJoin:
    """The wait for members to (re)join. `initial` is KIP-134's delay for a group that was
    Empty: it does not complete early, and each expiry with new members extends it by up to
    the configured delay, never past the rebalance timeout (`remaining_ms`)."""

    initial: bool
    delay_ms: int
    configured_delay_ms: int = 0
    remaining_ms: int = 0
    entry: TimerEntry | None = field(default=None, repr=False)


class GroupMetadata:
    def __init__(self, group_id: str, partition: int, now_ms: int, state: GroupState = EMPTY) -> None:
        self.group_id = group_id
        self.partition = partition  # of __consumer_offsets
        self.state = state
        self.state_timestamp: int | None = now_ms  # wall clock of the last transition
        self.generation_id = 0
        self.protocol_type: str | None = None
        self.protocol_name: str | None = None
        self.leader_id: str | None = None
        self.members: dict[str, MemberMetadata] = {}
        self.static_members: dict[str, str] = {}  # group.instance.id -> member id
        self.pending_members: set[str] = set()  # handed a member id (MEMBER_ID_REQUIRED), not yet joined
        self.pending_sync_members: set[str] = set()
        self.new_member_added = False
        self.subscribed_topics: frozenset[str] | None = None
        self.offsets: dict[TopicPartition, CommittedOffset] = {}
        self.join_op: DelayedJoin | None = None
        self.sync_timer: TimerEntry | None = None
        self.storing_generation: int | None = None  # a leader's assignment write is in flight
        self._supported: Counter[str] = Counter()
        self._num_awaiting_join = 0
        self.log = GroupLogger(_log, {"group_id": group_id})

    def __repr__(self) -> str:
        return f"GroupMetadata({self.group_id!r}, {self.state}, generation={self.generation_id}, members={list(self.members)})"

    # -- questions -------------------------------------------------------------------

    def is_leader(self, member_id: str) -> bool:
        return self.leader_id == member_id

    @property
    def num_awaiting_join(self) -> int:
        return self._num_awaiting_join

    @property
    def is_consumer_group(self) -> bool:
        return self.protocol_type == CONSUMER_PROTOCOL_TYPE

    def has_all_members_joined(self) -> bool:
        return len(self.members) == self._num_awaiting_join and not self.pending_members

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def can_rebalance(self) -> bool:
        return self.state in (STABLE, COMPLETING, EMPTY)

    def supports_protocols(self, protocol_type: str, protocols: set[str]) -> bool:
        if self.state is EMPTY:
            return bool(protocol_type) and bool(protocols)
        n = len(self.members)
        return self.protocol_type == protocol_type and any(self._supported[p] == n for p in protocols)

    def select_protocol(self, override: Mapping[str, Protocols] | None = None) -> str:
        """The protocol every member supports, chosen by the members' votes (each votes for
        its most preferred candidate; ties go to the protocol voted for first).
        `override` asks what the choice would be with some members' protocols replaced."""
        if not self.members:
            raise ValueError("cannot select a protocol for a group without members")
        counts = Counter(self._supported)
        protocols = {mid: m.protocols for mid, m in self.members.items()}
        for mid, new in (override or {}).items():
            counts.subtract({name for name, _ in protocols[mid]})
            counts.update({name for name, _ in new})
            protocols[mid] = new
        candidates = {p for p, c in counts.items() if c == len(self.members)}
        votes: Counter[str] = Counter()
        for member_protocols in protocols.values():
            votes[next(name for name, _ in member_protocols if name in candidates)] += 1
        return votes.most_common(1)[0][0]

    def is_subscribed_to_topic(self, topic: str) -> bool:
        """True when unknown (not a consumer group, or unparsable subscriptions)."""
        return self.subscribed_topics is None or topic in self.subscribed_topics

    def compute_subscribed_topics(self) -> frozenset[str] | None:
        if self.protocol_type != CONSUMER_PROTOCOL_TYPE:
            return None
        if not self.members:
            return frozenset()
        if self.protocol_name is None:
            return None
        topics: set[str] = set()
        try:
            for member in self.members.values():
                topics.update(subscribed_topics(member.metadata(self.protocol_name)))
        except (SubscriptionError, KeyError) as e:
            self.log.warning("cannot parse the consumer protocol subscriptions (%s): subscribed topics unknown", e)
            return None
        return frozenset(topics)

    def current_member_metadata(self) -> tuple[JoinMember, ...]:
        """The members and their metadata for the chosen protocol: what the leader gets."""
        if self.state in (DEAD, PREPARING) or self.protocol_name is None:
            raise ValueError(f"no member metadata for a group in state {self.state}")
        protocol = self.protocol_name
        return tuple(JoinMember(m.member_id, m.group_instance_id, m.metadata(protocol)) for m in self.members.values())

    def join_result(self, member_id: str, leader_id: str | None = None, *, with_members: bool | None = None,
                    skip_assignment: bool = False) -> JoinResult:
        """The successful JoinGroup answer for the current generation."""
        if with_members is None:
            with_members = self.is_leader(member_id)
        return JoinResult(
            ErrorCode.none, self.generation_id, self.protocol_type, self.protocol_name,
            (self.leader_id or "") if leader_id is None else leader_id, member_id,
            self.current_member_metadata() if with_members else (), skip_assignment,
        )

    def summary(self) -> GroupSummary:
        ptype = self.protocol_type or ""
        if self.state is STABLE and self.protocol_name is not None:
            p = self.protocol_name
            return GroupSummary(ErrorCode.none, str(self.state), ptype, p, tuple(
                MemberSummary(m.member_id, m.group_instance_id, m.client_id, m.client_host, m.metadata(p), m.assignment)
                for m in self.members.values()
            ))
        return GroupSummary(ErrorCode.none, str(self.state), ptype, "", tuple(
            MemberSummary(m.member_id, m.group_instance_id, m.client_id, m.client_host, b"", b"")
            for m in self.members.values()
        ))

    def expired_offsets(self, now_ms: int, retention_ms: int, pending: set[TopicPartition]) -> list[TopicPartition]:
        """Which offsets retention removes now (GroupMetadata.removeExpiredOffsets)."""
        if self.protocol_type is not None and self.state is EMPTY:
            return select_expired(self.offsets, now_ms, retention_ms, self.state_timestamp, pending=pending)
        if self.is_consumer_group and self.subscribed_topics is not None and self.state is STABLE:
            return select_expired(self.offsets, now_ms, retention_ms, None, self.subscribed_topics, pending)
        if self.protocol_type is None:
            return select_expired(self.offsets, now_ms, retention_ms, None, pending=pending)
        return []

    # -- changes ---------------------------------------------------------------------

    def transition_to(self, target: GroupState, now_ms: int) -> None:
        check_transition(self.group_id, self.state, target)
        self.state = target
        self.state_timestamp = now_ms

    def undo_dead(self, previous: GroupState) -> None:
        """Take back a Dead mark whose tombstones could not be written: not a transition,
        the group never stopped being what it was."""
        if self.state is DEAD:
            self.state = previous

    def generate_member_id(self, client_id: str, group_instance_id: str | None) -> str:
        return f"{group_instance_id if group_instance_id is not None else client_id}-{uuid.uuid4()}"

    def add(self, member: MemberMetadata) -> None:
        if member.group_instance_id is not None:
            if member.group_instance_id in self.static_members:
                raise ValueError(f"static member {member.group_instance_id} is already in group {self.group_id}")
            self.static_members[member.group_instance_id] = member.member_id
        if not self.members:
            self.protocol_type = member.protocol_type
        if self.leader_id is None:
            self.leader_id = member.member_id
        self.members[member.member_id] = member
        self._supported.update({name for name, _ in member.protocols})
        if member.is_awaiting_join:
            self._num_awaiting_join += 1
        self.pending_members.discard(member.member_id)

    def remove(self, member_id: str) -> MemberMetadata | None:
        """Drop a member (or pending member). A removed member's waiting JoinGroup and
        SyncGroup are answered UNKNOWN_MEMBER_ID so no request hangs."""
        member = self.members.pop(member_id, None)
        if member is not None:
            self._supported.subtract({name for name, _ in member.protocols})
            self.complete_join(member, JoinResult.error("", ErrorCode.unknown_member_id), removed=True)
            self.complete_sync(member, SyncResult(ErrorCode.unknown_member_id))
            if member.group_instance_id is not None and self.static_members.get(member.group_instance_id) == member_id:
                del self.static_members[member.group_instance_id]
            if member.timer is not None:
                member.timer.cancel()
                member.timer = None
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        self.pending_members.discard(member_id)
        self.pending_sync_members.discard(member_id)
        return member

    def update_member(self, member: MemberMetadata, protocols: Protocols) -> None:
        self._supported.subtract({name for name, _ in member.protocols})
        member.protocols = list(protocols)
        self._supported.update({name for name, _ in member.protocols})

    def replace_static_member(self, group_instance_id: str, old_id: str, new_id: str) -> MemberMetadata:
        """A static member came back with a new member id: same member, new id. Whoever
        still waits under the old id is fenced."""
        member = self.members[old_id]
        self.complete_join(member, JoinResult.error(old_id, ErrorCode.fenced_instance_id))
        self.complete_sync(member, SyncResult(ErrorCode.fenced_instance_id))
        del self.members[old_id]
        member.member_id = new_id
        self.members[new_id] = member
        if self.leader_id == old_id:
            self.leader_id = new_id
        if old_id in self.pending_sync_members:
            self.pending_sync_members.discard(old_id)
            self.pending_sync_members.add(new_id)
        self.static_members[group_instance_id] = new_id
        return member

    def await_join(self, member: MemberMetadata) -> asyncio.Future[JoinResult]:
        """The member's JoinGroup answer, to be set when the rebalance completes. A member
        that joins again while waiting shares the answer."""
        if member.join_waiter is None:
            member.join_waiter = asyncio.get_running_loop().create_future()
            if self.members.get(member.member_id) is member:
                self._num_awaiting_join += 1
        return member.join_waiter

    def complete_join(self, member: MemberMetadata, result: JoinResult, *, removed: bool = False) -> bool:
        waiter = member.join_waiter
        if waiter is None:
            return False
        member.join_waiter = None
        if removed or self.members.get(member.member_id) is member:
            self._num_awaiting_join -= 1
        if not waiter.done():
            waiter.set_result(result)
        return True

    def await_sync(self, member: MemberMetadata) -> asyncio.Future[SyncResult]:
        if member.sync_waiter is None:
            member.sync_waiter = asyncio.get_running_loop().create_future()
        return member.sync_waiter

    def complete_sync(self, member: MemberMetadata, result: SyncResult) -> bool:
        waiter = member.sync_waiter
        if waiter is None:
            return False
        member.sync_waiter = None
        if not waiter.done():
            waiter.set_result(result)
        return True

    def maybe_elect_new_joined_leader(self) -> bool:
        """Keep the leader if it rejoined, else pick any member that did; False when no
        member rejoined (or the group has no leader)."""
        if self.leader_id is None:
            return False
        leader = self.members.get(self.leader_id)
        if leader is not None and leader.is_awaiting_join:
            return True
        for member_id, member in self.members.items():
            if member.is_awaiting_join:
                self.log.info("leader %s did not rejoin before the rebalance timeout; %s is the new leader",
                              self.leader_id, member_id)
                self.leader_id = member_id
                return True
        self.log.info("leader %s did not rejoin and no member did: the group cannot move to the next generation",
                      self.leader_id)
        return False

    def init_next_generation(self, now_ms: int) -> None:
        self.generation_id += 1
        if self.members:
            self.protocol_name = self.select_protocol()
            self.subscribed_topics = self.compute_subscribed_topics()
            self.transition_to(COMPLETING, now_ms)
        else:
            self.protocol_name = None
            self.subscribed_topics = self.compute_subscribed_topics()
            self.transition_to(EMPTY, now_ms)
        self.pending_sync_members.clear()

    # -- the group record --------------------------------------------------------------

    def to_value(self, assignments: Mapping[str, bytes] | None = None) -> GroupMetadataValue:
        """The GroupMetadataValue for the current generation (GroupMetadataManager
        .groupMetadataValue): each member's metadata for the chosen protocol and its
        assignment (from `assignments`, else the member's current one)."""
        members: list[MemberRecord] = []
        if self.members:
            if self.protocol_name is None:
                raise ValueError(f"group {self.group_id} has members but no protocol")
            for m in self.members.values():
                assignment = m.assignment if assignments is None else assignments.get(m.member_id, b"")
                members.append(MemberRecord(
                    m.member_id, m.group_instance_id, m.client_id, m.client_host, m.rebalance_timeout_ms,
                    m.session_timeout_ms, m.metadata(self.protocol_name), assignment,
                ))
        return GroupMetadataValue(
            self.protocol_type or "", self.generation_id, self.protocol_name, self.leader_id,
            -1 if self.state_timestamp is None else self.state_timestamp, tuple(members),
        )

    @classmethod
    def from_value(cls, group_id: str, partition: int, value: GroupMetadataValue) -> GroupMetadata:
        """A group as loaded from its last record (GroupMetadata.loadGroup): Stable with its
        members, or Empty; the members' protocols are the chosen one only."""
        group = cls(group_id, partition, 0, STABLE if value.members else EMPTY)
        group.state_timestamp = None if value.current_state_timestamp < 0 else value.current_state_timestamp
        group.generation_id = value.generation
        group.protocol_name = value.protocol
        group.leader_id = value.leader
        for m in value.members:
            group.add(MemberMetadata(
                m.member_id, m.group_instance_id, m.client_id, m.client_host, m.rebalance_timeout, m.session_timeout,
                value.protocol_type, [(value.protocol or "", m.subscription)], m.assignment,
            ))
        group.protocol_type = value.protocol_type or None
        group.leader_id = value.leader
        group.subscribed_topics = group.compute_subscribed_topics()
        return group

    def apply_value(self, value: GroupMetadataValue) -> None:
        """A record of this live group became durable: take the assignments and static
        member ids it persisted. A record of another generation (memory has moved on and
        will write its own) changes nothing."""
        if self.state is DEAD or value.generation != self.generation_id:
            return
        for record in value.members:
            member = self.members.get(record.member_id)
            if member is None and record.group_instance_id is not None:
                old_id = self.static_members.get(record.group_instance_id)
                if old_id is not None and old_id in self.members:
                    member = self.replace_static_member(record.group_instance_id, old_id, record.member_id)
                    self.log.info("static member %s now has member id %s (was %s)",
                                  record.group_instance_id, record.member_id, old_id)
            if member is not None:
                member.assignment = record.assignment


def renamed_value(value: GroupMetadataValue, old_id: str, new_id: str, subscription: bytes) -> GroupMetadataValue:
    """`value` with static member `old_id` renamed to `new_id` and its subscription replaced."""
    members = tuple(
        replace(m, member_id=new_id, subscription=subscription) if m.member_id == old_id else m for m in value.members
    )
    return replace(value, members=members, leader=new_id if value.leader == old_id else value.leader)

"""The mechanics of a classic group rebalance (GroupCoordinator.scala, Kafka 3.x), shared
by the membership APIs in membership.py:

* a rebalance waits (DelayedJoin) until every known member has rejoined or the rebalance
  timeout passes; an Empty group's first rebalance waits group.initial.rebalance.delay.ms
  more, extended while members keep arriving (KIP-134);
* each member's session expires session.timeout.ms after its last heartbeat, join or
  sync, unless it is waiting in a join or sync; a new member's join waits at most 5 min;
* after a generation starts, members that do not send SyncGroup within the rebalance
  timeout are removed (pending sync);
* a member id handed out with MEMBER_ID_REQUIRED (KIP-394) expires after the session
  timeout if the member does not come back with it.
"""

from __future__ import annotations

from collections.abc import Awaitable

from snakafka.coordinator.group.group import (
    COMPLETING,
    DEAD,
    EMPTY,
    PREPARING,
    STABLE,
    DelayedJoin,
    GroupMetadata,
)
from snakafka.coordinator.group.member import MemberMetadata
from snakafka.coordinator.group.results import JoinResult, SyncResult
from snakafka.coordinator.group.runtime import GroupRuntime
from snakafka.coordinator.offsets_schema import (
    GroupMetadataKey,
    GroupMetadataValue,
    encode_group_value,
    encode_key,
)
from snakafka.protocol.errors import ErrorCode, KafkaError

E = ErrorCode
Outcome = JoinResult | Awaitable[JoinResult]


def validate_member(group: GroupMetadata, member_id: str, group_instance_id: str | None) -> ErrorCode | None:
    """If an instance id is given it must map to `member_id` (else FENCED_INSTANCE_ID, or
    UNKNOWN_MEMBER_ID if unknown); the member must be in the group."""
    if group_instance_id is not None:
        current = group.static_members.get(group_instance_id)
        if current is None:
            return E.unknown_member_id
        if current != member_id:
            group.log.info("member %s with instance id %s is fenced by %s", member_id, group_instance_id, current)
            return E.fenced_instance_id
    if member_id not in group.members:
        return E.unknown_member_id
    return None


class Rebalancer:
    def __init__(self, runtime: GroupRuntime) -> None:
        self.rt = runtime
        self.config = runtime.config
        runtime.on_group_loaded = self.on_group_loaded
        runtime.on_group_unloaded = self.on_group_unloaded

    # -- the rebalance ---------------------------------------------------------------------

    def _maybe_prepare_rebalance(self, group: GroupMetadata, reason: str) -> None:
        if group.can_rebalance():
            self._prepare_rebalance(group, reason)

    def _prepare_rebalance(self, group: GroupMetadata, reason: str) -> None:
        if group.state is COMPLETING:
            self._reset_and_propagate_assignment_error(group, E.rebalance_in_progress)
        self._cancel_sync_timer(group)
        if group.state is EMPTY:
            delay = self.config.group_initial_rebalance_delay_ms
            op = DelayedJoin(True, delay, delay, max(group.rebalance_timeout_ms() - delay, 0))
        else:
            op = DelayedJoin(False, group.rebalance_timeout_ms())
        group.log.info("preparing to rebalance in state %s with old generation %d (__consumer_offsets-%d) (reason: %s)",
                       group.state, group.generation_id, group.partition, reason)
        group.transition_to(PREPARING, self.rt.now_ms())
        self._watch_join(group, op)

    def _watch_join(self, group: GroupMetadata, op: DelayedJoin) -> None:
        if group.join_op is not None and group.join_op.entry is not None:
            group.join_op.entry.cancel()
        group.join_op = op
        op.entry = self.rt.timer.schedule_in(op.delay_ms, lambda: self._join_timer_fired(group, op))
        self._check_join(group)

    def _check_join(self, group: GroupMetadata) -> None:
        """Complete the rebalance as soon as every member has rejoined (not during the
        initial delay, which always runs its course)."""
        op = group.join_op
        if op is None or op.initial or group.state is not PREPARING or not group.has_all_members_joined():
            return
        if op.entry is not None:
            op.entry.cancel()
        group.join_op = None
        self._complete_join(group)

    def _join_timer_fired(self, group: GroupMetadata, op: DelayedJoin) -> None:
        if group.join_op is not op or not self.rt.is_current(group):
            return
        group.join_op = None
        if op.initial and group.new_member_added and op.remaining_ms != 0:
            group.new_member_added = False
            delay = min(op.configured_delay_ms, op.remaining_ms)
            self._watch_join(group, DelayedJoin(True, delay, op.configured_delay_ms, max(op.remaining_ms - op.delay_ms, 0)))
            return
        self._complete_join(group)

    def _complete_join(self, group: GroupMetadata) -> None:
        for member in [m for m in group.members.values() if not m.is_awaiting_join and not m.is_static]:
            group.log.info("removing member %s, which did not rejoin", member.member_id)
            group.remove(member.member_id)
        if group.state is DEAD:
            return
        if group.members and not group.maybe_elect_new_joined_leader():
            group.log.error("cannot complete the rebalance: no member rejoined")
            self._watch_join(group, DelayedJoin(False, group.rebalance_timeout_ms()))
            return
        group.init_next_generation(self.rt.now_ms())
        if group.state is EMPTY:
            group.log.info("generation %d is empty (__consumer_offsets-%d)", group.generation_id, group.partition)
            self.rt.spawn(self._store_empty_group(group, group.to_value()))
            return
        group.log.info("stabilized generation %d (__consumer_offsets-%d) with %d members", group.generation_id,
                       group.partition, len(group.members))
        for member in list(group.members.values()):
            group.complete_join(member, group.join_result(member.member_id))
            self.touch(group, member)
            member.is_new = False
            group.pending_sync_members.add(member.member_id)
        generation = group.generation_id
        group.sync_timer = self.rt.timer.schedule_in(group.rebalance_timeout_ms(),
                                                     lambda: self._sync_timer_fired(group, generation))

    async def _store_empty_group(self, group: GroupMetadata, value: GroupMetadataValue) -> None:
        try:
            await self._write_group(group, value)
        except KafkaError as e:
            # the previous generation stays in the log; it has no member that could act on it
            group.log.warning("could not write the empty group's metadata: %s", e.code.name)

    def _sync_timer_fired(self, group: GroupMetadata, generation: int) -> None:
        if not self.rt.is_current(group) or generation != group.generation_id:
            return
        group.sync_timer = None
        if group.state in (COMPLETING, STABLE) and group.pending_sync_members:
            pending = sorted(group.pending_sync_members)
            for member_id in pending:
                group.remove(member_id)
            group.log.info("removed members %s, which did not send SyncGroup in time", pending)
            self._prepare_rebalance(group, f"removing {pending} on pending sync expiration")

    def _cancel_sync_timer(self, group: GroupMetadata) -> None:
        if group.sync_timer is not None:
            group.sync_timer.cancel()
            group.sync_timer = None

    def _remove_pending_sync(self, group: GroupMetadata, member_id: str) -> None:
        group.pending_sync_members.discard(member_id)
        if not group.pending_sync_members:
            self._cancel_sync_timer(group)

    def _reset_and_propagate_assignment_error(self, group: GroupMetadata, error: ErrorCode) -> None:
        for member in group.members.values():
            member.assignment = b""
        self._propagate_assignment(group, error)

    def _propagate_assignment(self, group: GroupMetadata, error: ErrorCode) -> None:
        for member in list(group.members.values()):
            if error is E.none:
                result = SyncResult(E.none, group.protocol_type, group.protocol_name, member.assignment)
            else:
                result = SyncResult(error)
            if group.complete_sync(member, result):
                # its session may have run out while it waited: count from now
                self.touch(group, member)

    async def _write_group(self, group: GroupMetadata, value: GroupMetadataValue) -> None:
        key = encode_key(GroupMetadataKey(group.group_id))
        await self.rt.write(group.partition, [(key, encode_group_value(value))])

    def _remove_member(self, group: GroupMetadata, member_id: str, reason: str) -> None:
        """removeMemberAndUpdateGroup: its waiting join is answered UNKNOWN_MEMBER_ID, the
        group rebalances (or completes a rebalance that waited for it)."""
        group.remove(member_id)
        if group.state in (STABLE, COMPLETING):
            self._maybe_prepare_rebalance(group, reason)
        elif group.state is PREPARING:
            self._check_join(group)

    def _remove_pending_member(self, group: GroupMetadata, member_id: str) -> None:
        group.remove(member_id)
        if group.state is PREPARING:
            self._check_join(group)

    # -- sessions --------------------------------------------------------------------------

    def touch(self, group: GroupMetadata, member: MemberMetadata, timeout_ms: int | None = None) -> None:
        """The member is alive now: its session runs for `timeout_ms` (default: its session
        timeout) from now (completeAndScheduleNextHeartbeatExpiration)."""
        deadline = self.rt.timer.now() + (member.session_timeout_ms if timeout_ms is None else timeout_ms)
        member.session_deadline_ms = deadline
        if member.timer is not None and member.timer.active and member.timer.deadline_ms <= deadline:
            return  # the timer fires earlier and finds the new deadline
        if member.timer is not None:
            member.timer.cancel()
        member.timer = self.rt.timer.schedule_at(deadline, lambda: self._session_timer_fired(group, member))

    def _session_timer_fired(self, group: GroupMetadata, member: MemberMetadata) -> None:
        member.timer = None
        if not self.rt.is_current(group) or group.members.get(member.member_id) is not member:
            return
        if self.rt.timer.now() < member.session_deadline_ms:
            member.timer = self.rt.timer.schedule_at(member.session_deadline_ms,
                                                     lambda: self._session_timer_fired(group, member))
            return
        if not member.is_new and (member.is_awaiting_join or member.is_awaiting_sync):
            return  # waiting in a rebalance counts as alive; the rebalance touches it when done
        group.log.info("member %s has failed (session timeout), removing it", member.member_id)
        self._remove_member(group, member.member_id, f"removing member {member.member_id} on heartbeat expiration")

    def _expire_pending_member(self, group: GroupMetadata, member_id: str) -> None:
        if self.rt.is_current(group) and member_id in group.pending_members:
            group.log.info("pending member %s expired (session timeout)", member_id)
            self._remove_pending_member(group, member_id)

    # -- loading -----------------------------------------------------------------------------

    def on_group_loaded(self, group: GroupMetadata) -> None:
        for member in group.members.values():
            self.touch(group, member)

    def on_group_unloaded(self, group: GroupMetadata) -> None:
        previous = group.state
        group.log.info("unloading group with generation %d", group.generation_id)
        group.transition_to(DEAD, self.rt.now_ms())
        for member in group.members.values():
            if previous is PREPARING:
                group.complete_join(member, JoinResult.error(member.member_id, E.not_coordinator))
            group.complete_sync(member, SyncResult(E.not_coordinator))
            if member.timer is not None:
                member.timer.cancel()

"""The group membership APIs of the classic protocol: JoinGroup, SyncGroup, Heartbeat and
LeaveGroup (GroupCoordinator.handle*, Kafka 3.x), on top of the rebalance mechanics of
rebalance.py.

A static member (KIP-345) that rejoins with a new member id takes over its old identity;
in a Stable group whose protocol stays the same this needs no rebalance, only a group
record write.

Every answer that depends on a record (the leader's assignment, a static member's new
id) is given only after the record is durable and applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from snakafka.coordinator.group.config import NEW_MEMBER_JOIN_TIMEOUT_MS
from snakafka.coordinator.group.group import (
    COMPLETING,
    DEAD,
    EMPTY,
    PREPARING,
    STABLE,
    GroupMetadata,
    renamed_value,
)
from snakafka.coordinator.group.member import (
    MemberMetadata,
    Protocols,
    protocol_metadata,
)
from snakafka.coordinator.group.rebalance import Outcome, Rebalancer, validate_member
from snakafka.coordinator.group.results import JoinResult, SyncResult
from snakafka.coordinator.group.storage import group_write_error
from snakafka.coordinator.offsets_schema import GroupMetadataValue
from snakafka.protocol.errors import ErrorCode, KafkaError

E = ErrorCode


class GroupMembership(Rebalancer):
    """The membership requests of the group coordinator; one per coordinator."""

    # -- JoinGroup -----------------------------------------------------------------------

    async def join_group(
        self, group_id: str, member_id: str, group_instance_id: str | None, client_id: str, client_host: str,
        session_timeout_ms: int, rebalance_timeout_ms: int, protocol_type: str, protocols: Protocols,
        require_known_member_id: bool, supports_skip_assignment: bool = False, reason: str | None = None,
    ) -> JoinResult:
        error = self.rt.status_error(group_id)
        if error is not None:
            return JoinResult.error(member_id, error)
        cfg = self.config
        if not cfg.group_min_session_timeout_ms <= session_timeout_ms <= cfg.group_max_session_timeout_ms:
            return JoinResult.error(member_id, E.invalid_session_timeout)
        protocols = [(name, bytes(metadata)) for name, metadata in protocols]
        unknown = member_id == ""
        group = self.rt.groups.get(group_id)
        if group is None:
            if not unknown:
                return JoinResult.error(member_id, E.unknown_member_id)
            group = self.rt.new_group(group_id)
        why = reason or "not provided"
        outcome: Outcome
        if not self._accept_joining_member(group, member_id):
            if member_id in group.members:
                self._remove_member(group, member_id, "group is full")
            else:
                self._remove_pending_member(group, member_id)
            outcome = JoinResult.error("", E.group_max_size_reached)
        elif unknown:
            outcome = self._new_member_join(group, group_instance_id, require_known_member_id, supports_skip_assignment,
                                            client_id, client_host, rebalance_timeout_ms, session_timeout_ms,
                                            protocol_type, protocols, why)
        else:
            outcome = self._current_member_join(group, member_id, group_instance_id, client_id, client_host,
                                                rebalance_timeout_ms, session_timeout_ms, protocol_type, protocols, why)
        if group.state is PREPARING:
            self._check_join(group)
        if isinstance(outcome, JoinResult):
            return outcome
        return await asyncio.shield(outcome)

    def _accept_joining_member(self, group: GroupMetadata, member_id: str) -> bool:
        max_size = self.config.group_max_size
        if group.state in (EMPTY, DEAD):
            return True
        if group.state is PREPARING:
            member = group.members.get(member_id)
            return (member is not None and member.is_awaiting_join) or group.num_awaiting_join < max_size
        return member_id in group.members or len(group.members) < max_size

    def _new_member_join(
        self, group: GroupMetadata, instance_id: str | None, require_known: bool, supports_skip: bool,
        client_id: str, client_host: str, rebalance_timeout_ms: int, session_timeout_ms: int,
        protocol_type: str, protocols: Protocols, reason: str,
    ) -> Outcome:
        if group.state is DEAD:
            return JoinResult.error("", E.coordinator_not_available)
        if not group.supports_protocols(protocol_type, {name for name, _ in protocols}):
            return JoinResult.error("", E.inconsistent_group_protocol)
        new_id = group.generate_member_id(client_id, instance_id)
        if instance_id is not None:
            old_id = group.static_members.get(instance_id)
            if old_id is not None:
                group.log.info("static member %s joins with an unknown member id in state %s: replacing %s by %s",
                               instance_id, group.state, old_id, new_id)
                return self._replace_static_member(group, instance_id, old_id, new_id, protocols, supports_skip, reason)
        elif require_known:
            group.log.info("dynamic member joins in state %s: asking it to rejoin with member id %s", group.state, new_id)
            group.pending_members.add(new_id)
            self.rt.timer.schedule_in(session_timeout_ms, lambda: self._expire_pending_member(group, new_id))
            return JoinResult.error(new_id, E.member_id_required)
        return self._add_member_and_rebalance(group, new_id, instance_id, client_id, client_host, rebalance_timeout_ms,
                                              session_timeout_ms, protocol_type, protocols, reason)

    def _current_member_join(
        self, group: GroupMetadata, member_id: str, instance_id: str | None, client_id: str, client_host: str,
        rebalance_timeout_ms: int, session_timeout_ms: int, protocol_type: str, protocols: Protocols, reason: str,
    ) -> Outcome:
        if group.state is DEAD:
            return JoinResult.error(member_id, E.coordinator_not_available)
        if not group.supports_protocols(protocol_type, {name for name, _ in protocols}):
            return JoinResult.error(member_id, E.inconsistent_group_protocol)
        if member_id in group.pending_members:
            if instance_id is not None:  # a pending member is never static
                return JoinResult.error(member_id, E.unknown_server_error)
            return self._add_member_and_rebalance(group, member_id, None, client_id, client_host, rebalance_timeout_ms,
                                                  session_timeout_ms, protocol_type, protocols, reason)
        error = validate_member(group, member_id, instance_id)
        if error is not None:
            return JoinResult.error(member_id, error)
        member = group.members[member_id]
        if group.state is PREPARING:
            return self._update_member_and_rebalance(group, member, protocols, f"member {member_id} rejoins; {reason}")
        if group.state is COMPLETING:
            if member.matches(protocols):  # it missed its JoinGroup answer: the same again
                return group.join_result(member_id)
            return self._update_member_and_rebalance(group, member, protocols, f"member {member_id} changed metadata")
        if group.state is STABLE:
            if group.is_leader(member_id) or not member.matches(protocols):
                # the leader rejoins to trigger a rebalance (e.g. topic metadata changed)
                return self._update_member_and_rebalance(group, member, protocols, f"member {member_id} rejoins; {reason}")
            return group.join_result(member_id, with_members=False)
        group.log.warning("member %s rejoins a group in unexpected state %s", member_id, group.state)
        return JoinResult.error(member_id, E.unknown_member_id)

    def _add_member_and_rebalance(
        self, group: GroupMetadata, member_id: str, instance_id: str | None, client_id: str, client_host: str,
        rebalance_timeout_ms: int, session_timeout_ms: int, protocol_type: str, protocols: Protocols, reason: str,
    ) -> Awaitable[JoinResult]:
        member = MemberMetadata(member_id, instance_id, client_id, client_host, rebalance_timeout_ms,
                                session_timeout_ms, protocol_type, list(protocols), is_new=True)
        if group.state is PREPARING and group.generation_id == 0:
            group.new_member_added = True
        group.add(member)
        waiter = group.await_join(member)
        # a new member cannot heartbeat until it has joined: its join may wait 5 minutes at most
        self.touch(group, member, NEW_MEMBER_JOIN_TIMEOUT_MS)
        self._maybe_prepare_rebalance(group, f"adding new member {member_id} with instance id {instance_id}; {reason}")
        return waiter

    def _update_member_and_rebalance(self, group: GroupMetadata, member: MemberMetadata, protocols: Protocols,
                                     reason: str) -> Awaitable[JoinResult]:
        group.update_member(member, protocols)
        waiter = group.await_join(member)
        self._maybe_prepare_rebalance(group, reason)
        return waiter

    def _replace_static_member(self, group: GroupMetadata, instance_id: str, old_id: str, new_id: str,
                               protocols: Protocols, supports_skip: bool, reason: str) -> Outcome:
        if group.state is STABLE and group.protocol_name is not None:
            if group.select_protocol({old_id: protocols}) == group.protocol_name:
                # no rebalance: persist the new member id, then hand back the current generation
                value = renamed_value(group.to_value(), old_id, new_id,
                                      protocol_metadata(protocols, group.protocol_name))
                return self.rt.spawn(self._persist_static_member(group, instance_id, new_id, protocols, value,
                                                                 group.leader_id, supports_skip))
            member = group.replace_static_member(instance_id, old_id, new_id)
            self.touch(group, member)
            waiter = self._update_member_and_rebalance(
                group, member, protocols, f"static member {instance_id} rejoins with a protocol change; {reason}")
            return waiter
        if group.state in (COMPLETING, PREPARING):
            # in CompletingRebalance the leader may already be assigning to the old id: start over
            member = group.replace_static_member(instance_id, old_id, new_id)
            self.touch(group, member)
            group.update_member(member, protocols)
            waiter = group.await_join(member)
            if group.state is COMPLETING:
                self._prepare_rebalance(group, f"static member {instance_id} rejoins with new member id; {reason}")
            return waiter
        group.log.error("static member %s rejoins a group in state %s", instance_id, group.state)
        return JoinResult.error("", E.unknown_server_error)

    async def _persist_static_member(self, group: GroupMetadata, instance_id: str, new_id: str, protocols: Protocols,
                                     value: GroupMetadataValue, leader_before: str | None,
                                     supports_skip: bool) -> JoinResult:
        try:
            await self._write_group(group, value)
        except KafkaError as e:
            group.log.warning("could not persist static member %s's new member id: %s", instance_id, e.code.name)
            return JoinResult(group_write_error(e.code), group.generation_id, group.protocol_type, group.protocol_name,
                              leader_before or "", "")
        member = group.members.get(new_id)
        if not self.rt.is_current(group) or member is None or group.static_members.get(instance_id) != new_id:
            # the old member left or the group moved to another generation meanwhile
            return JoinResult.error("", E.unknown_member_id)
        group.update_member(member, protocols)
        self.touch(group, member)
        if group.state is not STABLE:  # a rebalance began meanwhile: the member learns it when it syncs
            return group.join_result(new_id, leader_before or "", with_members=False)
        if supports_skip:
            # JoinGroup v9+: the leader learns it leads, but must not run the assignor again
            leader = group.is_leader(new_id)
            return group.join_result(new_id, with_members=leader, skip_assignment=leader)
        # older clients: hand back the previous leader id so a returning leader does not reassign
        return group.join_result(new_id, leader_before or "", with_members=False)

    # -- SyncGroup -------------------------------------------------------------------------

    async def sync_group(self, group_id: str, generation_id: int, member_id: str, group_instance_id: str | None,
                         protocol_type: str | None, protocol_name: str | None,
                         assignments: dict[str, bytes]) -> SyncResult:
        error = self.rt.status_error(group_id)
        if error is E.coordinator_load_in_progress:
            # the rebalance state is lost while loading: make the member rejoin
            return SyncResult(E.rebalance_in_progress)
        if error is not None:
            return SyncResult(error)
        group = self.rt.groups.get(group_id)
        if group is None:
            return SyncResult(E.unknown_member_id)
        if group.state is DEAD:
            return SyncResult(E.coordinator_not_available)
        error = validate_member(group, member_id, group_instance_id)
        if error is None and generation_id != group.generation_id:
            error = E.illegal_generation
        if error is None and ((protocol_type is not None and protocol_type != group.protocol_type)
                              or (protocol_name is not None and protocol_name != group.protocol_name)):
            error = E.inconsistent_group_protocol
        if error is not None:
            return SyncResult(error)
        if group.state is EMPTY:
            return SyncResult(E.unknown_member_id)
        if group.state is PREPARING:
            return SyncResult(E.rebalance_in_progress)
        member = group.members[member_id]
        if group.state is STABLE:
            self._remove_pending_sync(group, member_id)
            self.touch(group, member)
            return SyncResult(E.none, group.protocol_type, group.protocol_name, member.assignment)
        waiter = group.await_sync(member)
        self._remove_pending_sync(group, member_id)
        if group.is_leader(member_id) and group.storing_generation != group.generation_id:
            group.log.info("assignment received from leader %s for generation %d: %d members, %d static",
                           member_id, group.generation_id, len(group.members), len(group.static_members))
            missing = [m for m in group.members if m not in assignments]
            if missing:
                group.log.warning("empty assignments for members %s in generation %d", missing, group.generation_id)
            full = {m: bytes(assignments.get(m, b"")) for m in group.members}
            group.storing_generation = group.generation_id
            self.rt.spawn(self._store_assignment(group, group.generation_id, group.to_value(full), member_id))
        return await asyncio.shield(waiter)

    async def _store_assignment(self, group: GroupMetadata, generation: int, value: GroupMetadataValue,
                                leader_id: str) -> None:
        error = E.none
        try:
            await self._write_group(group, value)  # applying it sets the members' assignments
        except KafkaError as e:
            error = group_write_error(e.code)
        finally:
            if group.storing_generation == generation:
                group.storing_generation = None
        # other members may have joined while the record was written: act only if this
        # is still the rebalance it was written for
        if not self.rt.is_current(group) or group.state is not COMPLETING or group.generation_id != generation:
            return
        if error is not E.none:
            group.log.warning("could not store the assignment of generation %d: %s", generation, error.name)
            self._reset_and_propagate_assignment_error(group, error)
            self._maybe_prepare_rebalance(group, f"error storing the assignment from leader {leader_id}")
            return
        group.transition_to(STABLE, self.rt.now_ms())
        self._propagate_assignment(group, E.none)

    # -- Heartbeat and LeaveGroup -------------------------------------------------------------

    async def heartbeat(self, group_id: str, member_id: str, group_instance_id: str | None,
                        generation_id: int) -> ErrorCode:
        error = self.rt.status_error(group_id)
        if error is E.coordinator_load_in_progress:
            return E.none  # the group is still loading: answer blindly
        if error is not None:
            return error
        group = self.rt.groups.get(group_id)
        if group is None:
            return E.unknown_member_id
        if group.state is DEAD:
            return E.coordinator_not_available
        error = validate_member(group, member_id, group_instance_id)
        if error is not None:
            return error
        if generation_id != group.generation_id:
            return E.illegal_generation
        if group.state is EMPTY:
            return E.unknown_member_id
        self.touch(group, group.members[member_id])
        return E.rebalance_in_progress if group.state is PREPARING else E.none

    async def leave_group(self, group_id: str,
                          members: list[tuple[str, str | None]]) -> tuple[ErrorCode, list[ErrorCode]]:
        error = self.rt.status_error(group_id)
        if error is not None:
            return error, []
        group = self.rt.groups.get(group_id)
        if group is None:
            return E.none, [E.unknown_member_id] * len(members)
        if group.state is DEAD:
            return E.coordinator_not_available, []
        errors = []
        for member_id, instance_id in members:
            if member_id == "":  # an admin removes a static member by instance id
                current = group.static_members.get(instance_id) if instance_id is not None else None
                if current is None:
                    errors.append(E.unknown_member_id)
                    continue
                member_id = current
            elif member_id in group.pending_members:
                group.log.info("pending member %s left", member_id)
                self._remove_pending_member(group, member_id)
                errors.append(E.none)
                continue
            else:
                error = validate_member(group, member_id, instance_id)
                if error is not None:
                    errors.append(error)
                    continue
            group.log.info("member %s left the group through LeaveGroup", member_id)
            self._remove_member(group, member_id, f"removing member {member_id} on LeaveGroup")
            errors.append(E.none)
        return E.none, errors


"""A member of a classic consumer group: what the Java consumer's ConsumerCoordinator
does, for one process that subscribes to topics.

FindCoordinator, then JoinGroup (a first join without a member id is answered
MEMBER_ID_REQUIRED with one to use, KIP-394), then SyncGroup: the leader computes a range
assignment (client/assignor.py) from the members' subscriptions and sends it; every
member gets its partitions back. A heartbeat task keeps the membership alive and notices
rebalances (REBALANCE_IN_PROGRESS), which set `rejoin_needed`; the owner of the member
commits and calls join() again. Offsets are committed with the member's generation, so
the coordinator refuses commits from a member that was fenced. The coordinator gets a
connection of its own: a JoinGroup may wait for a whole rebalance, fetches must not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from kio.schema.errors import ErrorCode
from kio.static.primitive import i8, i32, i64

from snakafka.client.assignor import RANGE, range_assign
from snakafka.client.cluster import ClientError, Cluster, TopicPartition, backoff
from snakafka.client.connection import BrokerConnection, ConnectionClosed
from snakafka.client.requests import build, millis, request, schema
from snakafka.protocol.consumer_protocol import (
    CONSUMER_PROTOCOL_TYPE,
    SubscriptionError,
    encode_assignment,
    encode_subscription,
    parse_assignment,
    subscribed_topics,
)

log = logging.getLogger(__name__)

OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR, JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP = 8, 9, 10, 11, 12, 13, 14
GROUP_KEY_TYPE = 0
COORDINATOR_GONE = frozenset({ErrorCode.not_coordinator, ErrorCode.coordinator_not_available})
# The member's generation is over: rejoin (keeping the member id unless it is unknown).
REJOIN = frozenset({ErrorCode.rebalance_in_progress, ErrorCode.illegal_generation, ErrorCode.unknown_member_id})
MAX_JOIN_ATTEMPTS = 50


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """group.* consumer configs, with the Java consumer's defaults."""

    group_id: str
    session_timeout_ms: int = 45000
    heartbeat_interval_ms: int = 3000
    rebalance_timeout_ms: int = 300000  # max.poll.interval.ms
    group_instance_id: str | None = None
    retry_backoff_ms: int = 100


class GroupMember:
    """Membership of one group for a subscription to `topics`."""

    def __init__(self, cluster: Cluster, settings: GroupSettings, topics: list[str]) -> None:
        self.cluster = cluster
        self.settings = settings
        self.topics = topics
        self.member_id = ""
        self.generation = -1
        self.assignment: list[TopicPartition] = []
        self.rejoin_needed = True
        self._coordinator: BrokerConnection | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._finding = asyncio.Lock()  # one FindCoordinator at a time (heartbeats and commits both ask)

    # -- coordinator -----------------------------------------------------------------

    async def _coordinator_conn(self) -> BrokerConnection:
        async with self._finding:
            if self._coordinator is None or self._coordinator.broken:
                self._coordinator = await self._find_coordinator()
            return self._coordinator

    async def _find_coordinator(self) -> BrokerConnection:
        for attempt in range(1, 101):
            conn = await self.cluster.any_connection()
            found = await conn.send(request(FIND_COORDINATOR, 3, key=self.settings.group_id, key_type=i8(GROUP_KEY_TYPE)))
            if found.error_code == ErrorCode.none:
                log.info("group %s: coordinator is broker %d at %s:%d", self.settings.group_id, found.node_id,
                         found.host, found.port)
                return await BrokerConnection(found.host, int(found.port), client_id=self.cluster.client_id).connect()
            if found.error_code not in (*COORDINATOR_GONE, ErrorCode.coordinator_load_in_progress):
                raise ClientError(f"FindCoordinator for group {self.settings.group_id}: {found.error_code.name.upper()}")
            await asyncio.sleep(backoff(attempt, self.settings.retry_backoff_ms))
        raise ClientError(f"no coordinator for group {self.settings.group_id}")

    async def _forget_coordinator(self) -> None:
        conn, self._coordinator = self._coordinator, None
        if conn is not None:
            await conn.close()

    async def _call(self, req: Any, timeout: float = 30.0) -> Any:
        """Send to the coordinator; None (coordinator forgotten) if the connection failed."""
        try:
            conn = await self._coordinator_conn()
            return await conn.send(req, timeout=timeout)
        except (ClientError, ConnectionClosed, TimeoutError, OSError) as exc:
            log.warning("group %s: coordinator request failed: %s", self.settings.group_id, exc)
            await self._forget_coordinator()
            return None

    # -- join / sync -----------------------------------------------------------------

    async def join(self) -> list[TopicPartition]:
        """(Re)join the group until a generation is complete; the partitions assigned."""
        await self._stop_heartbeat()
        subscription = encode_subscription(sorted(self.topics))
        join_timeout = self.settings.rebalance_timeout_ms / 1000 + 5
        for attempt in range(1, MAX_JOIN_ATTEMPTS + 1):
            pause = backoff(attempt, self.settings.retry_backoff_ms)
            s = schema(JOIN_GROUP, 7)
            joined = await self._call(request(
                JOIN_GROUP, 7, group_id=self.settings.group_id, session_timeout=millis(self.settings.session_timeout_ms),
                rebalance_timeout=millis(self.settings.rebalance_timeout_ms), member_id=self.member_id,
                group_instance_id=self.settings.group_instance_id, protocol_type=CONSUMER_PROTOCOL_TYPE,
                protocols=(build(s.JoinGroupRequestProtocol, name=RANGE, metadata=subscription),)), join_timeout)
            if joined is None or not await self._join_ok(joined.error_code, joined):
                await asyncio.sleep(pause)
                continue
            self.member_id, self.generation = joined.member_id, int(joined.generation_id)
            assignments = await self._assign(joined) if joined.leader == self.member_id else {}
            s = schema(SYNC_GROUP, 5)
            synced = await self._call(request(
                SYNC_GROUP, 5, group_id=self.settings.group_id, generation_id=i32(self.generation),
                member_id=self.member_id, group_instance_id=self.settings.group_instance_id,
                protocol_type=CONSUMER_PROTOCOL_TYPE, protocol_name=RANGE,
                assignments=tuple(build(s.SyncGroupRequestAssignment, member_id=m, assignment=a)
                                  for m, a in assignments.items())), join_timeout)
            if synced is None or not await self._join_ok(synced.error_code, synced):
                await asyncio.sleep(pause)
                continue
            parsed = parse_assignment(synced.assignment)
            if parsed is None:
                raise ClientError(f"group {self.settings.group_id}: the leader's assignment does not parse")
            self.assignment = sorted((t, p) for t, ps in parsed.partitions.items() if t in self.topics for p in ps)
            self.rejoin_needed = False
            log.info("group %s: joined generation %d as %s, assigned %s", self.settings.group_id, self.generation,
                     self.member_id, ", ".join(f"{t}-{p}" for t, p in self.assignment) or "nothing")
            self._heartbeat = asyncio.create_task(self._heartbeat_loop(self.generation), name="group-heartbeat")
            return self.assignment
        raise ClientError(f"could not join group {self.settings.group_id} after {MAX_JOIN_ATTEMPTS} attempts")

    async def _join_ok(self, error: ErrorCode, resp: Any) -> bool:
        """Whether a Join/SyncGroup answer lets us go on; adjusts state for a retry."""
        if error == ErrorCode.none:
            return True
        if error == ErrorCode.member_id_required:
            self.member_id = resp.member_id
        elif error == ErrorCode.unknown_member_id:
            self.member_id = ""
        elif error in COORDINATOR_GONE:
            await self._forget_coordinator()
        elif error not in (ErrorCode.rebalance_in_progress, ErrorCode.illegal_generation,
                           ErrorCode.coordinator_load_in_progress):
            raise ClientError(f"group {self.settings.group_id}: {error.name.upper()}")
        log.info("group %s: %s, joining again", self.settings.group_id, error.name.upper())
        return False

    async def _assign(self, joined: Any) -> dict[str, bytes]:
        """As leader: the range assignment of every member's subscription."""
        subscriptions: dict[str, list[str]] = {}
        for m in joined.members:
            try:
                subscriptions[m.member_id] = subscribed_topics(m.metadata)
            except SubscriptionError as exc:
                log.warning("member %s sent a subscription that does not parse (%s): assigning it nothing", m.member_id, exc)
                subscriptions[m.member_id] = []
        topics = sorted({t for ts in subscriptions.values() for t in ts})
        await self.cluster.refresh(topics)
        counts = {t: self.cluster.partition_count(t) for t in topics}
        plan = range_assign(subscriptions, counts)
        log.info("group %s: as leader, assigned %s", self.settings.group_id, plan)
        return {m: encode_assignment(parts) for m, parts in plan.items()}

    # -- heartbeats ------------------------------------------------------------------

    async def _heartbeat_loop(self, generation: int) -> None:
        interval = self.settings.heartbeat_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            resp = await self._call(request(HEARTBEAT, 4, group_id=self.settings.group_id, generation_id=i32(generation),
                                            member_id=self.member_id, group_instance_id=self.settings.group_instance_id),
                                    self.settings.session_timeout_ms / 1000)
            error = ErrorCode.coordinator_not_available if resp is None else resp.error_code
            if error == ErrorCode.none:
                continue
            log.info("group %s: heartbeat answered %s, rejoining", self.settings.group_id, error.name.upper())
            if error == ErrorCode.unknown_member_id:
                self.member_id = ""
            elif error in COORDINATOR_GONE:
                await self._forget_coordinator()
            elif error == ErrorCode.fenced_instance_id:
                log.error("group %s: another member uses group.instance.id %s", self.settings.group_id,
                          self.settings.group_instance_id)
            self.rejoin_needed = True
            return

    async def _stop_heartbeat(self) -> None:
        task, self._heartbeat = self._heartbeat, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- offsets ---------------------------------------------------------------------

    async def committed(self, tps: list[TopicPartition]) -> dict[TopicPartition, int | None]:
        """The group's committed offset per partition (None: nothing committed)."""
        s = schema(OFFSET_FETCH, 7)
        topics: dict[str, list[int]] = {}
        for t, p in tps:
            topics.setdefault(t, []).append(p)
        for attempt in range(1, 51):
            resp = await self._call(request(OFFSET_FETCH, 7, group_id=self.settings.group_id, require_stable=True,
                                            topics=tuple(build(s.OffsetFetchRequestTopic, name=t,
                                                               partition_indexes=tuple(i32(p) for p in ps))
                                                         for t, ps in topics.items())))
            error = ErrorCode.coordinator_not_available if resp is None else resp.error_code
            if error == ErrorCode.none:
                result: dict[TopicPartition, int | None] = {tp: None for tp in tps}
                for t in resp.topics:
                    for p in t.partitions:
                        if p.error_code == ErrorCode.unstable_offset_commit:
                            error = p.error_code
                        elif p.error_code != ErrorCode.none:
                            raise ClientError(f"OffsetFetch {t.name}-{p.partition_index}: {p.error_code.name.upper()}")
                        elif p.committed_offset >= 0:
                            result[(t.name, int(p.partition_index))] = int(p.committed_offset)
                if error == ErrorCode.none:
                    return result
            elif error in COORDINATOR_GONE:
                await self._forget_coordinator()
            elif error != ErrorCode.coordinator_load_in_progress:
                raise ClientError(f"OffsetFetch for group {self.settings.group_id}: {error.name.upper()}")
            await asyncio.sleep(backoff(attempt, self.settings.retry_backoff_ms))
        raise ClientError(f"cannot fetch the committed offsets of group {self.settings.group_id}")

    async def commit(self, offsets: dict[TopicPartition, int]) -> bool:
        """Commit with this member's generation. False (logged) if the coordinator
        refused: a rebalance is on (rejoin_needed is then set) or it is unreachable."""
        if not offsets or self.generation < 0:
            return True
        s = schema(OFFSET_COMMIT, 8)
        topics: dict[str, list[tuple[int, int]]] = {}
        for (t, p), o in sorted(offsets.items()):
            topics.setdefault(t, []).append((p, o))
        resp = await self._call(request(
            OFFSET_COMMIT, 8, group_id=self.settings.group_id, generation_id_or_member_epoch=i32(self.generation),
            member_id=self.member_id, group_instance_id=self.settings.group_instance_id,
            topics=tuple(build(s.OffsetCommitRequestTopic, name=t, partitions=tuple(
                build(s.OffsetCommitRequestPartition, partition_index=i32(p), committed_offset=i64(o),
                      committed_leader_epoch=i32(-1), committed_metadata="") for p, o in ps)) for t, ps in topics.items())))
        if resp is None:
            return False
        errors = {(t.name, int(p.partition_index)): p.error_code for t in resp.topics
                  for p in t.partitions if p.error_code != ErrorCode.none}
        if not errors:
            log.debug("group %s: committed %s", self.settings.group_id, offsets)
            return True
        names = {e.name.upper() for e in errors.values()}
        log.warning("group %s: offset commit failed: %s", self.settings.group_id, ", ".join(sorted(names)))
        if errors.keys() and set(errors.values()) & REJOIN:
            self.rejoin_needed = True
        if set(errors.values()) & COORDINATOR_GONE:
            await self._forget_coordinator()
        return False

    # -- leaving ---------------------------------------------------------------------

    async def leave(self) -> None:
        """LeaveGroup (not for static members, which keep their place for a restart)."""
        await self._stop_heartbeat()
        if self.member_id and self.settings.group_instance_id is None:
            s = schema(LEAVE_GROUP, 4)
            resp = await self._call(request(LEAVE_GROUP, 4, group_id=self.settings.group_id,
                                            members=(build(s.MemberIdentity, member_id=self.member_id,
                                                           group_instance_id=None),)), 5.0)
            if resp is not None:
                log.info("group %s: left (%s)", self.settings.group_id, resp.error_code.name.upper())
        self.member_id, self.generation = "", -1
        await self._forget_coordinator()

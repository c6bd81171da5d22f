"""Helpers of the wire-level group API tests (test_group_wire_*.py): kio requests at a
chosen version, sent with BrokerConnection on the shared session broker, each with a
timeout; fresh uuid-named groups; a one-member stable group.

Every test uses its own group ids and topic names, and bounds its time: each request has
a timeout, and so does each whole scenario. Topics are created first (Kafka checks that
they exist).
"""

from __future__ import annotations

import asyncio
import datetime
import importlib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

from kio.schema.errors import ErrorCode
from kio.static.primitive import i8, i16, i32, i32Timedelta, i64, i64Timedelta

from snakafka.client.connection import BrokerConnection
from snakafka.protocol.consumer_protocol import encode_assignment, encode_subscription
from snakafka.testing.process import BrokerProcess

REQUEST_TIMEOUT = 5.0  # seconds, for every request
SCENARIO_TIMEOUT = 20.0  # seconds, for a whole test
CLIENT_ID = "group-wire-test"
CONSUMER = "consumer"  # the protocol type of consumer groups
RANGE = "range"  # the (only) assignor our members offer
SESSION_MS = 10_000  # leftover members of a test expire soon after it
REBALANCE_MS = 10_000
MIN_SESSION_MS = 6_000  # group.min.session.timeout.ms (default)
MAX_SESSION_MS = 1_800_000  # group.max.session.timeout.ms (default)
GROUP_KEY, TRANSACTION_KEY = 0, 1  # FindCoordinator key types
NO_OFFSET = -1
AUTHORIZED_OPERATIONS_OMITTED = -(2**31)

T = TypeVar("T")
TopicPartition = tuple[str, int]


# -- plumbing ------------------------------------------------------------------------------


def schema(api: str, version: int) -> ModuleType:
    """kio's request module of `api` at `version`, e.g. schema("join_group", 4)."""
    return importlib.import_module(f"kio.schema.{api}.v{version}.request")


def millis(ms: int) -> i32Timedelta:
    return i32Timedelta.parse(datetime.timedelta(milliseconds=ms))


def run(broker: BrokerProcess, scenario: Callable[[BrokerConnection], Awaitable[T]]) -> T:
    """Run `scenario` on one fresh connection to the broker, bounded in time."""
    host, port = broker.bootstrap.rsplit(":", 1)

    async def connected() -> T:
        async with BrokerConnection(host, int(port), client_id=CLIENT_ID) as conn:
            return await scenario(conn)

    return asyncio.run(asyncio.wait_for(connected(), SCENARIO_TIMEOUT))


async def call(conn: BrokerConnection, request: Any) -> Any:
    return await conn.send(request, timeout=REQUEST_TIMEOUT)


async def fresh_group(conn: BrokerConnection, tag: str) -> str:
    """A new group id, once this broker coordinates it and has loaded its partition of
    __consumer_offsets (which the first FindCoordinator of a broker's life creates)."""
    group_id = f"gw-{tag}-{uuid.uuid4().hex[:8]}"
    deadline = asyncio.get_running_loop().time() + REQUEST_TIMEOUT
    while True:
        found = await call(conn, schema("find_coordinator", 3).FindCoordinatorRequest(key=group_id, key_type=i8(GROUP_KEY)))
        if found.error_code == ErrorCode.none:
            fetched = await call(conn, schema("offset_fetch", 7).OffsetFetchRequest(group_id=group_id, topics=None))
            if fetched.error_code == ErrorCode.none:
                return group_id
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no coordinator for {group_id}: {found}")
        await asyncio.sleep(0.05)


async def create_topic(conn: BrokerConnection, name: str, partitions: int) -> None:
    m = schema("create_topics", 7)
    resp = await call(conn, m.CreateTopicsRequest(
        topics=(m.CreatableTopic(name=name, num_partitions=i32(partitions), replication_factor=i16(1),
                                 assignments=(), configs=()),),
        timeout=millis(int(REQUEST_TIMEOUT * 1000)),
    ))
    assert [(t.name, t.error_code) for t in resp.topics] == [(name, ErrorCode.none)]


# -- request builders ----------------------------------------------------------------------


def join_request(version: int, group_id: str, member_id: str, metadata: bytes, *, protocol_type: str = CONSUMER,
                 protocol: str = RANGE, session_ms: int = SESSION_MS) -> Any:
    m = schema("join_group", version)
    fields: dict[str, Any] = {
        "group_id": group_id, "session_timeout": millis(session_ms), "member_id": member_id,
        "protocol_type": protocol_type, "protocols": (m.JoinGroupRequestProtocol(name=protocol, metadata=metadata),),
    }
    if version >= 1:  # v0 uses the session timeout as rebalance timeout; kio's default (-1) is no timeout at all
        fields["rebalance_timeout"] = millis(REBALANCE_MS)
    return m.JoinGroupRequest(**fields)


def sync_request(version: int, group_id: str, generation: int, member_id: str, assignments: dict[str, bytes],
                 **v5_fields: str | None) -> Any:
    m = schema("sync_group", version)
    return m.SyncGroupRequest(
        group_id=group_id, generation_id=i32(generation), member_id=member_id, **v5_fields,
        assignments=tuple(m.SyncGroupRequestAssignment(member_id=k, assignment=v) for k, v in assignments.items()),
    )


def heartbeat_request(version: int, group_id: str, generation: int, member_id: str) -> Any:
    return schema("heartbeat", version).HeartbeatRequest(group_id=group_id, generation_id=i32(generation),
                                                         member_id=member_id)


def leave_request(version: int, group_id: str, *member_ids: str) -> Any:
    m = schema("leave_group", version)
    if version < 3:
        [member_id] = member_ids
        return m.LeaveGroupRequest(group_id=group_id, member_id=member_id)
    return m.LeaveGroupRequest(group_id=group_id, members=tuple(m.MemberIdentity(member_id=x) for x in member_ids))


def commit_request(version: int, group_id: str, offsets: Mapping[TopicPartition, tuple[int, str | None]], *,
                   generation: int = -1, member_id: str = "", leader_epoch: int = -1,
                   retention_ms: int = -1) -> Any:
    """OffsetCommit v2-v9; generation -1 and no member id: a consumer without group management."""
    m = schema("offset_commit", version)
    by_topic: dict[str, list[Any]] = {}
    for (topic, partition), (offset, metadata) in offsets.items():
        epoch = {"committed_leader_epoch": i32(leader_epoch)} if version >= 6 else {}
        by_topic.setdefault(topic, []).append(m.OffsetCommitRequestPartition(
            partition_index=i32(partition), committed_offset=i64(offset), committed_metadata=metadata, **epoch))
    fields: dict[str, Any] = {}
    if 2 <= version <= 4:
        fields["retention_time"] = i64Timedelta.parse(datetime.timedelta(milliseconds=retention_ms))
    return m.OffsetCommitRequest(
        group_id=group_id, generation_id_or_member_epoch=i32(generation), member_id=member_id, **fields,
        topics=tuple(m.OffsetCommitRequestTopic(name=t, partitions=tuple(ps)) for t, ps in by_topic.items()),
    )


def fetch_topics(m: ModuleType, cls: str, partitions: list[TopicPartition] | None) -> tuple[Any, ...] | None:
    if partitions is None:
        return None
    by_topic: dict[str, list[i32]] = {}
    for topic, partition in partitions:
        by_topic.setdefault(topic, []).append(i32(partition))
    return tuple(getattr(m, cls)(name=t, partition_indexes=tuple(ps)) for t, ps in by_topic.items())


def fetch_request(version: int, group_id: str, partitions: list[TopicPartition] | None) -> Any:
    """OffsetFetch v1-v7 (one group); partitions None: all the group's offsets (v2+)."""
    m = schema("offset_fetch", version)
    return m.OffsetFetchRequest(group_id=group_id, topics=fetch_topics(m, "OffsetFetchRequestTopic", partitions))


def multi_fetch_request(version: int, groups: dict[str, list[TopicPartition] | None]) -> Any:
    """OffsetFetch v8+: several groups in one request."""
    m = schema("offset_fetch", version)
    return m.OffsetFetchRequest(groups=tuple(
        m.OffsetFetchRequestGroup(group_id=g, topics=fetch_topics(m, "OffsetFetchRequestTopics", ps))
        for g, ps in groups.items()
    ))


def offset_delete_request(group_id: str, partitions: list[TopicPartition]) -> Any:
    m = schema("offset_delete", 0)
    by_topic: dict[str, list[Any]] = {}
    for topic, partition in partitions:
        by_topic.setdefault(topic, []).append(m.OffsetDeleteRequestPartition(partition_index=i32(partition)))
    return m.OffsetDeleteRequest(group_id=group_id, topics=tuple(
        m.OffsetDeleteRequestTopic(name=t, partitions=tuple(ps)) for t, ps in by_topic.items()))


def describe_request(*group_ids: str) -> Any:
    return schema("describe_groups", 5).DescribeGroupsRequest(groups=group_ids, include_authorized_operations=False)


# -- reading answers -----------------------------------------------------------------------


def partition_errors(topics: Any) -> dict[TopicPartition, ErrorCode]:
    """OffsetCommit / OffsetDelete answers, flattened."""
    return {(t.name, int(p.partition_index)): p.error_code for t in topics for p in t.partitions}


def fetched_offsets(topics: Any) -> dict[TopicPartition, tuple[int, str | None, ErrorCode]]:
    """OffsetFetch answers, flattened: (offset, metadata, error) per partition."""
    return {(t.name, int(p.partition_index)): (int(p.committed_offset), p.metadata, p.error_code)
            for t in topics for p in t.partitions}


def members_of(join_response: Any) -> list[tuple[str, bytes]]:
    return [(m.member_id, m.metadata) for m in join_response.members]


# -- a one-member group --------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """The leader and only member of a Stable consumer group."""

    group_id: str
    member_id: str
    generation: int
    subscription: bytes
    assignment: bytes


async def join_stable_group(conn: BrokerConnection, group_id: str, topics: dict[str, int]) -> Member:
    """Join as a modern consumer would (JoinGroup v9: MEMBER_ID_REQUIRED, then rejoin with
    that id), assign every partition of `topics` (name -> partition count) to ourselves
    with SyncGroup v5; the group is Stable once that answers."""
    subscription = encode_subscription(sorted(topics))
    first = await call(conn, join_request(9, group_id, "", subscription))
    assert first.error_code == ErrorCode.member_id_required, first
    joined = await call(conn, join_request(9, group_id, first.member_id, subscription))
    assert joined.error_code == ErrorCode.none and joined.leader == joined.member_id == first.member_id, joined
    assignment = encode_assignment({t: list(range(n)) for t, n in sorted(topics.items())})
    synced = await call(conn, sync_request(5, group_id, joined.generation_id, joined.member_id,
                                           {joined.member_id: assignment}, protocol_type=CONSUMER, protocol_name=RANGE))
    assert synced.error_code == ErrorCode.none and synced.assignment == assignment, synced
    return Member(group_id, joined.member_id, int(joined.generation_id), subscription, assignment)


async def described(conn: BrokerConnection, group_id: str) -> Any:
    [group] = (await call(conn, describe_request(group_id))).groups
    return group


# -- FindCoordinator -----------------------------------------------------------------------

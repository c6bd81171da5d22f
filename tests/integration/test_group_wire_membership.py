"""Wire-level tests of the group membership APIs, at exact protocol versions:
FindCoordinator v0-v3 and v4 (batched keys), JoinGroup (MEMBER_ID_REQUIRED on v4+,
KIP-394), SyncGroup v0 and v5, Heartbeat, LeaveGroup v0-v2 and v3+ (batched members),
ListGroups v4 (states filter) and DescribeGroups v5.

Each request is built with kio at a chosen version and sent with snakafka's own minimal
client (BrokerConnection), and the answers are checked field by field against what Kafka
answers (Kafka's protocol guide and JSON message schemas; GroupCoordinator and KafkaApis
for the semantics). A real client speaks one version of each API, so most advertised
versions are exercised only here. Helpers: group_wire.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from kio.schema.errors import ErrorCode
from kio.static.primitive import i8

from snakafka.client.connection import BrokerConnection
from snakafka.protocol.consumer_protocol import (
    encode_assignment,
    encode_subscription,
    parse_assignment,
)
from snakafka.testing.process import BrokerProcess

from .group_wire import (
    AUTHORIZED_OPERATIONS_OMITTED,
    CLIENT_ID,
    CONSUMER,
    GROUP_KEY,
    MAX_SESSION_MS,
    MIN_SESSION_MS,
    RANGE,
    Member,
    call,
    create_topic,
    describe_request,
    described,
    fresh_group,
    heartbeat_request,
    join_request,
    join_stable_group,
    leave_request,
    members_of,
    run,
    schema,
    sync_request,
)


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_find_coordinator_single_key(broker: BrokerProcess, version: int) -> None:
    async def scenario(conn: BrokerConnection) -> Any:
        group_id = await fresh_group(conn, "fc")
        m = schema("find_coordinator", version)
        key_type = {} if version == 0 else {"key_type": i8(GROUP_KEY)}
        return await call(conn, m.FindCoordinatorRequest(key=group_id, **key_type))

    resp = run(broker, scenario)
    assert resp.error_code == ErrorCode.none
    assert (resp.node_id, resp.host, resp.port) == (0, "127.0.0.1", broker.port)


def test_find_coordinator_v4_batched_keys(broker: BrokerProcess) -> None:
    async def scenario(conn: BrokerConnection) -> tuple[list[str], Any]:
        keys = [await fresh_group(conn, "fc4a"), await fresh_group(conn, "fc4b")]
        m = schema("find_coordinator", 4)
        return keys, await call(conn, m.FindCoordinatorRequest(key_type=i8(GROUP_KEY), coordinator_keys=tuple(keys)))

    keys, resp = run(broker, scenario)
    assert [(c.key, c.error_code, c.node_id, c.host, c.port) for c in resp.coordinators] == [
        (key, ErrorCode.none, 0, "127.0.0.1", broker.port) for key in keys
    ]


# -- JoinGroup -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", [4, 5, 6, 7, 8, 9])
def test_join_group_v4_plus_requires_a_member_id(broker: BrokerProcess, topic_name: str, version: int) -> None:
    subscription = encode_subscription([topic_name])

    async def scenario(conn: BrokerConnection) -> tuple[Any, Any]:
        await create_topic(conn, topic_name, 1)
        group_id = await fresh_group(conn, "join")
        first = await call(conn, join_request(version, group_id, "", subscription))
        rejoined = await call(conn, join_request(version, group_id, first.member_id, subscription))
        return first, rejoined

    first, rejoined = run(broker, scenario)
    assert first.error_code == ErrorCode.member_id_required
    assert first.member_id.startswith(f"{CLIENT_ID}-")  # Kafka: client id, "-", a UUID
    assert (first.generation_id, first.leader, first.members) == (-1, "", ())

    assert rejoined.error_code == ErrorCode.none
    assert rejoined.generation_id == 1
    assert rejoined.member_id == rejoined.leader == first.member_id
    assert rejoined.protocol_name == RANGE
    assert members_of(rejoined) == [(first.member_id, subscription)]  # the leader gets everyone's metadata
    if version >= 5:
        assert [m.group_instance_id for m in rejoined.members] == [None]
    if version >= 7:
        assert rejoined.protocol_type == CONSUMER
    if version >= 9:
        assert rejoined.skip_assignment is False


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_join_group_v0_to_v3_joins_without_a_member_id(broker: BrokerProcess, topic_name: str, version: int) -> None:
    subscription = encode_subscription([topic_name])

    async def scenario(conn: BrokerConnection) -> Any:
        await create_topic(conn, topic_name, 1)
        group_id = await fresh_group(conn, "join-old")
        return await call(conn, join_request(version, group_id, "", subscription))

    joined = run(broker, scenario)
    assert joined.error_code == ErrorCode.none
    assert joined.member_id.startswith(f"{CLIENT_ID}-")
    assert (joined.generation_id, joined.leader, joined.protocol_name) == (1, joined.member_id, RANGE)
    assert members_of(joined) == [(joined.member_id, subscription)]


def test_join_group_inconsistent_protocol(broker: BrokerProcess, topic_name: str) -> None:
    """An empty protocol type never joins; a newcomer must share the group's protocol type
    and support a protocol every member supports."""
    subscription = encode_subscription([topic_name])

    async def scenario(conn: BrokerConnection) -> tuple[Any, Any, Any, Any]:
        await create_topic(conn, topic_name, 1)
        no_type = await call(conn, join_request(5, await fresh_group(conn, "noproto"), "", subscription, protocol_type=""))
        member = await join_stable_group(conn, await fresh_group(conn, "proto"), {topic_name: 1})
        other_type = await call(conn, join_request(5, member.group_id, "", subscription, protocol_type="connect"))
        other_protocol = await call(conn, join_request(5, member.group_id, "", subscription, protocol="roundrobin"))
        still = await call(conn, heartbeat_request(4, member.group_id, member.generation, member.member_id))
        return no_type, other_type, other_protocol, still

    no_type, other_type, other_protocol, still = run(broker, scenario)
    for rejected in (no_type, other_type, other_protocol):
        assert (rejected.error_code, rejected.member_id, rejected.generation_id) == (
            ErrorCode.inconsistent_group_protocol, "", -1)
    assert still.error_code == ErrorCode.none  # the group did not rebalance


def test_join_group_rejects_bad_session_timeouts_and_unknown_member_ids(broker: BrokerProcess, topic_name: str) -> None:
    subscription = encode_subscription([topic_name])

    async def scenario(conn: BrokerConnection) -> tuple[list[Any], Any, Any]:
        await create_topic(conn, topic_name, 1)
        group_id = await fresh_group(conn, "timeout")
        timeouts = [await call(conn, join_request(5, group_id, "", subscription, session_ms=ms))
                    for ms in (MIN_SESSION_MS - 1, MAX_SESSION_MS + 1)]
        unknown = await call(conn, join_request(5, group_id, "made-up-member", subscription))
        return timeouts, unknown, await described(conn, group_id)

    timeouts, unknown, group = run(broker, scenario)
    for rejected in timeouts:
        assert (rejected.error_code, rejected.member_id, rejected.generation_id) == (
            ErrorCode.invalid_session_timeout, "", -1)
    # a member id the coordinator never handed out, for a group that does not exist
    assert (unknown.error_code, unknown.member_id) == (ErrorCode.unknown_member_id, "made-up-member")
    assert (group.error_code, group.group_state) == (ErrorCode.none, "Dead")  # no group was created


# -- SyncGroup, Heartbeat, LeaveGroup ------------------------------------------------------


def test_sync_group_v0(broker: BrokerProcess, topic_name: str) -> None:
    subscription = encode_subscription([topic_name])
    assignment = encode_assignment({topic_name: [0, 1]})

    async def scenario(conn: BrokerConnection) -> Any:
        await create_topic(conn, topic_name, 2)
        group_id = await fresh_group(conn, "sync0")
        joined = await call(conn, join_request(3, group_id, "", subscription))
        assert joined.error_code == ErrorCode.none, joined
        return await call(conn, sync_request(0, group_id, joined.generation_id, joined.member_id,
                                             {joined.member_id: assignment}))

    synced = run(broker, scenario)
    assert (synced.error_code, synced.assignment) == (ErrorCode.none, assignment)
    parsed = parse_assignment(synced.assignment)
    assert parsed is not None and parsed.partitions == {topic_name: [0, 1]}


def test_sync_group_v5_checks_protocol_type_and_name(broker: BrokerProcess, topic_name: str) -> None:
    subscription = encode_subscription([topic_name])
    assignment = encode_assignment({topic_name: [0, 1]})

    async def scenario(conn: BrokerConnection) -> dict[str, Any]:
        await create_topic(conn, topic_name, 2)
        group_id = await fresh_group(conn, "sync5")
        first = await call(conn, join_request(9, group_id, "", subscription))
        joined = await call(conn, join_request(9, group_id, first.member_id, subscription))
        gen, me = int(joined.generation_id), joined.member_id

        def sync(generation: int = gen, ptype: str | None = CONSUMER, pname: str | None = RANGE) -> Any:
            return sync_request(5, group_id, generation, me, {me: assignment}, protocol_type=ptype, protocol_name=pname)

        answers = {
            "wrong type": await call(conn, sync(ptype="connect")),
            "wrong name": await call(conn, sync(pname="roundrobin")),
            "wrong generation": await call(conn, sync(generation=gen + 1)),
            "leader": await call(conn, sync()),
            # in Stable, a member that syncs again gets its assignment again; null type/name are not checked
            "again": await call(conn, sync(ptype=None, pname=None)),
        }
        answers["state"] = (await described(conn, group_id)).group_state
        return answers

    answers = run(broker, scenario)
    assert answers["wrong type"].error_code == ErrorCode.inconsistent_group_protocol
    assert answers["wrong name"].error_code == ErrorCode.inconsistent_group_protocol
    assert answers["wrong generation"].error_code == ErrorCode.illegal_generation
    for key in ("leader", "again"):
        synced = answers[key]
        assert (synced.error_code, synced.protocol_type, synced.protocol_name, synced.assignment) == (
            ErrorCode.none, CONSUMER, RANGE, assignment), key
    assert answers["state"] == "Stable"


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_heartbeat(broker: BrokerProcess, topic_name: str, version: int) -> None:
    async def scenario(conn: BrokerConnection) -> dict[str, ErrorCode]:
        await create_topic(conn, topic_name, 1)
        member = await join_stable_group(conn, await fresh_group(conn, "hb"), {topic_name: 1})
        nowhere = await fresh_group(conn, "hb-none")
        g, gen, me = member.group_id, member.generation, member.member_id
        return {
            "current": (await call(conn, heartbeat_request(version, g, gen, me))).error_code,
            "wrong generation": (await call(conn, heartbeat_request(version, g, gen + 1, me))).error_code,
            "unknown member": (await call(conn, heartbeat_request(version, g, gen, "made-up-member"))).error_code,
            "unknown group": (await call(conn, heartbeat_request(version, nowhere, gen, me))).error_code,
        }

    assert run(broker, scenario) == {
        "current": ErrorCode.none,
        "wrong generation": ErrorCode.illegal_generation,
        "unknown member": ErrorCode.unknown_member_id,
        "unknown group": ErrorCode.unknown_member_id,
    }


@pytest.mark.parametrize("version", [0, 1, 2])
def test_leave_group_single_member(broker: BrokerProcess, topic_name: str, version: int) -> None:
    async def scenario(conn: BrokerConnection) -> tuple[Any, Any, Any, Any]:
        await create_topic(conn, topic_name, 1)
        member = await join_stable_group(conn, await fresh_group(conn, "leave"), {topic_name: 1})
        unknown = await call(conn, leave_request(version, member.group_id, "made-up-member"))
        left = await call(conn, leave_request(version, member.group_id, member.member_id))
        beat = await call(conn, heartbeat_request(4, member.group_id, member.generation, member.member_id))
        return unknown, left, beat, await described(conn, member.group_id)

    unknown, left, beat, group = run(broker, scenario)
    assert unknown.error_code == ErrorCode.unknown_member_id
    assert left.error_code == ErrorCode.none
    assert beat.error_code == ErrorCode.unknown_member_id
    assert (group.group_state, group.members) == ("Empty", ())


@pytest.mark.parametrize("version", [3, 4, 5])
def test_leave_group_batched_members(broker: BrokerProcess, topic_name: str, version: int) -> None:
    async def scenario(conn: BrokerConnection) -> tuple[Member, Any, Any]:
        await create_topic(conn, topic_name, 1)
        member = await join_stable_group(conn, await fresh_group(conn, "leave3"), {topic_name: 1})
        left = await call(conn, leave_request(version, member.group_id, member.member_id, "made-up-member"))
        return member, left, await described(conn, member.group_id)

    member, left, group = run(broker, scenario)
    assert left.error_code == ErrorCode.none  # per-member errors only
    assert [(m.member_id, m.group_instance_id, m.error_code) for m in left.members] == [
        (member.member_id, None, ErrorCode.none),
        ("made-up-member", None, ErrorCode.unknown_member_id),
    ]
    assert (group.group_state, group.members) == ("Empty", ())


# -- OffsetCommit, OffsetFetch -------------------------------------------------------------


def test_list_groups_v4_states_filter(broker: BrokerProcess, topic_name: str) -> None:
    async def scenario(conn: BrokerConnection) -> tuple[str, str, dict[str, Any]]:
        await create_topic(conn, topic_name, 1)
        stable = await join_stable_group(conn, await fresh_group(conn, "list-stable"), {topic_name: 1})
        gone = await join_stable_group(conn, await fresh_group(conn, "list-empty"), {topic_name: 1})
        left = await call(conn, leave_request(0, gone.group_id, gone.member_id))
        assert left.error_code == ErrorCode.none
        m4 = schema("list_groups", 4)
        answers = {name: await call(conn, m4.ListGroupsRequest(states_filter=states))
                   for name, states in (("stable", ("Stable",)), ("empty", ("Empty",)), ("all", ()))}
        answers["v0"] = await call(conn, schema("list_groups", 0).ListGroupsRequest())
        return stable.group_id, gone.group_id, answers

    stable, empty, answers = run(broker, scenario)
    ours = {stable, empty}

    def listed(name: str) -> set[tuple[str, ...]]:
        resp = answers[name]
        assert resp.error_code == ErrorCode.none
        return {(g.group_id, g.protocol_type, *([g.group_state] if name != "v0" else []))
                for g in resp.groups if g.group_id in ours}

    assert listed("stable") == {(stable, CONSUMER, "Stable")}
    assert listed("empty") == {(empty, CONSUMER, "Empty")}
    assert listed("all") == {(stable, CONSUMER, "Stable"), (empty, CONSUMER, "Empty")}
    assert listed("v0") == {(stable, CONSUMER), (empty, CONSUMER)}


def test_describe_groups_v5(broker: BrokerProcess, topic_name: str) -> None:
    async def scenario(conn: BrokerConnection) -> tuple[Member, str, Any]:
        await create_topic(conn, topic_name, 2)
        member = await join_stable_group(conn, await fresh_group(conn, "describe"), {topic_name: 2})
        nowhere = await fresh_group(conn, "describe-none")
        return member, nowhere, await call(conn, describe_request(member.group_id, nowhere))

    member, nowhere, resp = run(broker, scenario)
    stable, dead = resp.groups
    assert (stable.error_code, stable.group_id, stable.group_state, stable.protocol_type, stable.protocol_data) == (
        ErrorCode.none, member.group_id, "Stable", CONSUMER, RANGE)
    assert stable.authorized_operations == AUTHORIZED_OPERATIONS_OMITTED  # not asked for
    [m] = stable.members
    assert (m.member_id, m.group_instance_id, m.client_id, m.client_host) == (
        member.member_id, None, CLIENT_ID, "/127.0.0.1")
    assert (m.member_metadata, m.member_assignment) == (member.subscription, member.assignment)
    parsed = parse_assignment(m.member_assignment)
    assert parsed is not None and parsed.partitions == {topic_name: [0, 1]}
    # a group that does not exist is described as Dead, without an error (v0-v5)
    assert (dead.error_code, dead.group_id, dead.group_state, dead.protocol_type, dead.protocol_data, dead.members) == (
        ErrorCode.none, nowhere, "Dead", "", "", ())

"""Wire-level tests of the group offset APIs, at exact protocol versions: OffsetCommit v2
(retention time), v8 and v9; OffsetFetch v1-v7 and v8/v9 (several groups in one request);
DeleteGroups; OffsetDelete; and UNKNOWN_TOPIC_OR_PARTITION for partitions the metadata
does not know, which KafkaApis answers without asking the coordinator.

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

from snakafka.client.connection import BrokerConnection
from snakafka.testing.process import BrokerProcess

from .group_wire import (
    NO_OFFSET,
    TopicPartition,
    call,
    commit_request,
    create_topic,
    described,
    fetch_request,
    fetched_offsets,
    fresh_group,
    join_stable_group,
    leave_request,
    multi_fetch_request,
    offset_delete_request,
    partition_errors,
    run,
    schema,
)


def test_offset_commit_v2_with_retention_time_and_offset_fetch_v1(broker: BrokerProcess, topic_name: str) -> None:
    t = topic_name

    async def scenario(conn: BrokerConnection) -> tuple[dict[TopicPartition, ErrorCode], Any]:
        await create_topic(conn, t, 3)
        group_id = await fresh_group(conn, "commit2")
        hour = await call(conn, commit_request(2, group_id, {(t, 0): (42, "meta-v2")}, retention_ms=3_600_000))
        default = await call(conn, commit_request(2, group_id, {(t, 1): (7, None)}))  # -1: the broker's retention
        errors = partition_errors(hour.topics) | partition_errors(default.topics)
        return errors, await call(conn, fetch_request(1, group_id, [(t, 0), (t, 1), (t, 2)]))

    errors, fetched = run(broker, scenario)
    assert errors == {(t, 0): ErrorCode.none, (t, 1): ErrorCode.none}
    assert fetched_offsets(fetched.topics) == {
        (t, 0): (42, "meta-v2", ErrorCode.none),
        (t, 1): (7, "", ErrorCode.none),  # null metadata is stored as ""
        (t, 2): (NO_OFFSET, "", ErrorCode.none),
    }


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5, 6, 7])
def test_offset_fetch_one_group(broker: BrokerProcess, topic_name: str, version: int) -> None:
    t = topic_name

    async def scenario(conn: BrokerConnection) -> tuple[Any, Any | None]:
        await create_topic(conn, t, 3)
        group_id = await fresh_group(conn, "fetch")
        with_epoch = await call(conn, commit_request(8, group_id, {(t, 0): (10, "a")}, leader_epoch=3))
        without = await call(conn, commit_request(8, group_id, {(t, 1): (20, None)}))
        assert set(partition_errors(with_epoch.topics).values()) | set(partition_errors(without.topics).values()) == {
            ErrorCode.none}
        listed = await call(conn, fetch_request(version, group_id, [(t, 0), (t, 1), (t, 2)]))
        everything = await call(conn, fetch_request(version, group_id, None)) if version >= 2 else None
        return listed, everything

    listed, everything = run(broker, scenario)
    expected = {
        (t, 0): (10, "a", ErrorCode.none),
        (t, 1): (20, "", ErrorCode.none),
        (t, 2): (NO_OFFSET, "", ErrorCode.none),
    }
    assert fetched_offsets(listed.topics) == expected
    if version >= 2:
        assert listed.error_code == ErrorCode.none
        assert everything is not None and everything.error_code == ErrorCode.none
        # null topics: every committed offset of the group, and only those
        assert fetched_offsets(everything.topics) == {tp: expected[tp] for tp in [(t, 0), (t, 1)]}
    if version >= 5:
        epochs = {(tt.name, p.partition_index): p.committed_leader_epoch for tt in listed.topics for p in tt.partitions}
        assert epochs == {(t, 0): 3, (t, 1): -1, (t, 2): -1}


@pytest.mark.parametrize("version", [8, 9])
def test_offset_commit_by_a_member(broker: BrokerProcess, topic_name: str, version: int) -> None:
    t = topic_name

    async def scenario(conn: BrokerConnection) -> tuple[dict[str, dict[TopicPartition, ErrorCode]], Any]:
        await create_topic(conn, t, 3)
        member = await join_stable_group(conn, await fresh_group(conn, "commit-member"), {t: 3})
        g, gen, me = member.group_id, member.generation, member.member_id
        answers = {
            "member": await call(conn, commit_request(version, g, {(t, 0): (5, "ok")}, generation=gen, member_id=me)),
            "wrong generation": await call(conn, commit_request(version, g, {(t, 1): (6, None)}, generation=gen + 1,
                                                                member_id=me)),
            "unknown member": await call(conn, commit_request(version, g, {(t, 2): (7, None)}, generation=gen,
                                                              member_id="made-up-member")),
            "no member": await call(conn, commit_request(version, g, {(t, 2): (8, None)})),  # the group has members
        }
        errors = {key: partition_errors(resp.topics) for key, resp in answers.items()}
        return errors, await call(conn, fetch_request(7, g, None))

    errors, fetched = run(broker, scenario)
    assert errors == {
        "member": {(t, 0): ErrorCode.none},
        "wrong generation": {(t, 1): ErrorCode.illegal_generation},
        "unknown member": {(t, 2): ErrorCode.unknown_member_id},
        "no member": {(t, 2): ErrorCode.unknown_member_id},
    }
    assert fetched_offsets(fetched.topics) == {(t, 0): (5, "ok", ErrorCode.none)}


@pytest.mark.parametrize("version", [8, 9])
def test_offset_fetch_several_groups(broker: BrokerProcess, topic_name: str, version: int) -> None:
    t = topic_name

    async def scenario(conn: BrokerConnection) -> tuple[list[str], Any]:
        await create_topic(conn, t, 2)
        one, two, never = [await fresh_group(conn, tag) for tag in ("multi1", "multi2", "multi3")]
        for group_id, offsets in ((one, {(t, 0): (5, "one")}), (two, {(t, 0): (7, "two"), (t, 1): (8, None)})):
            committed = await call(conn, commit_request(version, group_id, offsets))
            assert set(partition_errors(committed.topics).values()) == {ErrorCode.none}
        fetched = await call(conn, multi_fetch_request(version, {
            one: [(t, 0), (t, 1)],  # listed partitions, one of them never committed
            two: None,  # all of the group's offsets
            never: [(t, 0)],  # a group that does not exist
        }))
        return [one, two, never], fetched

    (one, two, never), fetched = run(broker, scenario)
    assert [(g.group_id, g.error_code) for g in fetched.groups] == [
        (one, ErrorCode.none), (two, ErrorCode.none), (never, ErrorCode.none)]
    by_group = {g.group_id: fetched_offsets(g.topics) for g in fetched.groups}
    assert by_group == {
        one: {(t, 0): (5, "one", ErrorCode.none), (t, 1): (NO_OFFSET, "", ErrorCode.none)},
        two: {(t, 0): (7, "two", ErrorCode.none), (t, 1): (8, "", ErrorCode.none)},
        never: {(t, 0): (NO_OFFSET, "", ErrorCode.none)},
    }


def test_offset_commit_of_an_unknown_topic_or_partition(broker: BrokerProcess, topic_name: str) -> None:
    t, missing = topic_name, f"{topic_name}-missing"

    async def scenario(conn: BrokerConnection) -> dict[TopicPartition, ErrorCode]:
        await create_topic(conn, t, 1)
        group_id = await fresh_group(conn, "commit-unknown")
        resp = await call(conn, commit_request(8, group_id, {(t, 0): (1, None), (t, 5): (1, None), (missing, 0): (1, None)}))
        return partition_errors(resp.topics)

    assert run(broker, scenario) == {
        (t, 0): ErrorCode.none,
        (t, 5): ErrorCode.unknown_topic_or_partition,  # the topic has one partition
        (missing, 0): ErrorCode.unknown_topic_or_partition,
    }


# -- ListGroups, DescribeGroups, DeleteGroups, OffsetDelete ---------------------------------


@pytest.mark.parametrize("version", [0, 1, 2])
def test_delete_groups(broker: BrokerProcess, topic_name: str, version: int) -> None:
    t = topic_name
    delete = schema("delete_groups", version).DeleteGroupsRequest

    async def scenario(conn: BrokerConnection) -> dict[str, Any]:
        await create_topic(conn, t, 1)
        member = await join_stable_group(conn, await fresh_group(conn, "delete"), {t: 1})
        g, nowhere = member.group_id, await fresh_group(conn, "delete-none")
        committed = await call(conn, commit_request(8, g, {(t, 0): (3, None)}, generation=member.generation,
                                                    member_id=member.member_id))
        assert partition_errors(committed.topics) == {(t, 0): ErrorCode.none}
        answers: dict[str, Any] = {"while a member": await call(conn, delete(groups_names=(g, nowhere)))}
        assert (await call(conn, leave_request(3, g, member.member_id))).error_code == ErrorCode.none
        answers["once empty"] = await call(conn, delete(groups_names=(g,)))
        answers["again"] = await call(conn, delete(groups_names=(g,)))
        answers["offsets"] = await call(conn, fetch_request(7, g, [(t, 0)]))
        answers["state"] = (await described(conn, g)).group_state
        answers["ids"] = (g, nowhere)
        return answers

    answers = run(broker, scenario)
    g, nowhere = answers["ids"]

    def results(key: str) -> list[tuple[str, ErrorCode]]:
        return [(r.group_id, r.error_code) for r in answers[key].results]

    assert results("while a member") == [(g, ErrorCode.non_empty_group), (nowhere, ErrorCode.group_id_not_found)]
    assert results("once empty") == [(g, ErrorCode.none)]
    assert results("again") == [(g, ErrorCode.group_id_not_found)]
    assert fetched_offsets(answers["offsets"].topics) == {(t, 0): (NO_OFFSET, "", ErrorCode.none)}  # deleted too
    assert answers["state"] == "Dead"


def test_offset_delete_v0(broker: BrokerProcess, topic_name: str) -> None:
    subscribed, other = topic_name, f"{topic_name}-other"

    async def scenario(conn: BrokerConnection) -> dict[str, Any]:
        await create_topic(conn, subscribed, 1)
        await create_topic(conn, other, 1)
        member = await join_stable_group(conn, await fresh_group(conn, "offdel"), {subscribed: 1})
        g = member.group_id
        committed = await call(conn, commit_request(8, g, {(subscribed, 0): (4, None), (other, 0): (9, None)},
                                                    generation=member.generation, member_id=member.member_id))
        assert set(partition_errors(committed.topics).values()) == {ErrorCode.none}
        answers: dict[str, Any] = {
            "while stable": await call(conn, offset_delete_request(g, [(subscribed, 0), (other, 0)])),
            "offsets while stable": await call(conn, fetch_request(7, g, None)),
        }
        assert (await call(conn, leave_request(3, g, member.member_id))).error_code == ErrorCode.none
        answers["once empty"] = await call(conn, offset_delete_request(g, [(subscribed, 0)]))
        answers["offsets once empty"] = await call(conn, fetch_request(7, g, [(subscribed, 0)]))
        answers["unknown group"] = await call(conn, offset_delete_request(await fresh_group(conn, "offdel-none"),
                                                                          [(subscribed, 0)]))
        return answers

    answers = run(broker, scenario)
    stable = answers["while stable"]
    assert stable.error_code == ErrorCode.none
    assert partition_errors(stable.topics) == {
        (subscribed, 0): ErrorCode.group_subscribed_to_topic,
        (other, 0): ErrorCode.none,
    }
    assert fetched_offsets(answers["offsets while stable"].topics) == {(subscribed, 0): (4, "", ErrorCode.none)}

    empty = answers["once empty"]
    assert (empty.error_code, partition_errors(empty.topics)) == (ErrorCode.none, {(subscribed, 0): ErrorCode.none})
    assert fetched_offsets(answers["offsets once empty"].topics) == {(subscribed, 0): (NO_OFFSET, "", ErrorCode.none)}

    unknown = answers["unknown group"]
    assert (unknown.error_code, unknown.topics) == (ErrorCode.group_id_not_found, ())


def test_offset_delete_of_an_unknown_topic_or_partition(broker: BrokerProcess, topic_name: str) -> None:
    t, missing = topic_name, f"{topic_name}-missing"

    async def scenario(conn: BrokerConnection) -> Any:
        await create_topic(conn, t, 1)
        group_id = await fresh_group(conn, "offdel-unknown")
        committed = await call(conn, commit_request(8, group_id, {(t, 0): (1, None)}))
        assert partition_errors(committed.topics) == {(t, 0): ErrorCode.none}
        return await call(conn, offset_delete_request(group_id, [(t, 3), (missing, 0)]))

    resp = run(broker, scenario)
    assert resp.error_code == ErrorCode.none
    assert partition_errors(resp.topics) == {
        (t, 3): ErrorCode.unknown_topic_or_partition,  # the topic has one partition
        (missing, 0): ErrorCode.unknown_topic_or_partition,
    }

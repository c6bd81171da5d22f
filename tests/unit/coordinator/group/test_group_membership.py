"""JoinGroup / SyncGroup / Heartbeat / LeaveGroup against the group coordinator, with an
in-memory __consumer_offsets and a manual clock."""

from __future__ import annotations

import asyncio

from support.group_coordinator import (
    E,
    config,
    joined_pair,
    make_env,
    run,
    stable_group,
    sub,
)

from snakafka.coordinator.group import GroupState
from snakafka.coordinator.offsets_schema import (
    GroupMetadataKey,
    GroupMetadataValue,
    decode_key,
    decode_value,
)


def group_records(env) -> list[GroupMetadataValue | None]:
    out: list[GroupMetadataValue | None] = []
    for key, value in env.log.all_records():
        k = decode_key(key)
        if isinstance(k, GroupMetadataKey):
            decoded = decode_value(k, value)  # None for a tombstone
            assert decoded is None or isinstance(decoded, GroupMetadataValue)
            out.append(decoded)
    return out


def test_three_members_join_and_sync() -> None:
    async def main() -> None:
        env = await make_env(config(group_initial_rebalance_delay_ms=3000))
        first = await env.join("g", client="c1")
        assert first.error_code == E.member_id_required
        assert first.member_id.startswith("c1-") and first.generation_id == -1
        assert first.member_id in env.coord.runtime.groups["g"].pending_members
        tasks = [env.join("g", first.member_id, client="c1")]
        for client in ("c2", "c3"):
            tasks.append(await env.join_new("g", client=client))
        await env.settle()
        assert not any(t.done() for t in tasks)  # the initial rebalance delay runs
        assert env.coord.describe_group("g").state == "PreparingRebalance"
        await env.advance(3000)
        assert not any(t.done() for t in tasks)  # extended: members kept arriving
        await env.advance(3000)
        results = [t.result() for t in tasks]
        assert {r.error_code for r in results} == {E.none}
        assert {r.generation_id for r in results} == {1}
        assert {r.protocol_name for r in results} == {"range"}
        assert {r.protocol_type for r in results} == {"consumer"}
        leader = results[0].leader
        assert leader == results[0].member_id
        assert [len(r.members) for r in results] == [3, 0, 0]
        assert {m.member_id for m in results[0].members} == {r.member_id for r in results}
        assert all(m.metadata == sub("t") for m in results[0].members)
        assert env.coord.describe_group("g").state == "CompletingRebalance"

        ids = [r.member_id for r in results]
        follower_syncs = [env.sync("g", 1, m) for m in ids[1:]]
        await env.settle()
        assert not any(s.done() for s in follower_syncs)  # followers wait for the leader
        assert group_records(env) == []
        leader_sync = env.sync("g", 1, ids[0], {m: f"part-{i}".encode() for i, m in enumerate(ids)})
        await env.settle()
        syncs = [await leader_sync] + [await s for s in follower_syncs]
        assert [s.assignment for s in syncs] == [b"part-0", b"part-1", b"part-2"]
        assert {(s.error_code, s.protocol_type, s.protocol_name) for s in syncs} == {(E.none, "consumer", "range")}
        (record,) = group_records(env)
        assert record is not None and record.generation == 1 and record.leader == leader
        assert [(m.member_id, m.assignment) for m in record.members] == list(zip(ids, [b"part-0", b"part-1", b"part-2"]))

        summary = env.coord.describe_group("g")
        assert summary.state == "Stable" and summary.protocol == "range"
        assert [(m.member_id, m.client_id, m.assignment) for m in summary.members] == [
            (ids[0], "c1", b"part-0"), (ids[1], "c2", b"part-1"), (ids[2], "c3", b"part-2")]
        for m in ids:
            assert await env.coord.heartbeat("g", m, None, 1) == E.none
        assert await env.coord.heartbeat("g", ids[0], None, 0) == E.illegal_generation
        assert await env.coord.heartbeat("g", "nobody", None, 1) == E.unknown_member_id
        assert await env.coord.heartbeat("other", ids[0], None, 1) == E.unknown_member_id
        # a Stable group hands a follower its assignment again
        again = await env.sync("g", 1, ids[2])
        assert again.assignment == b"part-2"
        assert env.coord.list_groups() == [("g", "consumer", "Stable")]
        assert env.coord.list_groups(["stable"]) == [("g", "consumer", "Stable")]
        assert env.coord.list_groups(["Empty"]) == []
        await env.coord.close()

    run(main())


def test_protocol_chosen_by_vote_and_inconsistent_protocols() -> None:
    async def main() -> None:
        env = await make_env()
        p1 = [("roundrobin", b"x"), ("range", b"y")]
        p2 = [("range", b"y"), ("roundrobin", b"x")]
        p3 = [("sticky", b"z"), ("roundrobin", b"x"), ("range", b"y")]
        tasks = [await env.join_new("g", protocols=p) for p in (p1, p2, p3)]
        await asyncio.sleep(0)
        bad = await env.join("g", protocols=[("sticky", b"z")])
        assert bad.error_code == E.inconsistent_group_protocol and bad.member_id == ""
        wrong_type = await env.join("g", protocol_type="connect", protocols=p1)
        assert wrong_type.error_code == E.inconsistent_group_protocol
        await env.settle()
        results = [await t for t in tasks]
        assert {r.protocol_name for r in results} == {"roundrobin"}  # 2 votes against 1
        leader = next(r for r in results if r.members)
        assert {m.metadata for m in leader.members} == {b"x"}
        empty = await env.join("h", protocols=[])
        assert empty.error_code == E.inconsistent_group_protocol
        await env.coord.close()

    run(main())


def test_session_expiry_moves_group_to_rebalance() -> None:
    async def main() -> None:
        env = await make_env()
        (m1, m2), gen, _ = await stable_group(env, "g", 2)
        for _ in range(12):  # m2 heartbeats every second; m1 is silent
            await env.advance(1000)
            code = await env.coord.heartbeat("g", m2, None, gen)
            if code != E.none:
                break
        assert code == E.rebalance_in_progress
        group = env.coord.runtime.groups["g"]
        assert list(group.members) == [m2] and group.state is GroupState.PREPARING_REBALANCE
        assert await env.coord.heartbeat("g", m1, None, gen) == E.unknown_member_id
        rejoin = env.join("g", m2)
        await env.settle()
        result = await rejoin  # the only member rejoined: no need to wait for the timeout
        assert (result.error_code, result.generation_id, result.leader) == (E.none, gen + 1, m2)
        await env.coord.close()

    run(main())


def test_members_that_do_not_rejoin_are_removed_after_rebalance_timeout() -> None:
    async def main() -> None:
        env = await make_env()
        (m1, m2), gen, leader = await stable_group(env, "g", 2)
        rejoin = env.join("g", leader)  # the leader rejoins: a rebalance starts
        await env.settle()
        other = m2 if leader == m1 else m1
        for _ in range(29):
            await env.advance(1000)
            assert await env.coord.heartbeat("g", other, None, gen) == E.rebalance_in_progress
        assert not rejoin.done()
        await env.advance(1100)
        result = await rejoin
        assert result.error_code == E.none and result.generation_id == gen + 1
        assert [m.member_id for m in result.members] == [leader]
        assert await env.coord.heartbeat("g", other, None, gen) == E.unknown_member_id
        await env.coord.close()

    run(main())


def test_leave_group() -> None:
    async def main() -> None:
        env = await make_env()
        (m1, m2), gen, _ = await stable_group(env, "g", 2)
        top, per_member = await env.coord.leave_group("g", [(m1, None), ("ghost", None)])
        assert top == E.none and per_member == [E.none, E.unknown_member_id]
        assert env.coord.describe_group("g").state == "PreparingRebalance"
        assert await env.coord.heartbeat("g", m2, None, gen) == E.rebalance_in_progress
        rejoin = env.join("g", m2)
        await env.settle()
        assert (await rejoin).generation_id == gen + 1
        assert await env.coord.leave_group("nope", [("x", None)]) == (E.none, [E.unknown_member_id])
        top, per_member = await env.coord.leave_group("g", [(m2, None)])
        assert per_member == [E.none]
        await env.settle()
        assert env.coord.describe_group("g").state == "Empty"
        assert group_records(env)[-1] == GroupMetadataValue("consumer", gen + 2, None, None,
                                                           env.clock.now, ())
        assert await env.coord.leave_group("", [("x", None)]) == (E.invalid_group_id, [])
        await env.coord.close()

    run(main())


def test_static_member_rejoins_without_rebalance() -> None:
    async def main() -> None:
        env = await make_env()
        both = [("roundrobin", sub("t")), ("range", sub("t"))]
        ids, gen, leader = await stable_group(env, "g", 2, static=True, protocols=both)
        records_before = len(group_records(env))
        # inst-1 restarts: it has lost its member id
        rejoin = await env.join("g", instance="inst-1", client="c1", protocols=both)
        assert rejoin.error_code == E.none
        new_id = rejoin.member_id
        assert new_id != ids[1] and new_id.startswith("inst-1-")
        assert (rejoin.generation_id, rejoin.leader, rejoin.members) == (gen, leader, ())
        assert env.coord.describe_group("g").state == "Stable"
        record = group_records(env)[-1]
        assert len(group_records(env)) == records_before + 1
        assert record is not None
        assert [m.member_id for m in record.members] == [ids[0], new_id]
        synced = await env.sync("g", gen, new_id, instance="inst-1")
        assert (synced.error_code, synced.assignment) == (E.none, b"a1")
        # the old incarnation is fenced everywhere
        assert await env.coord.heartbeat("g", ids[1], "inst-1", gen) == E.fenced_instance_id
        assert (await env.sync("g", gen, ids[1], instance="inst-1")).error_code == E.fenced_instance_id
        stale = await env.join("g", ids[1], instance="inst-1")
        assert stale.error_code == E.fenced_instance_id
        assert await env.coord.heartbeat("g", new_id, "inst-1", gen) == E.none
        assert await env.coord.heartbeat("g", ids[0], "inst-0", gen) == E.none
        assert await env.coord.heartbeat("g", ids[0], "inst-9", gen) == E.unknown_member_id
        # a static leader that comes back and supports skip_assignment learns it leads
        lead = await env.join("g", instance="inst-0", client="c0", skip=True, protocols=both)
        assert lead.skip_assignment and lead.leader == lead.member_id and len(lead.members) == 2
        assert env.coord.describe_group("g").state == "Stable"
        # new metadata for the same protocol: still no rebalance (as in Kafka)
        same = await env.join("g", instance="inst-1", client="c1", protocols=[("roundrobin", sub("u")), both[1]])
        assert same.error_code == E.none and env.coord.describe_group("g").state == "Stable"
        # a change of the group's protocol makes it rebalance
        changed = env.join("g", instance="inst-1", client="c1", protocols=[("range", sub("t"))])
        await env.settle()
        assert env.coord.describe_group("g").state == "PreparingRebalance"
        assert not changed.done()
        # an admin removes a static member by instance id
        assert await env.coord.leave_group("g", [("", "inst-1")]) == (E.none, [E.none])
        assert (await changed).error_code == E.unknown_member_id
        await env.coord.close()

    run(main())


def test_pending_member_expires_and_group_max_size() -> None:
    async def main() -> None:
        env = await make_env(config(group_max_size=2))
        first = await env.join("g", session=6000)
        await env.advance(6100)
        assert env.coord.runtime.groups["g"].pending_members == set()
        late = await env.join("g", first.member_id)
        assert late.error_code == E.unknown_member_id  # the group is Empty: its id is gone
        ids, gen, _ = await stable_group(env, "g", 2)
        third = await env.join("g", require_known=False)
        assert third.error_code == E.group_max_size_reached and third.member_id == ""
        assert await env.coord.heartbeat("g", ids[0], None, gen) == E.none
        await env.coord.close()

    run(main())


def test_join_errors() -> None:
    async def main() -> None:
        env = await make_env()
        assert (await env.join("g", session=5999)).error_code == E.invalid_session_timeout
        assert (await env.join("g", session=1_800_001)).error_code == E.invalid_session_timeout
        assert (await env.join("g", "someone")).error_code == E.unknown_member_id
        assert (await env.join("")).error_code == E.invalid_group_id
        assert (await env.sync("g", 1, "someone")).error_code == E.unknown_member_id
        ids, gen, _ = await stable_group(env, "g", 1)
        assert (await env.sync("g", gen + 1, ids[0])).error_code == E.illegal_generation
        assert (await env.coord.sync_group("g", gen, ids[0], None, "connect", None, {})).error_code == \
            E.inconsistent_group_protocol
        await env.coord.close()
        assert (await env.join("g")).error_code == E.coordinator_not_available

    run(main())


def test_leader_that_never_syncs_is_removed() -> None:
    async def main() -> None:
        env = await make_env()
        leader, follower, gen = await joined_pair(env, "g")
        waiting = env.sync("g", gen, follower)
        # the leader stays alive (heartbeats) but never sends its SyncGroup: the pending-sync
        # timer removes it after the rebalance timeout (30 s), not its session (10 s)
        for _ in range(29):
            await env.advance(1000)
            assert await env.coord.heartbeat("g", leader, None, gen) == E.none
        assert not waiting.done()
        await env.advance(1100)
        assert (await waiting).error_code == E.rebalance_in_progress
        group = env.coord.runtime.groups["g"]
        assert list(group.members) == [follower] and group.state is GroupState.PREPARING_REBALANCE
        assert await env.coord.heartbeat("g", leader, None, gen) == E.unknown_member_id
        await env.coord.close()

    run(main())


def test_silent_leader_expires_after_its_session_while_a_follower_waits_in_sync() -> None:
    async def main() -> None:
        env = await make_env()
        _, follower, gen = await joined_pair(env, "g")
        waiting = env.sync("g", gen, follower)
        await env.advance(9_900)
        assert not waiting.done()  # waiting in SyncGroup keeps the follower alive
        await env.advance(200)
        assert (await waiting).error_code == E.rebalance_in_progress
        assert list(env.coord.runtime.groups["g"].members) == [follower]
        await env.coord.close()

    run(main())


def test_failed_assignment_write_answers_the_mapped_error() -> None:
    async def main() -> None:
        env = await make_env()
        leader, follower, gen = await joined_pair(env, "g")
        waiting = env.sync("g", gen, follower)
        await env.settle()
        env.log.fail = E.not_leader_or_follower
        led = env.sync("g", gen, leader, {leader: b"x", follower: b"y"})
        await env.settle()
        assert (await led).error_code == E.not_coordinator
        assert (await waiting).error_code == E.not_coordinator
        assert env.coord.describe_group("g").state == "PreparingRebalance"
        await env.coord.close()

    run(main())


def test_rejoin_during_completing_rebalance() -> None:
    async def main() -> None:
        env = await make_env()
        leader, follower, gen = await joined_pair(env, "g")
        # the follower missed its answer and joins again with the same metadata: the same answer
        again = await env.join("g", follower)
        assert (again.generation_id, again.leader, again.members) == (gen, leader, ())
        # the follower's sync waits; a member joining with new metadata restarts the rebalance
        waiting = env.sync("g", gen, follower)
        await env.settle()
        rejoin = env.join("g", leader, protocols=[("range", sub("t", "u"))])
        await env.settle()
        assert (await waiting).error_code == E.rebalance_in_progress
        assert not rejoin.done()
        await env.coord.close()

    run(main())

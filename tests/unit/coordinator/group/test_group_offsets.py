"""OffsetCommit / OffsetFetch / OffsetDelete / DeleteGroups and offset retention against the
group coordinator, with an in-memory __consumer_offsets and a manual clock."""

from __future__ import annotations

import asyncio

from support.group_coordinator import E, config, make_env, run, stable_group

from snakafka.coordinator.group.results import FetchedOffset
from snakafka.coordinator.offsets_schema import GroupMetadataKey, OffsetKey, decode_key

T0, T1, U0 = ("t", 0), ("t", 1), ("u", 0)
MINUTE = 60_000


def tombstones(env) -> list[object]:
    return [decode_key(k) for k, v in env.log.all_records() if v is None]


def test_standalone_commit_fetch_and_reload() -> None:
    async def main() -> None:
        env = await make_env()
        answer = await env.coord.commit_offsets("g", "", None, -1, {T0: (5, 3, "meta"), T1: (7, -1, None)})
        assert answer == {T0: E.none, T1: E.none}
        error, fetched = await env.coord.fetch_offsets("g", [T0, T1, U0])
        assert error == E.none
        assert fetched == {T0: FetchedOffset(5, 3, "meta", E.none), T1: FetchedOffset(7, -1, "", E.none),
                           U0: FetchedOffset(-1, -1, "", E.none)}
        assert (await env.coord.fetch_offsets("g", None))[1].keys() == {T0, T1}
        assert (await env.coord.fetch_offsets("nobody", [T0]))[1] == {T0: FetchedOffset(-1, -1, "", E.none)}
        # a later commit wins; both survive a new coordinator replaying the log
        await env.coord.commit_offsets("g", "", None, -1, {T0: (9, 4, "m2")})
        await env.coord.close()
        again = await env.reload()
        assert (await again.coord.fetch_offsets("g", [T0, T1]))[1] == {
            T0: FetchedOffset(9, 4, "m2", E.none), T1: FetchedOffset(7, -1, "", E.none)}
        assert again.coord.list_groups() == [("g", "", "Empty")]
        await again.coord.close()

    run(main())


def test_member_commits_are_checked_against_the_generation() -> None:
    async def main() -> None:
        env = await make_env(config(offset_metadata_max_bytes=4))
        (m1, m2), gen, _ = await stable_group(env, "g", 2)
        assert await env.coord.commit_offsets("g", m1, None, gen, {T0: (1, -1, "")}) == {T0: E.none}
        assert await env.coord.commit_offsets("g", m1, None, gen + 1, {T0: (2, -1, "")}) == {T0: E.illegal_generation}
        assert await env.coord.commit_offsets("g", "ghost", None, gen, {T0: (2, -1, "")}) == {T0: E.unknown_member_id}
        # only members commit for a group that has members
        assert await env.coord.commit_offsets("g", "", None, -1, {T0: (2, -1, "")}) == {T0: E.unknown_member_id}
        # metadata over offset.metadata.max.bytes fails that partition only
        answer = await env.coord.commit_offsets("g", m2, None, gen, {T0: (3, -1, "12345"), T1: (4, -1, "1234")})
        assert answer == {T0: E.offset_metadata_too_large, T1: E.none}
        assert (await env.coord.fetch_offsets("g", [T0, T1]))[1] == {
            T0: FetchedOffset(1, -1, "", E.none), T1: FetchedOffset(4, -1, "1234", E.none)}
        # no commit once the member's generation has moved to CompletingRebalance
        rejoins = [env.join("g", m) for m in (m1, m2)]
        await env.settle()
        new_gen = (await rejoins[0]).generation_id
        assert env.coord.describe_group("g").state == "CompletingRebalance"
        assert await env.coord.commit_offsets("g", m1, None, new_gen, {T0: (5, -1, "")}) == {
            T0: E.rebalance_in_progress}
        assert await env.coord.commit_offsets("g", m1, None, gen, {T0: (5, -1, "")}) == {T0: E.illegal_generation}
        # a commit for a generation of a group that does not exist (any more)
        assert await env.coord.commit_offsets("gone", "m", None, 3, {T0: (1, -1, "")}) == {T0: E.illegal_generation}
        await env.coord.close()

    run(main())


def test_failed_write_answers_the_mapped_error_and_applies_nothing() -> None:
    async def main() -> None:
        env = await make_env()
        env.log.fail = E.not_leader_or_follower
        assert await env.coord.commit_offsets("g", "", None, -1, {T0: (5, -1, "")}) == {T0: E.not_coordinator}
        env.log.fail = E.not_enough_replicas
        assert await env.coord.commit_offsets("g", "", None, -1, {T0: (5, -1, "")}) == {
            T0: E.coordinator_not_available}
        env.log.fail = E.message_too_large
        assert await env.coord.commit_offsets("g", "", None, -1, {T0: (5, -1, "")}) == {
            T0: E.invalid_commit_offset_size}
        env.log.fail = None
        assert (await env.coord.fetch_offsets("g", [T0]))[1][T0].offset == -1
        await env.coord.close()

    run(main())


def test_require_stable_sees_a_commit_in_flight() -> None:
    async def main() -> None:
        env = await make_env()
        env.log.gate = asyncio.Event()
        commit = asyncio.get_running_loop().create_task(
            env.coord.commit_offsets("g", "", None, -1, {T0: (5, -1, "")}))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        _, fetched = await env.coord.fetch_offsets("g", [T0], require_stable=True)
        assert fetched[T0].error == E.unstable_offset_commit
        assert (await env.coord.fetch_offsets("g", [T0]))[1][T0].offset == -1  # not durable yet
        env.log.gate.set()
        assert await commit == {T0: E.none}
        assert (await env.coord.fetch_offsets("g", [T0], require_stable=True))[1][T0] == \
            FetchedOffset(5, -1, "", E.none)
        await env.coord.close()

    run(main())


def test_offsets_of_an_empty_group_expire_after_retention_then_the_group_goes() -> None:
    async def main() -> None:
        env = await make_env(config(offsets_retention_minutes=10))
        await env.coord.commit_offsets("g", "", None, -1, {T0: (5, -1, "")})
        env.clock.advance(5 * MINUTE)
        await env.coord.commit_offsets("g", "", None, -1, {T1: (6, -1, "")})
        # an explicit retention time (OffsetCommit v2-v4) keeps its own expiry
        await env.coord.commit_offsets("h", "", None, -1, {T0: (1, -1, "")}, retention_ms=MINUTE)
        env.clock.advance(MINUTE - 1)
        assert await env.coord.expire_offsets() == 0
        env.clock.advance(1)
        assert await env.coord.expire_offsets() == 1
        assert "h" not in {g for g, _, _ in env.coord.list_groups()}
        env.clock.advance(4 * MINUTE - 1)  # 10 min after the first commit, less 1 ms
        assert await env.coord.expire_offsets() == 0
        env.clock.advance(1)
        assert await env.coord.expire_offsets() == 1  # T0 is 10 minutes old, T1 only 5
        assert (await env.coord.fetch_offsets("g", [T0, T1]))[1] == {
            T0: FetchedOffset(-1, -1, "", E.none), T1: FetchedOffset(6, -1, "", E.none)}
        env.clock.advance(5 * MINUTE)
        assert await env.coord.expire_offsets() == 1
        assert env.coord.list_groups() == []
        assert OffsetKey("g", "t", 0) in tombstones(env) and OffsetKey("g", "t", 1) in tombstones(env)
        await env.coord.close()
        again = await env.reload()  # the tombstones win over the commits when the log is replayed
        assert (await again.coord.fetch_offsets("g", None))[1] == {}
        await again.coord.close()

    run(main())


def test_a_consumer_group_keeps_the_offsets_of_topics_it_subscribes_to() -> None:
    async def main() -> None:
        env = await make_env(config(offsets_retention_minutes=10))
        (m1, _), gen, _ = await stable_group(env, "g", 2)  # subscribed to "t"
        await env.coord.commit_offsets("g", m1, None, gen, {T0: (5, -1, ""), U0: (8, -1, "")})
        for _ in range(11):  # keep the members alive for 11 minutes
            env.clock.advance(MINUTE)
            for member in env.coord.runtime.groups["g"].members:
                assert await env.coord.heartbeat("g", member, None, gen) == E.none
        assert await env.coord.expire_offsets() == 1
        assert (await env.coord.fetch_offsets("g", [T0, U0]))[1] == {
            T0: FetchedOffset(5, -1, "", E.none), U0: FetchedOffset(-1, -1, "", E.none)}
        # once Empty, the rest expire retention after the group became Empty
        for member in list(env.coord.runtime.groups["g"].members):
            await env.coord.leave_group("g", [(member, None)])
        await env.settle()
        assert env.coord.describe_group("g").state == "Empty"
        env.clock.advance(10 * MINUTE - 1)
        assert await env.coord.expire_offsets() == 0
        env.clock.advance(1)
        assert await env.coord.expire_offsets() == 1
        assert GroupMetadataKey("g") in tombstones(env)
        await env.coord.close()

    run(main())


def test_offset_delete() -> None:
    async def main() -> None:
        env = await make_env()
        (m1, _), gen, _ = await stable_group(env, "g", 2)  # subscribed to "t"
        await env.coord.commit_offsets("g", m1, None, gen, {T0: (5, -1, ""), U0: (8, -1, "")})
        assert await env.coord.delete_offsets("g", [T0, U0]) == (E.none, {T0: E.group_subscribed_to_topic,
                                                                         U0: E.none})
        assert (await env.coord.fetch_offsets("g", None))[1] == {T0: FetchedOffset(5, -1, "", E.none)}
        assert await env.coord.delete_offsets("nobody", [T0]) == (E.group_id_not_found, {})
        await env.coord.commit_offsets("s", "", None, -1, {T0: (1, -1, ""), T1: (2, -1, "")})
        assert await env.coord.delete_offsets("s", [T0]) == (E.none, {T0: E.none})
        assert (await env.coord.fetch_offsets("s", None))[1] == {T1: FetchedOffset(2, -1, "", E.none)}
        await env.coord.close()

    run(main())


def test_delete_groups() -> None:
    async def main() -> None:
        env = await make_env()
        await stable_group(env, "busy", 1)
        await env.coord.commit_offsets("idle", "", None, -1, {T0: (1, -1, "")})
        answer = await env.coord.delete_groups(["busy", "idle", "nobody", "idle"])
        assert answer == {"busy": E.non_empty_group, "idle": E.none, "nobody": E.group_id_not_found}
        assert [g for g, _, _ in env.coord.list_groups()] == ["busy"]
        assert OffsetKey("idle", "t", 0) in tombstones(env)
        # the id is free again: a new group of that name starts from nothing
        assert (await env.coord.fetch_offsets("idle", [T0]))[1][T0].offset == -1
        await env.coord.close()
        again = await env.reload()
        assert [g for g, _, _ in again.coord.list_groups()] == ["busy"]
        await again.coord.close()

    run(main())

"""Partition reassignment rules (KIP-455): how a reassignment starts, is replaced or
cancelled, and completes; then properties over any replicas, ISR, target and live set."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from snakafka.cluster.model import NO_LEADER, PartitionState, Reassignment
from snakafka.cluster.reassignment import complete, start


def state(replicas: tuple[int, ...], leader: int, isr: tuple[int, ...]) -> PartitionState:
    return PartitionState(replicas=replicas, leader=leader, leader_epoch=5, isr=isr, partition_epoch=9)


def test_start_keeps_every_original_replica_until_the_targets_catch_up() -> None:
    new, r = start(state((0, 1, 2), 0, (0, 1, 2)), None, (3, 1, 2)) or (None, None)
    assert new == PartitionState((3, 1, 2, 0), 0, 6, (0, 1, 2), 10)
    assert r == Reassignment(adding=(3,), removing=(0,))
    assert start(state((0, 1), 0, (0, 1)), None, (0, 1)) is None  # already there


def test_complete_waits_for_the_targets_then_moves_leadership_off_a_leaving_leader() -> None:
    r = Reassignment(adding=(3,), removing=(0,))
    assert complete(state((3, 1, 2, 0), 0, (0, 1, 2)), r, {0, 1, 2, 3}) is None  # 3 not in sync yet
    done = complete(state((3, 1, 2, 0), 0, (0, 1, 2, 3)), r, {0, 1, 2, 3})
    assert done == PartitionState((3, 1, 2), 3, 6, (1, 2, 3), 10)
    kept = complete(state((1, 2, 3, 0), 1, (0, 1, 2, 3)), r, {0, 1, 2, 3})
    assert kept is not None and kept.leader == 1  # a target replica leads: it stays


def test_cancel_goes_back_to_the_original_replicas_and_replacing_starts_from_them() -> None:
    moving = state((3, 1, 2, 0), 0, (0, 1, 2))
    r = Reassignment(adding=(3,), removing=(0,))
    back = start(moving, r, r.original(moving.replicas))
    # the original replicas in the order the full list keeps them (Kafka's originReplicas too)
    assert back is not None and back[0].replicas == (1, 2, 0) and back[1] is None
    replaced = start(moving, r, (4, 1, 2))
    assert replaced is not None and replaced[0].replicas == (4, 1, 2, 0)
    assert replaced[1] == Reassignment(adding=(4,), removing=(0,))


brokers = st.lists(st.integers(0, 5), min_size=1, max_size=4, unique=True)


@given(brokers, brokers, st.data())
def test_reassignment_invariants(replicas: list[int], target: list[int], data: st.DataObject) -> None:
    isr = tuple(data.draw(st.lists(st.sampled_from(replicas), min_size=1, unique=True)))
    leader = data.draw(st.sampled_from(isr))
    live = set(data.draw(st.sets(st.integers(0, 5)))) | {leader}
    before = state(tuple(replicas), leader, isr)
    step = start(before, None, tuple(target))
    if step is None:
        assert tuple(target) == tuple(replicas)
        return
    moving, r = step
    # every replica holding the data stays until the end; the leader and its ISR members stay
    assert set(replicas) <= set(moving.replicas) and set(target) <= set(moving.replicas)
    assert moving.leader == leader and moving.isr == isr
    assert moving.leader_epoch == before.leader_epoch + 1
    if r is None:
        assert sorted(moving.replicas) == sorted(replicas)
        return
    assert r.target(moving.replicas) == tuple(target) and sorted(r.original(moving.replicas)) == sorted(replicas)
    # completion only once every target replica is in sync; then exactly the targets remain
    synced = PartitionState(moving.replicas, leader, moving.leader_epoch, tuple(dict.fromkeys(isr + tuple(target))),
                            moving.partition_epoch)
    assert complete(moving, r, live) is None or set(target) <= set(isr)
    done = complete(synced, r, live)
    if done is None:
        assert leader not in target and not set(target) & live  # no live target replica to lead
        return
    assert done.replicas == tuple(target) and set(done.isr) == set(target)
    assert done.leader in target and done.leader in live and done.leader != NO_LEADER

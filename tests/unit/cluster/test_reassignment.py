"""The controller's reassignment rules (KIP-455): examples from Kafka's steps, then
properties over any assignment, ISR, target and set of live brokers."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from snakafka.cluster import reassignment
from snakafka.cluster.model import NO_LEADER, PartitionState

LIVE = frozenset(range(5))


def state(replicas: tuple[int, ...], leader: int, isr: tuple[int, ...], **kw: tuple[int, ...]) -> PartitionState:
    return PartitionState(replicas, leader, 3, isr, 7, **kw)


def test_start_adds_the_target_before_the_originals_and_records_what_moves() -> None:
    started = reassignment.start(state((0, 1, 2), 0, (0, 1, 2)), (3, 1, 2), LIVE)
    assert started == PartitionState((3, 1, 2, 0), 0, 4, (0, 1, 2), 8, adding=(3,), removing=(0,))
    assert reassignment.original_replicas(started) == (1, 2, 0)
    assert reassignment.target_replicas(started) == (3, 1, 2)


def test_nothing_completes_until_every_target_replica_is_in_sync() -> None:
    started = reassignment.start(state((0, 1, 2), 0, (0, 1, 2)), (3, 1, 2), LIVE)
    assert started is not None
    assert reassignment.progress(started, LIVE) is None
    caught_up = PartitionState(started.replicas, 0, 4, (0, 1, 2, 3), 9, adding=(3,), removing=(0,))
    done = reassignment.progress(caught_up, LIVE)
    # leader 0 was removed: the first in-sync target replica leads, 0 leaves the ISR
    assert done == PartitionState((3, 1, 2), 3, 5, (1, 2, 3), 10)


def test_the_leader_stays_when_it_remains_a_replica() -> None:
    caught_up = state((3, 1, 2, 0), 1, (0, 1, 2, 3), adding=(3,), removing=(0,))
    done = reassignment.progress(caught_up, LIVE)
    assert done is not None and done.leader == 1 and done.replicas == (3, 1, 2) and done.isr == (1, 2, 3)


def test_cancel_drops_the_replicas_being_added() -> None:
    moving = state((3, 1, 2, 0), 0, (0, 1, 2, 3), adding=(3,), removing=(0,))
    assert reassignment.cancel(moving, LIVE) == PartitionState((1, 2, 0), 0, 4, (0, 1, 2), 8)


def test_a_new_target_replaces_the_one_in_progress_keeping_the_originals() -> None:
    moving = state((3, 1, 2, 0), 0, (0, 1, 2, 3), adding=(3,), removing=(0,))
    redirected = reassignment.start(moving, (4, 1, 2), LIVE)
    assert redirected is not None
    assert redirected.replicas == (4, 1, 2, 0) and redirected.adding == (4,) and redirected.removing == (0,)
    assert 3 not in redirected.isr, "a replica no longer wanted leaves the ISR at once"


def test_the_same_replicas_need_no_reassignment() -> None:
    assert reassignment.start(state((0, 1, 2), 0, (0, 1, 2)), (0, 1, 2), LIVE) is None


@pytest.mark.parametrize(("target", "message"), [
    ((), "Empty replica list"),
    ((1, 1, 2), "Duplicate replica ids"),
    ((1, 2, 9), "not alive"),
])
def test_bad_targets_are_refused(target: tuple[int, ...], message: str) -> None:
    with pytest.raises(reassignment.ReassignmentError, match=message):
        reassignment.start(state((0, 1, 2), 0, (0, 1, 2)), target, LIVE)


brokers = st.lists(st.integers(0, 5), min_size=1, max_size=4, unique=True).map(tuple)


@given(replicas=brokers, target=brokers, isr_bits=st.lists(st.booleans(), min_size=4, max_size=4),
       live=st.frozensets(st.integers(0, 5), min_size=1), caught_up=st.booleans())
def test_every_step_keeps_the_isr_inside_the_replicas_and_never_leads_out_of_sync(
        replicas: tuple[int, ...], target: tuple[int, ...], isr_bits: list[bool], live: frozenset[int],
        caught_up: bool) -> None:
    isr = tuple(r for r, keep in zip(replicas, isr_bits, strict=False) if keep) or replicas[:1]
    before = PartitionState(replicas, isr[0], 3, isr, 7)
    try:
        started = reassignment.start(before, target, live | set(target))
    except reassignment.ReassignmentError:
        return
    assume(started is not None)
    assert started is not None
    for step in (started, reassignment.progress(
            PartitionState(started.replicas, started.leader, started.leader_epoch,
                           tuple(dict.fromkeys((*started.isr, *started.adding))) if caught_up else started.isr,
                           started.partition_epoch, adding=started.adding, removing=started.removing), live)):
        if step is None:
            continue
        assert set(step.isr) <= set(step.replicas) and step.isr, step
        assert step.leader == NO_LEADER or step.leader in step.isr, step
        assert step.leader_epoch > before.leader_epoch
    assert set(started.replicas) == set(target) | set(replicas)
    assert set(started.adding) == set(target) - set(replicas)
    assert set(started.removing) == set(replicas) - set(target)

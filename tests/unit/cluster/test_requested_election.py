"""Elections an admin asks for (ElectLeaders): Kafka's answers per partition, then
properties over any assignment, ISR and set of live brokers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from snakafka.cluster.election import (
    PREFERRED_ELECTION,
    UNCLEAN_ELECTION,
    requested_election,
)
from snakafka.cluster.model import NO_LEADER, PartitionState
from snakafka.protocol.errors import ErrorCode


def state(replicas: tuple[int, ...], leader: int, isr: tuple[int, ...]) -> PartitionState:
    return PartitionState(replicas=replicas, leader=leader, leader_epoch=3, isr=isr, partition_epoch=7)


def test_preferred_moves_leadership_to_the_first_replica_when_in_sync() -> None:
    new, error = requested_election(state((1, 2, 3), 2, (2, 1, 3)), {1, 2, 3}, PREFERRED_ELECTION)
    assert error == ErrorCode.none and new == PartitionState((1, 2, 3), 1, 4, (2, 1, 3), 8)


def test_preferred_is_not_needed_or_not_available() -> None:
    assert requested_election(state((1, 2), 1, (1, 2)), {1, 2}, PREFERRED_ELECTION) == \
        (None, ErrorCode.election_not_needed)
    # preferred replica out of sync, dead, or shutting down
    for live, isr, shutting in (({1, 2}, (2,), set()), ({2}, (2, 1), set()), ({1, 2}, (2, 1), {1})):
        assert requested_election(state((1, 2), 2, isr), live, PREFERRED_ELECTION, shutting_down=shutting) == \
            (None, ErrorCode.preferred_leader_not_available)


def test_unclean_revives_an_offline_partition_from_any_live_replica() -> None:
    offline = state((1, 2, 3), NO_LEADER, (1,))
    new, error = requested_election(offline, {2, 3}, UNCLEAN_ELECTION)
    assert error == ErrorCode.none and new is not None and (new.leader, new.isr) == (2, (2,))
    # a live ISR member goes first, keeping the live ISR
    new, _ = requested_election(state((1, 2, 3), NO_LEADER, (1, 3)), {2, 3}, UNCLEAN_ELECTION)
    assert new is not None and (new.leader, new.isr) == (3, (3,))
    assert requested_election(offline, set(), UNCLEAN_ELECTION) == (None, ErrorCode.eligible_leaders_not_available)
    assert requested_election(state((1, 2), 1, (1,)), {1, 2}, UNCLEAN_ELECTION) == (None, ErrorCode.election_not_needed)


states = st.lists(st.integers(0, 4), min_size=1, max_size=4, unique=True).flatmap(
    lambda replicas: st.tuples(
        st.just(tuple(replicas)),
        st.sampled_from([NO_LEADER, *replicas]),
        st.lists(st.sampled_from(replicas), min_size=1, unique=True).map(tuple),
        st.sets(st.integers(0, 4)),
        st.sampled_from([PREFERRED_ELECTION, UNCLEAN_ELECTION]),
    ))


@given(states)
def test_an_elected_leader_is_live_in_the_new_isr_and_epochs_move(case: tuple) -> None:  # type: ignore[type-arg]
    replicas, leader, isr, live, kind = case
    before = state(replicas, leader, isr)
    new, error = requested_election(before, live, kind)
    if new is None:
        assert error != ErrorCode.none
        return
    assert error == ErrorCode.none
    assert new.leader in live and new.leader in new.isr and new.replicas == replicas
    assert set(new.isr) <= set(replicas) and new.leader_epoch == before.leader_epoch + 1
    if kind == PREFERRED_ELECTION:
        assert new.leader == replicas[0] and new.isr == isr  # clean: the ISR is kept
    else:
        assert leader == NO_LEADER or leader not in live  # unclean only where no live leader

"""The controller's election rules: examples from Kafka's behaviour, then properties over
any assignment, ISR and set of live brokers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from snakafka.cluster.election import (
    blocks_controlled_shutdown,
    controlled_shutdown_leader,
    elect_leader,
    partition_after_brokers_change,
    preferred_leader_elections,
)
from snakafka.cluster.model import NO_LEADER, PartitionState

BROKERS = range(5)


def state(replicas: tuple[int, ...], leader: int, isr: tuple[int, ...], epoch: int = 3) -> PartitionState:
    return PartitionState(replicas=replicas, leader=leader, leader_epoch=epoch, isr=isr, partition_epoch=epoch + 4)


def test_a_dead_leader_is_replaced_by_the_first_live_isr_member_in_assignment_order() -> None:
    new = partition_after_brokers_change(state((1, 2, 3), 1, (3, 1, 2)), {2, 3})
    assert new == state((1, 2, 3), 2, (3, 2), epoch=4)


def test_a_dead_follower_leaves_the_isr_and_the_leader_stays() -> None:
    new = partition_after_brokers_change(state((1, 2, 3), 1, (1, 2, 3)), {1, 3})
    assert new == state((1, 2, 3), 1, (1, 3), epoch=4)


def test_nothing_changes_when_every_replica_that_matters_lives() -> None:
    assert partition_after_brokers_change(state((1, 2, 3), 1, (1, 2)), {1, 2}) is None
    # a returning out-of-sync follower joins the ISR through the leader, not the controller
    assert partition_after_brokers_change(state((1, 2, 3), 1, (1, 2)), {1, 2, 3}) is None


def test_the_last_isr_member_dying_takes_the_partition_offline_keeping_it_in_the_isr() -> None:
    new = partition_after_brokers_change(state((1, 2), 1, (1,)), {2})
    assert new == state((1, 2), NO_LEADER, (1,), epoch=4)
    # replication factor 1: the broker's death leaves its partition offline
    assert partition_after_brokers_change(state((7,), 7, (7,)), set()) == state((7,), NO_LEADER, (7,), epoch=4)


def test_an_offline_partition_waits_for_its_isr_member_and_then_elects_it() -> None:
    offline = state((1, 2), NO_LEADER, (1,), epoch=4)
    assert partition_after_brokers_change(offline, {2}) is None
    assert partition_after_brokers_change(offline, {1, 2}) == state((1, 2), 1, (1,), epoch=5)


def test_unclean_election_lets_an_out_of_sync_replica_lead_alone() -> None:
    offline = state((1, 2), NO_LEADER, (1,), epoch=4)
    assert partition_after_brokers_change(offline, {2}, unclean=True) == state((1, 2), 2, (2,), epoch=5)
    assert partition_after_brokers_change(state((1, 2), 1, (1,)), {2}, unclean=True) == state((1, 2), 2, (2,), epoch=4)


def test_elect_leader_prefers_the_isr_unless_none_of_it_lives() -> None:
    s = state((3, 2, 1), NO_LEADER, (1, 2))
    assert elect_leader(s, {1, 2, 3}) == 2
    assert elect_leader(s, {3}) is None
    assert elect_leader(s, {3}, unclean=True) == 3
    assert elect_leader(s, set(), unclean=True) is None


@st.composite
def partition_states(draw: st.DrawFn) -> PartitionState:
    replicas = tuple(draw(st.lists(st.sampled_from(BROKERS), min_size=1, max_size=4, unique=True)))
    isr = tuple(draw(st.lists(st.sampled_from(replicas), min_size=1, max_size=len(replicas), unique=True)))
    leader = draw(st.one_of(st.sampled_from(isr), st.just(NO_LEADER)))
    if leader == NO_LEADER:
        isr = isr[:1]  # an offline partition keeps one ISR member
    epoch = draw(st.integers(0, 1000))
    return PartitionState(replicas=replicas, leader=leader, leader_epoch=epoch, isr=isr, partition_epoch=epoch)


lives = st.frozensets(st.sampled_from(BROKERS))


@given(partition_states(), lives, st.booleans())
def test_election_invariants(old: PartitionState, live: frozenset[int], unclean: bool) -> None:
    new = partition_after_brokers_change(old, live, unclean=unclean)
    if new is None:
        # nothing to do only when the leader lives with a live ISR, or an offline
        # partition has no replica that may lead
        if old.leader != NO_LEADER:
            assert old.leader in live and set(old.isr) <= live
        else:
            assert elect_leader(old, live, unclean=unclean) is None
        return
    assert new.replicas == old.replicas
    assert (new.leader_epoch, new.partition_epoch) == (old.leader_epoch + 1, old.partition_epoch + 1)
    assert new.isr, "the ISR is never empty"
    if new.leader != NO_LEADER:
        assert new.leader in live and new.leader in new.replicas and new.leader in new.isr
        assert set(new.isr) <= live, "a led partition's ISR holds live brokers only"
        if not unclean:
            assert new.leader in old.isr, "a clean election never picks an out-of-sync replica"
            assert set(new.isr) <= set(old.isr)
    else:
        assert not unclean or not (live & set(old.replicas))
        assert not (live & set(old.isr)), "an offline partition has no live ISR member"
        assert len(new.isr) == 1 and new.isr[0] in old.isr
    # applying the same view again changes nothing: the controller's writes settle
    assert partition_after_brokers_change(new, live, unclean=unclean) is None


@given(partition_states(), lives)
def test_a_live_isr_member_always_keeps_the_partition_online(old: PartitionState, live: frozenset[int]) -> None:
    new = partition_after_brokers_change(old, live) or old
    if live & set(old.isr):
        assert new.leader != NO_LEADER


# -- controlled shutdown --------------------------------------------------------------


def test_controlled_shutdown_hands_leadership_to_the_first_eligible_isr_member_in_assignment_order() -> None:
    new = partition_after_brokers_change(state((3, 1, 2), 3, (2, 1, 3)), {1, 2, 3}, shutting_down={3})
    assert new == state((3, 1, 2), 1, (2, 1), epoch=4)
    # a dead ISR member is skipped, and leaves the ISR in the same write
    new = partition_after_brokers_change(state((3, 1, 2), 3, (2, 1, 3)), {2, 3}, shutting_down={3})
    assert new == state((3, 1, 2), 2, (2,), epoch=4)


def test_a_shutting_down_follower_leaves_the_isr_and_the_leader_stays() -> None:
    new = partition_after_brokers_change(state((1, 2, 3), 1, (1, 2, 3)), {1, 2, 3}, shutting_down={2})
    assert new == state((1, 2, 3), 1, (1, 3), epoch=4)


def test_a_shutting_down_leader_alone_in_the_isr_keeps_leading() -> None:
    assert partition_after_brokers_change(state((1, 2), 1, (1,)), {1, 2}, shutting_down={1}) is None
    assert controlled_shutdown_leader(state((1, 2), 1, (1,)), {1, 2}, {1}) is None
    # ... but its shutting-down followers still leave the ISR
    new = partition_after_brokers_change(state((1, 2, 3), 1, (1, 2)), {1, 2, 3}, shutting_down={1, 2})
    assert new == state((1, 2, 3), 1, (1,), epoch=4)


def test_an_offline_partition_never_elects_a_shutting_down_broker() -> None:
    offline = state((1, 2), NO_LEADER, (1,), epoch=4)
    assert partition_after_brokers_change(offline, {1, 2}, shutting_down={1}) is None
    assert partition_after_brokers_change(state((1, 2, 3), 1, (1, 2, 3)), {2, 3}, shutting_down={2}) == state(
        (1, 2, 3), 3, (3,), epoch=3 + 1)


def test_only_leaderships_another_replica_could_take_block_a_controlled_shutdown() -> None:
    assert blocks_controlled_shutdown(state((1, 2), 1, (1, 2)), 1, {1, 2}, {1})
    assert blocks_controlled_shutdown(state((1, 2), 1, (1,)), 1, {1, 2}, {1}), "2 may catch up: retry"
    assert not blocks_controlled_shutdown(state((1, 2), 2, (1, 2)), 1, {1, 2}, {1})
    assert not blocks_controlled_shutdown(state((1,), 1, (1,)), 1, {1}, {1}), "a single replica cannot hand over"
    assert not blocks_controlled_shutdown(state((1, 2), 1, (1, 2)), 1, {1}, {1}), "2 is dead"
    assert not blocks_controlled_shutdown(state((1, 2, 3), 1, (1, 2)), 1, {1, 2, 3}, {1, 2, 3}), "all stopping"


@st.composite
def views(draw: st.DrawFn) -> tuple[PartitionState, frozenset[int], frozenset[int]]:
    old = draw(partition_states())
    live = draw(lives)
    return old, live, draw(st.frozensets(st.sampled_from(sorted(live)))) if live else frozenset()


@given(views(), st.booleans())
def test_controlled_shutdown_invariants(view: tuple[PartitionState, frozenset[int], frozenset[int]],
                                        unclean: bool) -> None:
    old, live, shutting_down = view
    new = partition_after_brokers_change(old, live, unclean=unclean, shutting_down=shutting_down)
    result = new or old
    eligible = live - shutting_down
    if old.leader in live and old.leader in shutting_down:
        movable = controlled_shutdown_leader(old, live, shutting_down)
        if movable is not None:
            assert new is not None and new.leader == movable
            assert movable in old.isr and movable in eligible
            assert movable == next(r for r in old.replicas if r in old.isr and r in eligible), "assignment order"
            assert not blocks_controlled_shutdown(result, old.leader, live, shutting_down)
        else:
            assert result.leader == old.leader, "no other replica may lead: it keeps leading"
    if result.leader != NO_LEADER:
        # shutting-down brokers leave every ISR; only a leader that cannot hand over stays
        assert all(r in eligible or r == result.leader for r in result.isr)
        if new is not None and new.leader != old.leader:
            assert new.leader not in shutting_down, "a shutting-down broker is never elected"
    if new is not None:
        assert (new.leader_epoch, new.partition_epoch) == (old.leader_epoch + 1, old.partition_epoch + 1)
        assert partition_after_brokers_change(new, live, unclean=unclean, shutting_down=shutting_down) is None


# -- preferred replica election ---------------------------------------------------------


def test_leadership_returns_to_the_preferred_replica_above_the_imbalance_threshold() -> None:
    partitions = {p: state((1, 2), 2, (1, 2)) for p in range(3)}
    moves = preferred_leader_elections(partitions, {1, 2}, 10)
    assert moves == {p: state((1, 2), 1, (1, 2), epoch=4) for p in range(3)}


def test_an_imbalance_at_or_below_the_threshold_is_left_alone() -> None:
    partitions = {p: state((1, 2), 1, (1, 2)) for p in range(10)}
    partitions[0] = state((1, 2), 2, (1, 2))
    assert preferred_leader_elections(partitions, {1, 2}, 10) == {}, "1 in 10 is not above 10%"
    partitions[1] = state((1, 2), 2, (1, 2))
    assert set(preferred_leader_elections(partitions, {1, 2}, 10)) == {0, 1}
    assert preferred_leader_elections(partitions, {1, 2}, 20) == {}


def test_the_preferred_replica_must_be_live_in_sync_and_not_shutting_down() -> None:
    partitions = {"a": state((1, 2), 2, (2,)), "b": state((1, 2), 2, (1, 2))}
    assert set(preferred_leader_elections(partitions, {1, 2}, 10)) == {"b"}, "out of sync: stays"
    assert preferred_leader_elections(partitions, {2}, 10) == {}, "dead: stays"
    assert preferred_leader_elections(partitions, {1, 2}, 10, shutting_down={1}) == {}


@given(st.lists(partition_states(), max_size=8), lives, st.integers(0, 100))
def test_preferred_election_invariants(states: list[PartitionState], live: frozenset[int], percentage: int) -> None:
    partitions = dict(enumerate(states))
    moves = preferred_leader_elections(partitions, live, percentage)
    for key, new in moves.items():
        old = partitions[key]
        assert new.leader == old.replicas[0] != old.leader
        assert new.leader in live and new.leader in old.isr
        assert (new.replicas, new.isr) == (old.replicas, old.isr)
        assert (new.leader_epoch, new.partition_epoch) == (old.leader_epoch + 1, old.partition_epoch + 1)
    # a moved partition's broker counts it as balanced afterwards: a second check moves nothing
    assert preferred_leader_elections({**partitions, **moves}, live, percentage) == {}

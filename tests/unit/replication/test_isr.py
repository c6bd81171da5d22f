"""The leader's follower bookkeeping and ISR rules (replication/isr.py): Kafka's examples,
then a simulation over random fetch schedules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from snakafka.replication.isr import (
    UNKNOWN_OFFSET,
    FollowerState,
    Truncation,
    high_watermark,
    may_join_isr,
    out_of_sync,
    truncation_after_divergence,
)

LAG_MS = 30_000


def test_a_fetch_from_the_leaders_end_is_caught_up_now() -> None:
    f = FollowerState.new(now_ms=0)
    f.on_fetch(fetch_offset=10, leader_end_offset=10, now_ms=5_000)
    assert (f.log_end_offset, f.last_caught_up_ms) == (10, 5_000)


def test_reaching_where_the_leader_was_at_the_previous_fetch_is_caught_up_then() -> None:
    f = FollowerState.new(now_ms=0)
    f.on_fetch(fetch_offset=0, leader_end_offset=100, now_ms=1_000)  # behind: not caught up
    assert f.last_caught_up_ms == 0
    f.on_fetch(fetch_offset=100, leader_end_offset=150, now_ms=2_000)  # has what the leader had at 1 s
    assert f.last_caught_up_ms == 1_000


def test_a_follower_that_never_catches_a_moving_end_falls_out_of_the_isr() -> None:
    f = FollowerState.new(now_ms=0)
    leader_end = 100
    for t in range(1, 40):
        f.on_fetch(fetch_offset=leader_end - 60, leader_end_offset=leader_end, now_ms=t * 1_000)
        leader_end += 50  # the leader gains more than the follower reads
    assert out_of_sync(1, (1, 2), {2: f}, now_ms=39_000, lag_time_max_ms=LAG_MS) == [2]


def test_the_high_watermark_is_the_smallest_isr_end_and_never_goes_back() -> None:
    followers = {2: FollowerState(log_end_offset=7), 3: FollowerState(log_end_offset=4)}
    assert high_watermark(0, 1, 10, (1, 2, 3), followers) == 4
    assert high_watermark(0, 1, 10, (1, 2), followers) == 7  # 3 left the ISR: not waited for
    assert high_watermark(6, 1, 10, (1, 2, 3), followers) == 6  # never backwards
    assert high_watermark(3, 1, 10, (1, 2, 4), followers) == 3  # 4's position is unknown: hold


def test_joining_the_isr_needs_the_high_watermark_and_the_epoch_start() -> None:
    assert may_join_isr(FollowerState(log_end_offset=10), high_watermark=10, leader_epoch_start_offset=8)
    assert not may_join_isr(FollowerState(log_end_offset=9), high_watermark=10, leader_epoch_start_offset=8)
    assert not may_join_isr(FollowerState(log_end_offset=10), high_watermark=5, leader_epoch_start_offset=12)
    assert not may_join_isr(FollowerState(), high_watermark=0, leader_epoch_start_offset=0)


def test_out_of_sync_never_names_the_leader_and_counts_a_silent_follower() -> None:
    followers = {2: FollowerState(last_caught_up_ms=50_000), 3: FollowerState(last_caught_up_ms=10_000)}
    assert out_of_sync(1, (1, 2, 3, 4), followers, now_ms=60_000, lag_time_max_ms=LAG_MS) == [3, 4]


def test_truncation_after_divergence() -> None:
    # same epoch on both sides: the smaller end of it, done
    assert truncation_after_divergence(3, 120, (3, 140), 150, 90) == Truncation(120, True)
    # the follower's epoch is older: cut to its end and ask again
    assert truncation_after_divergence(3, 120, (2, 100), 150, 90) == Truncation(100, False)
    # the leader has no such epoch: only the committed part is kept
    assert truncation_after_divergence(UNKNOWN_OFFSET, UNKNOWN_OFFSET, (2, 100), 150, 90) == Truncation(90, True)
    # the follower has no epoch that old: the leader's end
    assert truncation_after_divergence(1, 40, (UNKNOWN_OFFSET, UNKNOWN_OFFSET), 150, 90) == Truncation(40, True)
    # never beyond the follower's own end
    assert truncation_after_divergence(3, 500, (3, 600), 150, 90) == Truncation(150, True)


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 50)), min_size=1, max_size=60))
def test_simulated_replication_keeps_committed_records_on_every_isr_member(steps: list[tuple[int, int]]) -> None:
    """A leader (1) appends; followers 2 and 3 fetch some of what it has, at random; the
    ISR shrinks and grows by the rules. Whatever the schedule, every ISR member holds
    everything below the high watermark, the high watermark never goes back, and the ISR
    always holds the leader."""
    now, leader_end, hw = 0, 0, 0
    isr: tuple[int, ...] = (1, 2, 3)
    followers = {2: FollowerState.new(now), 3: FollowerState.new(now)}
    have = {2: 0, 3: 0}
    for actor, amount in steps:
        now += 1_000 * (amount % 7)
        if actor <= 1:
            leader_end += amount  # produce
        else:
            have[actor] = min(leader_end, have[actor] + amount)  # fetch, then the next fetch reports it
            followers[actor].on_fetch(have[actor], leader_end, now)
        for lagging in out_of_sync(1, isr, followers, now, LAG_MS):
            isr = tuple(r for r in isr if r != lagging)
        new_hw = high_watermark(hw, 1, leader_end, isr, followers)
        assert new_hw >= hw
        hw = new_hw
        for replica in (2, 3):
            if replica not in isr and may_join_isr(followers[replica], hw, 0):
                isr = (*isr, replica)
        assert 1 in isr
        for replica in isr:
            if replica != 1:
                assert have[replica] >= hw, f"ISR member {replica} lacks committed records"


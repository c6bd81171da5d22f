"""Leader epoch cache: Kafka's assignment rules, OffsetForLeaderEpoch answers, truncation,
persistence."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snakafka.log.leader_epoch import EpochEntry, LeaderEpochCache


def cache_at(tmp_path: Path) -> LeaderEpochCache:
    return LeaderEpochCache.load(tmp_path / "leader-epoch-checkpoint", "t-0")


def test_assign_and_persist(tmp_path: Path) -> None:
    cache = cache_at(tmp_path)
    assert cache.latest_epoch is None
    assert cache.assign(0, 0)
    assert not cache.assign(0, 5)  # same epoch, later offset: nothing new
    assert cache.assign(2, 10)
    assert cache.latest_epoch == 2
    assert (tmp_path / "leader-epoch-checkpoint").read_text() == "0\n2\n0 0\n2 10\n"
    assert cache_at(tmp_path).entries == [EpochEntry(0, 0), EpochEntry(2, 10)]
    assert not cache.assign(-1, 20)


def test_assign_drops_entries_that_break_monotonicity(tmp_path: Path) -> None:
    cache = cache_at(tmp_path)
    cache.assign(1, 0)
    cache.assign(3, 10)
    cache.assign(5, 20)
    cache.assign(4, 15)  # a lower epoch: entries with epoch >= 4 or start >= 15 go
    assert cache.entries == [EpochEntry(1, 0), EpochEntry(3, 10), EpochEntry(4, 15)]
    cache.assign(4, 12)  # same epoch, earlier start: moves back
    assert cache.entries == [EpochEntry(1, 0), EpochEntry(3, 10), EpochEntry(4, 12)]


def test_end_offset_for_matches_kafka(tmp_path: Path) -> None:
    cache = cache_at(tmp_path)
    assert cache.end_offset_for(0, 100) == (-1, -1)  # empty cache
    cache.assign(2, 10)
    cache.assign(4, 30)
    cache.assign(7, 50)
    leo = 80
    assert cache.end_offset_for(7, leo) == (7, 80)  # latest: log end offset
    assert cache.end_offset_for(4, leo) == (4, 50)
    assert cache.end_offset_for(5, leo) == (4, 50)  # unknown epoch between: floor's end
    assert cache.end_offset_for(1, leo) == (1, 10)  # below the earliest
    assert cache.end_offset_for(8, leo) == (-1, -1)  # above the latest
    assert cache.end_offset_for(-1, leo) == (-1, -1)
    assert cache.epoch_for_offset(35) == 4 and cache.epoch_for_offset(5) is None


def test_truncation(tmp_path: Path) -> None:
    cache = cache_at(tmp_path)
    for epoch, start in [(0, 0), (1, 10), (2, 20), (3, 30)]:
        cache.assign(epoch, start)
    cache.truncate_from_end(21)
    assert [e.epoch for e in cache.entries] == [0, 1, 2]
    cache.truncate_from_end(20)
    assert [e.epoch for e in cache.entries] == [0, 1]
    cache.truncate_from_start(15)
    assert cache.entries == [EpochEntry(1, 15)]
    cache.truncate_from_start(5)  # below the start: nothing
    assert cache.entries == [EpochEntry(1, 15)]
    assert cache_at(tmp_path).entries == [EpochEntry(1, 15)]
    cache.clear()
    assert cache_at(tmp_path).entries == []


def test_malformed_file_is_an_empty_cache(tmp_path: Path) -> None:
    (tmp_path / "leader-epoch-checkpoint").write_text("0\n2\n1 0\n")
    assert cache_at(tmp_path).entries == []


ops = st.lists(
    st.one_of(
        st.tuples(st.just("assign"), st.integers(0, 20), st.integers(0, 200)),
        st.tuples(st.just("end"), st.integers(0, 200), st.just(0)),
        st.tuples(st.just("start"), st.integers(0, 200), st.just(0)),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=ops)
def test_invariants_under_random_operations(tmp_path: Path, ops: list[tuple[str, int, int]]) -> None:
    path = tmp_path / "leader-epoch-checkpoint"
    path.unlink(missing_ok=True)
    cache = LeaderEpochCache.load(path, "t-0")
    for op, a, b in ops:
        if op == "assign":
            cache.assign(a, b)
            assert cache.latest_epoch == a and cache.entries[-1].start_offset <= b
        elif op == "end":
            cache.truncate_from_end(a)
            assert all(e.start_offset < a for e in cache.entries)
        else:
            before = cache.entries
            cache.truncate_from_start(a)
            covering = [e for e in before if e.start_offset <= a]
            if covering:
                assert cache.entries[0] == EpochEntry(covering[-1].epoch, a)
        entries = cache.entries
        assert all(x.epoch < y.epoch and x.start_offset < y.start_offset for x, y in itertools.pairwise(entries))
    assert LeaderEpochCache.load(path, "t-0").entries == cache.entries

"""Offset and time indexes: lookups against a brute-force model, Kafka's file format,
persistence and sanity checks."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snakafka.log.index import IndexCorruptError, OffsetIndex, TimeIndex

BASE = 1000


def increasing(min_size: int = 0, max_size: int = 50) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(1, 500), min_size=min_size, max_size=max_size).map(
        lambda steps: [sum(steps[: i + 1]) for i in range(len(steps))])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offsets=increasing(), positions=increasing(max_size=50), probes=st.lists(st.integers(BASE - 5, BASE + 30_000)))
def test_offset_lookup_is_the_floor_entry(tmp_path: Path, offsets: list[int], positions: list[int],
                                          probes: list[int]) -> None:
    n = min(len(offsets), len(positions))
    entries = [(BASE + o, p) for o, p in zip(offsets[:n], positions[:n])]
    index = OffsetIndex(tmp_path / "x.index", BASE, 1 << 20, create=True)
    for offset, position in entries:
        index.append(offset, position)
    for probe in probes:
        floor = [e for e in entries if e[0] <= probe]
        assert index.lookup(probe) == (floor[-1] if floor else (BASE, 0))
    # The file is Kafka's format and reloads to the same answers.
    index.flush()
    data = (tmp_path / "x.index").read_bytes()
    assert data == b"".join(struct.pack(">ii", o - BASE, p) for o, p in entries)
    again = OffsetIndex(tmp_path / "x.index", BASE, 1 << 20)
    again.load(log_size=10**9)
    assert [again.lookup(p) for p in probes] == [index.lookup(p) for p in probes]


def test_offset_index_truncation_rewrites_the_file(tmp_path: Path) -> None:
    index = OffsetIndex(tmp_path / "x.index", 0, 1 << 20, create=True)
    for i in range(1, 6):
        index.append(i * 10, i * 100)
    index.flush()
    index.truncate_to_position(300)
    assert len(index) == 2 and index.last_entry == (20, 200)
    index.append(25, 250)
    index.flush()
    again = OffsetIndex(tmp_path / "x.index", 0, 1 << 20)
    again.load(log_size=1000)
    assert [again.lookup(o) for o in (9, 10, 24, 25, 99)] == [(0, 0), (10, 100), (20, 200), (25, 250), (25, 250)]


def test_offset_index_sanity_checks(tmp_path: Path) -> None:
    path = tmp_path / "x.index"
    index = OffsetIndex(path, 0, 1 << 20, create=True)
    assert index.peek_last_entry(log_size=0) == (0, 0)
    path.write_bytes(struct.pack(">ii", 5, 100) + b"\x00")
    with pytest.raises(IndexCorruptError):
        index.peek_last_entry(log_size=1000)
    path.write_bytes(struct.pack(">iiii", 5, 100, 9, 2000))
    with pytest.raises(IndexCorruptError):  # last entry past the end of the log
        index.peek_last_entry(log_size=1000)
    assert index.peek_last_entry(log_size=5000) == (9, 2000)
    path.write_bytes(struct.pack(">iiii", 9, 100, 5, 200))
    with pytest.raises(IndexCorruptError):  # not increasing
        index.load(log_size=1000)
    path.unlink()
    with pytest.raises(IndexCorruptError):  # missing
        index.peek_last_entry(log_size=1000)


def test_index_full(tmp_path: Path) -> None:
    index = OffsetIndex(tmp_path / "x.index", 0, 8 * 3, create=True)
    times = TimeIndex(tmp_path / "x.timeindex", 0, 12 * 2, create=True)
    for i in range(3):
        assert not index.is_full
        index.append(i, i)
        times.maybe_append(i + 1, i)
    assert index.is_full and times.is_full


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.integers(0, 1000), min_size=1, max_size=60), probes=st.lists(st.integers(-5, 1100)),
       every=st.integers(1, 5))
def test_time_lookup_never_skips_a_match(tmp_path: Path, batches: list[int], probes: list[int], every: int) -> None:
    """Batch i has max timestamp batches[i]; the index records the max so far every few
    batches, as a segment does. A scan from lookup(ts) must find the first batch whose
    max timestamp is >= ts."""
    index = TimeIndex(tmp_path / "x.timeindex", BASE, 1 << 20, create=True)
    max_ts, max_at = -1, BASE
    for i, ts in enumerate(batches):
        if ts > max_ts:
            max_ts, max_at = ts, BASE + i
        if i % every == 0:
            index.maybe_append(max_ts, max_at)
    for probe in probes:
        start = index.lookup(probe) - BASE
        expected = next((i for i, ts in enumerate(batches) if ts >= probe), None)
        found = next((i for i, ts in enumerate(batches) if i >= start and ts >= probe), None)
        assert found == expected
    index.flush()
    again = TimeIndex(tmp_path / "x.timeindex", BASE, 1 << 20)
    again.load(log_end_offset=BASE + len(batches))
    assert [again.lookup(p) for p in probes] == [index.lookup(p) for p in probes]
    assert again.peek_last_entry(BASE + len(batches)) == index.last_entry


def test_time_index_truncation_and_format(tmp_path: Path) -> None:
    index = TimeIndex(tmp_path / "x.timeindex", 100, 1 << 20, create=True)
    index.maybe_append(50, 100)
    index.maybe_append(40, 103)  # not larger: skipped
    index.maybe_append(60, 105)
    index.maybe_append(70, 110)
    index.flush()
    assert (tmp_path / "x.timeindex").read_bytes() == struct.pack(">qiqiqi", 50, 0, 60, 5, 70, 10)
    index.truncate_to_offset(106)
    assert index.last_entry == (60, 105)
    index.flush()
    assert (tmp_path / "x.timeindex").read_bytes() == struct.pack(">qiqi", 50, 0, 60, 5)
    with pytest.raises(IndexCorruptError):
        TimeIndex(tmp_path / "x.timeindex", 100, 1 << 20).load(log_end_offset=105)

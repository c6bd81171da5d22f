"""Opening logs from disk: crash recovery from torn tails and flipped bits, clean restarts,
the recovery point, leftovers of interrupted deletions and swaps."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.batches import make_batch
from support.log_helpers import contiguous, read_all

from snakafka.clock import ManualClock
from snakafka.log.log_config import LogConfig
from snakafka.log.partition_log import PartitionLog
from snakafka.protocol.batch import iter_batches

CONFIG = LogConfig(segment_bytes=1000, index_interval_bytes=200)


def write_log(directory: Path, clock: ManualClock, batches: int, *, close: bool = True) -> PartitionLog:
    log = PartitionLog.open(directory, "t", 0, CONFIG, clock)
    for i in range(batches):
        log.append(make_batch(1 + i % 3), leader_epoch=i // 4)
    if close:
        log.close()
    return log


def layout(directory: Path) -> list[tuple[Path, int, int, int, int]]:
    """(segment file, position, size, base offset, last offset) of every batch on disk."""
    out = []
    for path in sorted(directory.glob("*.log")):
        for pos, h in iter_batches(path.read_bytes()):
            out.append((path, pos, h.size, h.base_offset, h.last_offset))
    return out


def test_clean_restart_keeps_offsets(tmp_path: Path, clock: ManualClock) -> None:
    log = write_log(tmp_path / "t-0", clock, 30, close=False)
    before = read_all(log)
    end, size = log.log_end_offset, log.size_in_bytes
    log.flush()
    log.close()
    again = PartitionLog.open(tmp_path / "t-0", "t", 0, CONFIG, clock, recovery_point=end, needs_recovery=False)
    assert (again.log_end_offset, again.size_in_bytes, again.recovery_point) == (end, size, end)
    assert read_all(again) == before
    assert [e.epoch for e in again.leader_epoch_cache.entries] == list(range(8))
    assert again.end_offset_for_epoch(3) == (3, sum(1 + i % 3 for i in range(16)))  # where epoch 4 starts
    assert again.append(make_batch(1), leader_epoch=7).first_offset == end
    assert contiguous(read_all(again))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.integers(1, 25), data=st.data())
def test_recovery_from_a_torn_tail(tmp_path_factory, batches: int, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    directory = tmp_path_factory.mktemp("torn") / "t-0"
    clock = ManualClock()
    write_log(directory, clock, batches)
    on_disk = layout(directory)
    last = max(directory.glob("*.log"))
    cut = data.draw(st.integers(0, last.stat().st_size))
    os.truncate(last, cut)
    log = PartitionLog.open(directory, "t", 0, CONFIG, clock, needs_recovery=True)
    expected = [(b, e) for path, pos, size, b, e in on_disk if path != last or pos + size <= cut]
    assert read_all(log) == expected
    assert log.log_end_offset == (expected[-1][1] + 1 if expected else 0)
    assert log.recovery_point == log.log_end_offset
    assert log.append(make_batch(1)).first_offset == log.log_end_offset - 1
    assert contiguous(read_all(log))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.integers(2, 25), data=st.data())
def test_recovery_from_a_flipped_bit(tmp_path_factory, batches: int, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    """Recovery keeps exactly the batches before the damaged one and drops everything after
    it, in later segments too; offsets continue from there. The one undetectable change is
    to a batch's partitionLeaderEpoch (outside the CRC, like the base offset, but unlike
    the base offset not checkable against its neighbours): then everything is kept."""
    directory = tmp_path_factory.mktemp("flip") / "t-0"
    clock = ManualClock()
    write_log(directory, clock, batches)
    on_disk = layout(directory)
    path, pos, size, base, _ = data.draw(st.sampled_from(on_disk))
    at = data.draw(st.integers(pos, pos + size - 1))
    raw = bytearray(path.read_bytes())
    raw[at] ^= 1 << data.draw(st.integers(0, 7))
    path.write_bytes(bytes(raw))
    log = PartitionLog.open(directory, "t", 0, CONFIG, clock, needs_recovery=True)
    kept = read_all(log)
    if 12 <= at - pos < 16:
        assert kept == [(b, e) for _, _, _, b, e in on_disk]
    else:
        assert kept == [(b, e) for _, _, _, b, e in on_disk if b < base]
    assert log.log_end_offset == (kept[-1][1] + 1 if kept else 0)
    assert log.append(make_batch(1)).first_offset == (kept[-1][1] + 1 if kept else 0)
    assert contiguous(read_all(log))
    assert all(p.stat().st_size > 0 for p in sorted(directory.glob("*.log"))[:-1])


def test_only_segments_past_the_recovery_point_are_scanned(tmp_path: Path, clock: ManualClock) -> None:
    directory = tmp_path / "t-0"
    write_log(directory, clock, 30)
    on_disk = layout(directory)
    first_segment = on_disk[0][0]
    second_base = next(b for p, _, _, b, _ in on_disk if p != first_segment)
    raw = bytearray(first_segment.read_bytes())
    raw[-1] ^= 0xFF  # corrupt the last batch of the first segment
    first_segment.write_bytes(bytes(raw))
    # Below the recovery point: trusted, not scanned (the corruption goes unnoticed).
    log = PartitionLog.open(directory, "t", 0, CONFIG, clock, recovery_point=second_base, needs_recovery=True)
    assert len(read_all(log)) == len(on_disk)
    log.close()
    # From offset 0 everything is scanned: the first segment is cut, the others dropped.
    log = PartitionLog.open(directory, "t", 0, CONFIG, clock, recovery_point=0, needs_recovery=True)
    assert read_all(log) == [(b, e) for p, _, _, b, e in on_disk if p == first_segment][:-1]
    assert len(log.segments) == 1


def test_missing_indexes_are_rebuilt(tmp_path: Path, clock: ManualClock) -> None:
    directory = tmp_path / "t-0"
    write_log(directory, clock, 30)
    on_disk = layout(directory)
    for index in directory.glob("*index"):
        index.unlink()
    log = PartitionLog.open(directory, "t", 0, CONFIG, clock, needs_recovery=False)
    assert read_all(log) == [(b, e) for *_, b, e in on_disk]
    assert all(s.time_index.file.path.exists() for s in log.segments[:-1])


def test_log_start_offset_and_empty_directory(tmp_path: Path, clock: ManualClock) -> None:
    log = PartitionLog.open(tmp_path / "t-0", "t", 0, CONFIG, clock, log_start_offset=40)
    assert (log.log_start_offset, log.log_end_offset, log.segments[0].base_offset) == (40, 40, 40)
    log.append(make_batch(2))
    log.close()
    again = PartitionLog.open(tmp_path / "t-0", "t", 0, CONFIG, clock, log_start_offset=41, needs_recovery=False)
    assert (again.log_start_offset, again.log_end_offset) == (41, 42)
    clamped = PartitionLog.open(tmp_path / "t-1", "t", 1, CONFIG, clock, log_start_offset=0)
    assert clamped.log_start_offset == 0


def test_leftovers_are_removed(tmp_path: Path, clock: ManualClock) -> None:
    directory = tmp_path / "t-0"
    write_log(directory, clock, 3)
    for name in ["00000000000000000100.log.deleted", "00000000000000000100.index.deleted",
                 "00000000000000000200.log.cleaned", "00000000000000000300.index",
                 "leader-epoch-checkpoint.tmp"]:
        (directory / name).write_bytes(b"junk")
    PartitionLog.open(directory, "t", 0, CONFIG, clock, needs_recovery=True).close()
    assert sorted(p.name for p in directory.iterdir()) == [
        "00000000000000000000.index", "00000000000000000000.log", "00000000000000000000.timeindex",
        "00000000000000000006.snapshot",  # the producer-state snapshot a clean close writes
        "leader-epoch-checkpoint"]


def test_an_interrupted_swap_is_completed(tmp_path: Path, clock: ManualClock) -> None:
    """A crash after the cleaned segment became .swap but before the old segments were
    renamed: the swap segment wins over the segments it covers."""
    directory = tmp_path / "t-0"
    config = LogConfig(segment_bytes=1, cleanup_policy=("compact",))
    log = PartitionLog.open(directory, "t", 0, config, clock)
    for _ in range(4):
        log.append(make_batch(1))  # one batch per segment: 0, 1, 2, 3
    swap = log.new_cleaned_segment(0)
    for segment in log.segments[:3]:
        for pos, h in segment.headers():
            if h.base_offset != 1:
                swap.append(segment.read_batch(pos, h.size), h.base_offset, h.last_offset, h.max_timestamp,
                            h.base_offset)
    swap.close()
    swap.rename_state(".swap")
    log.close()
    again = PartitionLog.open(directory, "t", 0, config, clock, needs_recovery=True)
    assert read_all(again) == [(0, 0), (2, 2), (3, 3)]
    assert [s.base_offset for s in again.segments] == [0, 3]
    assert not list(directory.glob("*.swap"))

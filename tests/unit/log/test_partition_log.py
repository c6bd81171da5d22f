from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snakafka.clock import ManualClock
from snakafka.log.log_config import LogConfig
from snakafka.log.partition_log import OffsetOutOfRangeError, PartitionLog, RecordTooLargeError
from snakafka.protocol.batch import BatchError, CorruptBatchError, iter_batches

from support.batches import make_batch


def read_all(log: PartitionLog, start: int = 0) -> list[tuple[int, int]]:
    """(base offset, last offset) of every batch from `start`."""
    out = []
    offset = start
    while offset < log.log_end_offset:
        result = log.read(offset, 1 << 20)
        assert result.slice is not None
        data = result.slice.read_bytes()
        batches = list(iter_batches(data))
        assert batches, "a read must return at least one whole batch"
        for _, h in batches:
            out.append((h.base_offset, h.last_offset))
            offset = h.next_offset
    return out


def test_offsets_are_assigned_contiguously(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log()
    infos = [log.append(make_batch(n)) for n in (1, 5, 3)]
    assert [(i.first_offset, i.last_offset) for i in infos] == [(0, 0), (1, 5), (6, 8)]
    assert log.log_end_offset == 9
    assert read_all(log) == [(0, 0), (1, 5), (6, 8)]


def test_read_from_inside_a_batch_returns_that_batch(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log()
    log.append(make_batch(5))
    log.append(make_batch(5))
    result = log.read(7, 1 << 20)
    assert result.slice is not None
    assert [h.base_offset for _, h in iter_batches(result.slice.read_bytes())] == [5]


def test_read_respects_max_offset_and_bounds(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log()
    for _ in range(3):
        log.append(make_batch(2))
    result = log.read(0, 1 << 20, max_offset=4)
    assert [h.base_offset for _, h in iter_batches(result.slice.read_bytes())] == [0, 2]  # type: ignore[union-attr]
    assert log.read(6, 100).slice is None
    with pytest.raises(OffsetOutOfRangeError):
        log.read(7, 100)


def test_min_one_batch_even_above_max_bytes(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log()
    batch = make_batch(10, value_size=100)
    log.append(batch)
    result = log.read(0, 10)
    assert result.slice is not None and result.slice.size == len(batch)


def test_crc_and_size_validation(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log(LogConfig(max_message_bytes=200))
    bad = bytearray(make_batch(1))
    bad[-1] ^= 0xFF
    with pytest.raises(CorruptBatchError):
        log.append(bytes(bad))
    with pytest.raises(RecordTooLargeError):
        log.append(make_batch(5, value_size=100))
    old_magic = bytearray(make_batch(1))
    old_magic[16] = 1
    with pytest.raises(BatchError):
        log.append(bytes(old_magic))
    assert log.log_end_offset == 0


def test_roll_by_size_and_time(open_log, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    batch = make_batch(1, value_size=100)
    log = open_log(LogConfig(segment_bytes=len(batch) * 3, segment_ms=1000))
    for _ in range(7):
        log.append(batch)
    assert [s.base_offset for s in log.segments] == [0, 3, 6]
    clock.advance(1000)  # Kafka rolls once *more than* segment.ms has passed
    log.append(batch)
    assert [s.base_offset for s in log.segments] == [0, 3, 6]
    clock.advance(1)
    log.append(batch)
    assert [s.base_offset for s in log.segments] == [0, 3, 6, 8]
    assert read_all(log) == [(i, i) for i in range(9)]


def test_retention_by_size_and_time_advances_log_start(open_log, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    batch_ts = clock.time_ms()
    batch = make_batch(1, value_size=100, timestamp=batch_ts)
    log = open_log(LogConfig(segment_bytes=len(batch) * 2, retention_bytes=len(batch) * 4))
    for _ in range(8):
        log.append(batch)
    deleted = log.delete_old_segments(clock.time_ms())
    assert [s.base_offset for s in deleted] == [0, 2]
    assert log.log_start_offset == 4
    with pytest.raises(OffsetOutOfRangeError):
        log.read(3, 100)
    assert read_all(log, 4) == [(i, i) for i in range(4, 8)]
    log.update_config(LogConfig(segment_bytes=len(batch) * 2, retention_ms=1000))
    clock.advance(2000)
    log.delete_old_segments(clock.time_ms())
    assert log.log_start_offset == 8 and log.log_end_offset == 8
    assert log.append(batch).first_offset == 8
    for segment in deleted:
        segment.delete()
        assert not segment.log_path.exists()


def test_clean_restart_keeps_offsets(tmp_path: Path, clock: ManualClock) -> None:
    log = PartitionLog.open(tmp_path / "t-0", "t", 0, LogConfig(segment_bytes=500), clock)
    for _ in range(10):
        log.append(make_batch(3))
    log.flush()
    log.close()
    again = PartitionLog.open(tmp_path / "t-0", "t", 0, LogConfig(segment_bytes=500), clock,
                              recovery_point=30, needs_recovery=False)
    assert again.log_end_offset == 30
    assert again.append(make_batch(1)).first_offset == 30
    assert read_all(again) == [(i * 3, i * 3 + 2) for i in range(10)] + [(30, 30)]


def _write_log(directory: Path, clock: ManualClock, batches: int) -> list[int]:
    log = PartitionLog.open(directory, "t", 0, LogConfig(segment_bytes=1000), clock)
    ends = []
    for i in range(batches):
        ends.append(log.append(make_batch(1 + i % 3)).last_offset)
    log.close()
    return ends


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(1, 12), st.data())
def test_recovery_from_a_torn_tail(tmp_path_factory, batches: int, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    directory = tmp_path_factory.mktemp("torn") / "t-0"
    clock = ManualClock()
    _write_log(directory, clock, batches)
    segments = sorted(directory.glob("*.log"))
    last = segments[-1]
    size = last.stat().st_size
    cut = data.draw(st.integers(0, size))
    os.truncate(last, cut)
    log = PartitionLog.open(directory, "t", 0, LogConfig(segment_bytes=1000), clock, needs_recovery=True)
    kept = read_all(log)
    # Everything kept is whole, contiguous from 0, and the log continues right after it.
    assert [b for b, _ in kept] == ([0] + [e + 1 for _, e in kept[:-1]] if kept else [])
    assert log.log_end_offset == (kept[-1][1] + 1 if kept else 0)
    assert log.append(make_batch(1)).first_offset == log.log_end_offset - 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(2, 12), st.data())
def test_recovery_from_flipped_bits(tmp_path_factory, batches: int, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    directory = tmp_path_factory.mktemp("flip") / "t-0"
    clock = ManualClock()
    ends = _write_log(directory, clock, batches)
    segment = data.draw(st.sampled_from(sorted(directory.glob("*.log"))))
    raw = bytearray(segment.read_bytes())
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] ^= 1 << data.draw(st.integers(0, 7))
    segment.write_bytes(bytes(raw))
    base = int(segment.name[:20])
    # Batches wholly before the damaged byte must survive; nothing after it may.
    expected_before = [h.base_offset for p, h in iter_batches(bytes(raw)) if p + h.size <= at]
    log = PartitionLog.open(directory, "t", 0, LogConfig(segment_bytes=1000), clock, needs_recovery=True)
    kept = read_all(log)
    kept_bases = [b for b, _ in kept]
    assert [b for b in kept_bases if b >= base][: len(expected_before)] == expected_before
    assert kept_bases == sorted(kept_bases)
    assert [b for b, _ in kept] == ([0] + [e + 1 for _, e in kept[:-1]] if kept else [])
    assert log.log_end_offset <= ends[-1] + 1
    assert log.append(make_batch(1)).first_offset == (kept[-1][1] + 1 if kept else 0)

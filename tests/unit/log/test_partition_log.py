"""PartitionLog: offsets, reads, roll, retention, truncation, flushing, compaction seam."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.batches import make_batch
from support.log_helpers import contiguous, read_all

from snakafka.clock import ManualClock
from snakafka.log.log_config import LogConfig
from snakafka.log.partition_log import (
    OffsetOutOfRangeError,
    PartitionLog,
    RecordTooLargeError,
    UnexpectedAppendOffsetError,
)
from snakafka.protocol.batch import (
    BatchError,
    CorruptBatchError,
    iter_batches,
    set_base_offset,
    validate_batch,
)
from snakafka.protocol.records import NewRecord, encode_batch, encode_control_batch
from snakafka.protocol.validation import InvalidRecordError


def test_offsets_are_assigned_contiguously(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log()
    infos = [log.append(make_batch(n)) for n in (1, 5, 3)]
    assert [(i.first_offset, i.last_offset) for i in infos] == [(0, 0), (1, 5), (6, 8)]
    assert [i.records_count for i in infos] == [1, 5, 3]
    assert infos[1].log_append_time == -1 and infos[1].max_timestamp == 1_004
    assert log.log_end_offset == 9
    assert read_all(log) == [(0, 0), (1, 5), (6, 8)]


def test_several_batches_in_one_append(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log(LogConfig(index_interval_bytes=1))
    info = log.append(make_batch(2) + make_batch(3) + make_batch(1))
    assert (info.first_offset, info.last_offset, info.records_count) == (0, 5, 6)
    assert read_all(log) == [(0, 1), (2, 4), (5, 5)]
    assert log.read(3, 1 << 20).slice.read_bytes()[:8] == (2).to_bytes(8, "big")  # type: ignore[union-attr]


def test_read_from_inside_a_batch_returns_that_batch(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log()
    log.append(make_batch(5))
    log.append(make_batch(5))
    result = log.read(7, 1 << 20)
    assert result.slice is not None and result.fetch_offset == 7
    assert [h.base_offset for _, h in iter_batches(result.slice.read_bytes())] == [5]


def test_read_respects_max_offset_and_bounds(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log()
    for _ in range(3):
        log.append(make_batch(2))
    result = log.read(0, 1 << 20, max_offset=4)
    assert result.slice is not None
    assert [h.base_offset for _, h in iter_batches(result.slice.read_bytes())] == [0, 2]
    mid = log.read(0, 1 << 20, max_offset=3)  # 3 is inside batch 2-3: only whole batches below
    assert [h.base_offset for _, h in iter_batches(mid.slice.read_bytes())] == [0]  # type: ignore[union-attr]
    assert log.read(4, 1 << 20, max_offset=4).slice is None
    assert log.read(6, 100).slice is None
    with pytest.raises(OffsetOutOfRangeError) as exc:
        log.read(7, 100)
    assert exc.value.error_code == 1


def test_reads_never_span_segments(open_log) -> None:  # type: ignore[no-untyped-def]
    batch = make_batch(1, value_size=100)
    log = open_log(LogConfig(segment_bytes=len(batch) * 2))
    for _ in range(6):
        log.append(batch)
    assert [s.base_offset for s in log.segments] == [0, 2, 4]
    result = log.read(1, 1 << 20)
    assert [h.base_offset for _, h in iter_batches(result.slice.read_bytes())] == [1]  # type: ignore[union-attr]
    result = log.read(2, 1 << 20)
    assert [h.base_offset for _, h in iter_batches(result.slice.read_bytes())] == [2, 3]  # type: ignore[union-attr]


def test_min_one_batch_even_above_max_bytes(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log()
    batch = make_batch(10, value_size=100)
    log.append(batch)
    result = log.read(0, 10)
    assert result.slice is not None and result.slice.size == len(batch)
    assert log.read(0, 10, min_one_batch=False).slice.size == 10  # type: ignore[union-attr]


def test_validation_is_all_or_nothing(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log(LogConfig(max_message_bytes=200))
    bad = bytearray(make_batch(1))
    bad[-1] ^= 0xFF
    with pytest.raises(CorruptBatchError):
        log.append(make_batch(1) + bytes(bad))
    with pytest.raises(RecordTooLargeError) as too_large:
        log.append(make_batch(1) + make_batch(5, value_size=100))
    assert too_large.value.error_code == 10
    old_magic = bytearray(make_batch(1))
    old_magic[16] = 1
    with pytest.raises(BatchError):
        log.append(bytes(old_magic))
    with pytest.raises(BatchError):
        log.append(b"")
    with pytest.raises(BatchError):
        log.append(make_batch(1)[:-3])
    assert log.log_end_offset == 0 and log.size_in_bytes == 0


def test_leader_epoch_is_stamped_and_cached(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log()
    log.append(make_batch(2), leader_epoch=3)
    log.append(make_batch(2), leader_epoch=3)
    log.append(make_batch(1), leader_epoch=5)
    data = log.read(0, 1 << 20).slice.read_bytes()  # type: ignore[union-attr]
    assert [h.partition_leader_epoch for _, h in iter_batches(data)] == [3, 3, 5]
    for pos, h in iter_batches(data):
        validate_batch(data, pos)  # the epoch is outside the CRC: batches stay valid
    assert [(e.epoch, e.start_offset) for e in log.leader_epoch_cache.entries] == [(3, 0), (5, 4)]
    assert log.end_offset_for_epoch(3) == (3, 4)
    assert log.end_offset_for_epoch(5) == (5, 5)
    assert log.end_offset_for_epoch(9) == (-1, -1)


def test_log_append_time(open_log, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    log = open_log(LogConfig(message_timestamp_type="LogAppendTime"))
    info = log.append(make_batch(3, timestamp=5))
    assert info.log_append_time == clock.time_ms() == info.max_timestamp
    data = log.read(0, 1 << 20).slice.read_bytes()  # type: ignore[union-attr]
    header = validate_batch(data)  # CRC recomputed
    assert header.is_log_append_time and header.max_timestamp == clock.time_ms()


def test_follower_append_keeps_offsets(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log()
    batches = bytearray()
    for base, count, epoch in [(0, 2, 1), (2, 3, 1), (10, 1, 4)]:  # a gap, as compaction leaves
        b = bytearray(make_batch(count))
        set_base_offset(b, 0, base)
        b[12:16] = epoch.to_bytes(4, "big")
        batches += b
    info = log.append_as_follower(bytes(batches))
    assert (info.first_offset, info.last_offset) == (0, 10)
    assert log.log_end_offset == 11
    assert read_all(log) == [(0, 1), (2, 4), (10, 10)]
    assert [(e.epoch, e.start_offset) for e in log.leader_epoch_cache.entries] == [(1, 0), (4, 10)]
    with pytest.raises(UnexpectedAppendOffsetError):
        log.append_as_follower(make_batch(1))  # offset 0 < 11
    assert log.append(make_batch(1)).first_offset == 11


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
    clock.advance(10_000)  # an empty segment does not roll, and its clock starts at its first batch
    log.roll()
    log.append(batch)
    assert [s.base_offset for s in log.segments] == [0, 3, 6, 8, 9]
    assert read_all(log) == [(i, i) for i in range(10)]
    assert max(p.name for p in log.directory.glob("*.log")) == "00000000000000000009.log"


def test_roll_when_the_index_is_full(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log(LogConfig(index_interval_bytes=1, segment_index_bytes=8 * 4))
    for _ in range(12):
        log.append(make_batch(1))
    assert len(log.segments) > 1
    assert all(len(s.index) <= 4 for s in log.segments)
    assert read_all(log) == [(i, i) for i in range(12)]


def test_retention_by_size_and_time_advances_log_start(open_log, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    batch = make_batch(1, value_size=100, timestamp=clock.time_ms())
    log = open_log(LogConfig(segment_bytes=len(batch) * 2, retention_bytes=len(batch) * 4))
    for _ in range(8):
        log.append(batch)
    deleted = log.delete_old_segments(clock.time_ms())
    assert [s.base_offset for s in deleted] == [0, 2]
    assert log.log_start_offset == 4
    with pytest.raises(OffsetOutOfRangeError):
        log.read(3, 100)
    assert read_all(log) == [(i, i) for i in range(4, 8)]
    log.update_config(LogConfig(segment_bytes=len(batch) * 2, retention_ms=1000))
    clock.advance(1000)
    assert log.delete_old_segments(clock.time_ms()) == []  # not older than retention.ms yet
    clock.advance(1)
    gone = log.delete_old_segments(clock.time_ms())
    assert [s.base_offset for s in gone] == [4, 6]  # the active segment too, after a roll
    assert log.log_start_offset == 8 and log.log_end_offset == 8 and len(log.segments) == 1
    assert log.read(8, 100).slice is None
    assert log.append(batch).first_offset == 8
    for segment in deleted + gone:
        assert segment.log_path.name.endswith(".log.deleted")
        segment.delete()
        assert not segment.log_path.exists()


def test_retention_by_record_time_and_high_watermark(open_log, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    now = clock.time_ms()
    log = open_log(LogConfig(segment_bytes=1, retention_ms=1000))  # one batch per segment
    for age in (5000, 4000, 10, 3000):  # record timestamps, not append times, decide
        log.append(make_batch(1, timestamp=now - age))
    deleted = log.delete_old_segments(now, high_watermark=1)
    assert [s.base_offset for s in deleted] == [0]  # offset 1 is not below the high watermark
    deleted = log.delete_old_segments(now)
    assert [s.base_offset for s in deleted] == [1]  # offset 2 is recent: retention stops there
    assert log.log_start_offset == 2


def test_delete_records_before(open_log) -> None:  # type: ignore[no-untyped-def]
    batch = make_batch(2)
    log = open_log(LogConfig(segment_bytes=len(batch) * 2))
    for _ in range(4):
        log.append(batch)  # segments [0-3] [4-7]
    assert log.delete_records_before(3) == []  # inside the first segment
    assert log.log_start_offset == 3
    with pytest.raises(OffsetOutOfRangeError):
        log.read(2, 100)
    assert read_all(log) == [(2, 3), (4, 5), (6, 7)]  # a read starts at the batch holding 3
    assert [s.base_offset for s in log.delete_records_before(4)] == [0]
    assert [s.base_offset for s in log.delete_records_before(8)] == [4]
    assert log.log_start_offset == 8 and log.log_end_offset == 8
    with pytest.raises(OffsetOutOfRangeError):
        log.delete_records_before(9)


def test_truncate_to(open_log) -> None:  # type: ignore[no-untyped-def]
    batch = make_batch(2)
    log = open_log(LogConfig(segment_bytes=len(batch) * 2))
    for epoch in range(5):
        log.append(batch, leader_epoch=epoch)  # segments [0-3] [4-7] [8-9]
    log.flush()
    detached = log.truncate_to(5)
    assert [s.base_offset for s in detached] == [8]
    assert log.log_end_offset == 4 and log.recovery_point == 4  # batch 4-5 straddles 5: it goes whole
    assert [e.epoch for e in log.leader_epoch_cache.entries] == [0, 1]
    task = log.begin_flush()  # the cut must reach the disk though the recovery point did not move
    assert task is not None and task.fds == [log.active_segment.fd]
    assert log.append(batch, leader_epoch=7).first_offset == 4
    assert read_all(log) == [(0, 1), (2, 3), (4, 5)]
    assert log.truncate_to(100) == []


def test_truncating_at_the_end_drops_an_epoch_that_wrote_nothing(open_log) -> None:  # type: ignore[no-untyped-def]
    """A broker led epoch 3 from its log end without appending, then became a follower: the
    new leader's divergence answer truncates to that end, which must drop epoch 3 (else the
    follower fetches with it again and again, and never catches up)."""
    log = open_log()
    log.append(make_batch(2), leader_epoch=1)
    log.leader_epoch_cache.assign(3, log.log_end_offset)
    assert log.truncate_to(2) == []
    assert log.log_end_offset == 2
    assert [(e.epoch, e.start_offset) for e in log.leader_epoch_cache.entries] == [(1, 0)]


def test_truncate_fully_and_start_at(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log()
    log.append(make_batch(3), leader_epoch=1)
    detached = log.truncate_fully_and_start_at(50)
    assert len(detached) == 1 and detached[0].log_path.name == "00000000000000000000.log.deleted"
    assert (log.log_start_offset, log.log_end_offset, log.recovery_point) == (50, 50, 50)
    assert log.leader_epoch_cache.entries == []
    assert log.append(make_batch(1)).first_offset == 50
    with pytest.raises(OffsetOutOfRangeError):
        log.read(0, 100)
    for segment in detached:
        segment.delete()


def test_flush_policy_advances_the_recovery_point(open_log, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    batch = make_batch(1, value_size=100)
    log = open_log(LogConfig(flush_messages=3, segment_bytes=len(batch) * 4))
    log.append(batch)
    log.append(batch)
    assert log.recovery_point == 0
    log.append(batch)
    assert log.recovery_point == 3
    log.update_config(LogConfig(flush_ms=1000, segment_bytes=len(batch) * 4))
    for _ in range(3):
        log.append(batch)  # rolls at 4
    assert log.recovery_point == 3
    log.maybe_flush_by_time(clock.time_ms())  # a rolled segment is flushed up to the active base
    assert log.recovery_point == 4
    clock.advance(1000)
    log.maybe_flush_by_time(clock.time_ms())
    assert log.recovery_point == 6


def test_a_flush_begun_before_a_truncation_does_not_count(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log()
    log.append(make_batch(4))
    task = log.begin_flush()
    assert task is not None and task.up_to == 4
    log.truncate_to(0)
    log.append(make_batch(5))
    task.run()
    log.complete_flush(task)
    assert log.recovery_point == 0


def _cleaned_copy(log: PartitionLog, old: list, keep: set[int]):  # type: ignore[no-untyped-def,type-arg]
    """What a cleaner would do: copy the batches whose base offset is in `keep`."""
    new = log.new_cleaned_segment(old[0].base_offset)
    for segment in old:
        for pos, h in segment.headers():
            if h.base_offset in keep:
                new.append(segment.read_batch(pos, h.size), h.base_offset, h.last_offset, h.max_timestamp, h.base_offset)
    return new


def test_replace_segments_swaps_cleaned_segments_in(tmp_path: Path, clock: ManualClock) -> None:
    batch = make_batch(1)
    config = LogConfig(segment_bytes=len(batch) * 2, cleanup_policy=("compact",))
    log = PartitionLog.open(tmp_path / "t-0", "t", 0, config, clock)
    for _ in range(7):
        log.append(batch)  # segments [0,1] [2,3] [4,5] [6]
    old = log.segments[:2]
    new = _cleaned_copy(log, old, {1, 3})
    assert new.log_path.name == "00000000000000000000.log.cleaned"
    detached = log.replace_segments(old, new)
    assert detached == old and [s.base_offset for s in log.segments] == [0, 4, 6]
    assert read_all(log) == [(1, 1), (3, 3), (4, 4), (5, 5), (6, 6)]
    assert log.read(2, 100).slice.read_bytes()[:8] == (3).to_bytes(8, "big")  # type: ignore[union-attr]
    names = sorted(p.name for p in log.directory.glob("*.log*"))
    assert names == ["00000000000000000000.log", "00000000000000000000.log.deleted", "00000000000000000002.log.deleted",
                     "00000000000000000004.log", "00000000000000000006.log"]
    for segment in detached:
        segment.delete()
    log.close()
    again = PartitionLog.open(tmp_path / "t-0", "t", 0, config, clock, needs_recovery=True)
    assert read_all(again) == [(1, 1), (3, 3), (4, 4), (5, 5), (6, 6)]
    with pytest.raises(ValueError):
        again.replace_segments([again.segments[-1]], again.segments[-1])


def test_delete_removes_the_directory(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log()
    log.append(make_batch(1))
    log.delete()
    assert not log.directory.exists()


def test_short_write_leaves_nothing(open_log, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    log = open_log()
    log.append(make_batch(1))
    size = log.size_in_bytes
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data)[: len(data) // 2]))  # disk full
    with pytest.raises(OSError):
        log.append(make_batch(2))
    monkeypatch.undo()
    assert log.size_in_bytes == size and log.log_end_offset == 1
    assert log.append(make_batch(2)).first_offset == 1
    assert contiguous(read_all(log))


def test_follower_append_into_an_empty_log_starts_its_segment_there(tmp_path: Path, clock: ManualClock) -> None:
    log = PartitionLog.open(tmp_path / "t-0", "t", 0, LogConfig(), clock)
    batch = bytearray(make_batch(2))
    set_base_offset(batch, 0, 100)
    log.append_as_follower(bytes(batch))
    assert [s.base_offset for s in log.segments] == [100]
    log.close()
    again = PartitionLog.open(tmp_path / "t-0", "t", 0, LogConfig(), clock, needs_recovery=True)
    assert (again.log_end_offset, read_all(again, 100)) == (102, [(100, 101)])


def test_time_roll_after_a_restart_counts_from_the_first_batch(tmp_path: Path, clock: ManualClock) -> None:
    config = LogConfig(segment_ms=1000)
    log = PartitionLog.open(tmp_path / "t-0", "t", 0, config, clock)
    log.append(make_batch(1, timestamp=clock.time_ms()))
    log.close()
    clock.advance(600)
    again = PartitionLog.open(tmp_path / "t-0", "t", 0, config, clock, needs_recovery=False)
    again.append(make_batch(1, timestamp=clock.time_ms()))
    assert len(again.segments) == 1
    clock.advance(401)  # 1001 ms after the first batch, though only 401 after the restart
    again.append(make_batch(1, timestamp=clock.time_ms()))
    assert [s.base_offset for s in again.segments] == [0, 2]


def test_compacted_log_refuses_records_without_a_key(open_log, tmp_path: Path, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    log = open_log(LogConfig(cleanup_policy=("compact", "delete")))
    keyed = [NewRecord(key=b"k", value=b"v", offset_delta=0), NewRecord(key=b"k2", value=None, offset_delta=1)]
    keyless = [NewRecord(key=b"k", value=b"v", offset_delta=0), NewRecord(key=None, value=b"v", offset_delta=1)]
    assert log.append(encode_batch(keyed, compression=1)).last_offset == 1
    for compression in (0, 1, 4):  # the keys of compressed batches are checked too
        with pytest.raises(InvalidRecordError, match="without key in topic partition t-0") as refused:
            log.append(encode_batch(keyed) + encode_batch(keyless, compression=compression))
        assert refused.value.error_code == 87  # INVALID_RECORD
    assert log.log_end_offset == 2  # all or nothing
    # transaction markers carry no key and are not records of the topic
    marker = encode_control_batch(True, producer_id=7, producer_epoch=0, coordinator_epoch=0, timestamp=1_000)
    assert log.append(marker).first_offset == 2
    # a topic that is not compacted takes keyless records
    plain = PartitionLog.open(tmp_path / "u-0", "u", 0, LogConfig(), clock)
    assert plain.append(encode_batch(keyless)).records_count == 2

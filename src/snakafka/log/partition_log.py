"""One partition's log: ordered segments, offsets, retention, flushing and recovery.

It owns the log start offset (first readable offset), the log end offset (next offset
to assign) and the recovery point (everything below it is fsynced). Appends write each
batch verbatim after rewriting its base offset in the header; reads return file slices.
Not thread-safe: called from the broker's event loop.
"""

from __future__ import annotations

import bisect
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from snakafka.clock import Clock
from snakafka.log.files import LOG_SUFFIX
from snakafka.log.log_config import LogConfig
from snakafka.log.segment import BatchEntry, FileSlice, LogSegment
from snakafka.protocol.batch import (
    BatchError,
    BatchHeader,
    set_base_offset,
    set_log_append_time,
    set_partition_leader_epoch,
    validate_batch,
)

log = logging.getLogger(__name__)

__all__ = ["AppendInfo", "FileSlice", "OffsetOutOfRangeError", "PartitionLog", "ReadResult", "RecordTooLargeError"]


class RecordTooLargeError(BatchError):
    error_code = 10  # MESSAGE_TOO_LARGE


class OffsetOutOfRangeError(Exception):
    error_code = 1


@dataclass(frozen=True, slots=True)
class AppendInfo:
    first_offset: int
    last_offset: int
    log_append_time: int
    max_timestamp: int
    records_count: int
    size: int
    log_start_offset: int


@dataclass(frozen=True, slots=True)
class ReadResult:
    fetch_offset: int
    slice: FileSlice | None


class PartitionLog:
    def __init__(self, directory: Path, topic: str, partition: int, config: LogConfig, clock: Clock) -> None:
        self.directory = directory
        self.topic = topic
        self.partition = partition
        self.config = config
        self.clock = clock
        self.segments: list[LogSegment] = []
        self._base_offsets: list[int] = []
        self.log_start_offset = 0
        self.recovery_point = 0
        self._unflushed_messages = 0
        self._last_flush_ms = clock.time_ms()

    def __repr__(self) -> str:
        return f"PartitionLog({self.topic}-{self.partition}, start={self.log_start_offset}, end={self.log_end_offset})"

    # -- opening --------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        directory: Path,
        topic: str,
        partition: int,
        config: LogConfig,
        clock: Clock,
        *,
        recovery_point: int = 0,
        log_start_offset: int = 0,
        needs_recovery: bool = True,
    ) -> PartitionLog:
        directory.mkdir(parents=True, exist_ok=True)
        self = cls(directory, topic, partition, config, clock)
        for leftover in directory.glob("*.deleted"):
            leftover.unlink()
        for leftover in directory.glob("*.tmp"):
            leftover.unlink()
        bases = sorted(int(p.name[: -len(LOG_SUFFIX)]) for p in directory.glob("*" + LOG_SUFFIX) if p.name[:-4].isdigit())
        now = clock.time_ms()
        truncated = False
        for base in bases:
            segment = LogSegment(directory, base, config.index_interval_bytes, now)
            if truncated:
                log.warning("%s: deleting segment %d after a truncated one", self, base)
                segment.delete()
                continue
            recover = needs_recovery and _may_hold_unflushed(base, bases, recovery_point)
            if segment.load(recover, allow_gaps=config.compact) > 0:
                truncated = True
            if self.segments and segment.size == 0 and base != bases[-1]:
                segment.delete()
                continue
            self.segments.append(segment)
        if not self.segments:
            self.segments.append(LogSegment(directory, max(log_start_offset, 0), config.index_interval_bytes, now))
        self._base_offsets = [s.base_offset for s in self.segments]
        self.log_start_offset = max(log_start_offset, self.segments[0].base_offset)
        self.log_start_offset = min(self.log_start_offset, self.log_end_offset)
        self.recovery_point = min(recovery_point, self.log_end_offset) if not needs_recovery else self.log_end_offset
        if needs_recovery:
            self.flush()
        return self

    # -- properties -----------------------------------------------------------------

    @property
    def active_segment(self) -> LogSegment:
        return self.segments[-1]

    @property
    def log_end_offset(self) -> int:
        return self.segments[-1].next_offset

    @property
    def size_in_bytes(self) -> int:
        return sum(s.size for s in self.segments)

    def update_config(self, config: LogConfig) -> None:
        self.config = config

    # -- appends --------------------------------------------------------------------

    def _validate(self, data: bytes | bytearray | memoryview) -> list[tuple[int, BatchHeader]]:
        if len(data) == 0:
            raise BatchError("produce request had no record batches")
        batches: list[tuple[int, BatchHeader]] = []
        pos, end = 0, len(data)
        limit = self.config.max_message_bytes
        while pos < end:
            header = validate_batch(data, pos, end)
            if header.size > limit:
                raise RecordTooLargeError(
                    f"batch of {header.size} bytes exceeds max.message.bytes={limit} of {self.topic}-{self.partition}"
                )
            batches.append((pos, header))
            pos += header.size
        return batches

    def append(self, data: bytes | bytearray | memoryview, *, leader_epoch: int = 0) -> AppendInfo:
        """Append as leader: validate, assign offsets from the log end offset, write."""
        batches = self._validate(data)
        buf = bytearray(data)
        first_offset = offset = self.log_end_offset
        append_time = -1
        if self.config.message_timestamp_type == "LogAppendTime":
            append_time = self.clock.time_ms()
        max_ts = -1
        records = 0
        entries: list[BatchEntry] = []
        for pos, header in batches:
            set_base_offset(buf, pos, offset)
            set_partition_leader_epoch(buf, pos, leader_epoch)
            ts = header.max_timestamp
            if append_time >= 0:
                set_log_append_time(buf, pos, header.size, append_time)
                ts = append_time
            entries.append((pos, offset, header.last_offset_delta, ts, header.size))
            offset += header.last_offset_delta + 1
            max_ts = max(max_ts, ts)
            records += header.records_count
        self._write(buf, entries, offset - first_offset)
        return AppendInfo(first_offset, offset - 1, append_time, max_ts, records, len(buf), self.log_start_offset)

    def append_as_follower(self, data: bytes | bytearray | memoryview) -> AppendInfo:
        """Append batches that already carry their offsets (replication)."""
        batches = self._validate(data)
        first = batches[0][1].base_offset
        if first < self.log_end_offset:
            raise BatchError(f"follower append at {first} is below the log end offset {self.log_end_offset}")
        last = batches[-1][1].last_offset
        entries = [(pos, h.base_offset, h.last_offset_delta, h.max_timestamp, h.size) for pos, h in batches]
        self._write(bytes(data), entries, last - first + 1)
        return AppendInfo(first, last, -1, max(h.max_timestamp for _, h in batches),
                          sum(h.records_count for _, h in batches), len(data), self.log_start_offset)

    def _write(self, buf: bytes | bytearray, entries: list[BatchEntry], count: int) -> None:
        segment = self._maybe_roll(len(buf))
        segment.append(buf, entries)
        self._unflushed_messages += count
        config = self.config
        if self._unflushed_messages >= config.flush_messages:
            self.flush()

    def _maybe_roll(self, size: int) -> LogSegment:
        segment = self.active_segment
        if segment.size == 0:
            return segment
        now = self.clock.time_ms()
        too_big = segment.size + size > self.config.segment_bytes
        too_old = now - segment.created_ms >= self.config.segment_ms
        if too_big or too_old:
            return self.roll()
        return segment

    def roll(self) -> LogSegment:
        """Start a new active segment at the log end offset."""
        active = self.active_segment
        if active.size == 0:
            return active
        base = self.log_end_offset
        active.index.flush()
        active.time_index.flush()
        segment = LogSegment(self.directory, base, self.config.index_interval_bytes, self.clock.time_ms())
        self.segments.append(segment)
        self._base_offsets.append(base)
        log.debug("%s: rolled new segment at %d", self, base)
        return segment

    # -- reads ----------------------------------------------------------------------

    def _segment_index(self, offset: int) -> int:
        return max(bisect.bisect_right(self._base_offsets, offset) - 1, 0)

    def read(self, fetch_offset: int, max_bytes: int, *, max_offset: int | None = None, min_one_batch: bool = True) -> ReadResult:
        end = self.log_end_offset
        if fetch_offset < self.log_start_offset or fetch_offset > end:
            raise OffsetOutOfRangeError(
                f"offset {fetch_offset} is out of range [{self.log_start_offset}, {end}] for {self.topic}-{self.partition}"
            )
        limit = end if max_offset is None else min(max_offset, end)
        if fetch_offset >= limit:
            return ReadResult(fetch_offset, None)
        i = self._segment_index(fetch_offset)
        while i < len(self.segments):
            segment = self.segments[i]
            max_position = segment.size
            if limit < segment.next_offset:
                max_position, _ = segment.find_position(limit)
            result = segment.read(fetch_offset, max_bytes, max_position, min_one_batch)
            if result is not None or limit <= segment.next_offset:
                return ReadResult(fetch_offset, result)
            i += 1  # offset fell in a gap (compaction) or at a segment's end
        return ReadResult(fetch_offset, None)

    def iter_batch_headers(self, start_offset: int = 0) -> list[tuple[int, BatchHeader]]:
        """(segment index, header) of every batch from start_offset: header-only scans."""
        result = []
        for i in range(self._segment_index(start_offset), len(self.segments)):
            for _, header in self.segments[i].iter_headers():
                if header.last_offset >= start_offset:
                    result.append((i, header))
        return result

    def offset_for_timestamp(self, timestamp_ms: int) -> tuple[int, int] | None:
        """First batch whose max timestamp >= ts: (offset, timestamp). The batch's base
        offset is returned (records are not decoded), which is where a consumer resumes."""
        for segment in self.segments:
            if segment.max_timestamp < timestamp_ms:
                continue
            start = segment.time_index.lookup(timestamp_ms)
            position, _ = segment.find_position(start)
            for _, header in segment.iter_headers(position):
                if header.max_timestamp >= timestamp_ms and header.last_offset >= self.log_start_offset:
                    return max(header.base_offset, self.log_start_offset), header.max_timestamp
        return None

    def max_timestamp_and_offset(self) -> tuple[int, int] | None:
        best: tuple[int, int] | None = None
        for segment in self.segments:
            if best is not None and segment.max_timestamp <= best[1]:
                continue
            for _, header in segment.iter_headers():
                if best is None or header.max_timestamp > best[1]:
                    best = (header.last_offset, header.max_timestamp)
        return best

    # -- retention ------------------------------------------------------------------

    def delete_old_segments(self, now_ms: int | None = None, *, high_watermark: int | None = None) -> list[LogSegment]:
        now = self.clock.time_ms() if now_ms is None else now_ms
        limit = self.log_end_offset if high_watermark is None else high_watermark
        config = self.config
        deletable: list[LogSegment] = []
        size = self.size_in_bytes
        for segment in self.segments:
            if segment.size == 0 or segment.next_offset > limit:
                break
            expired = config.retention_ms >= 0 and now - segment.max_timestamp > config.retention_ms
            oversize = config.retention_bytes >= 0 and size - segment.size >= config.retention_bytes
            if not (expired or oversize):
                break
            deletable.append(segment)
            size -= segment.size
        return self._detach(deletable)

    def delete_records_before(self, offset: int) -> list[LogSegment]:
        if offset > self.log_end_offset:
            raise OffsetOutOfRangeError(f"cannot delete records past the log end offset {self.log_end_offset}")
        self.log_start_offset = max(self.log_start_offset, offset)
        return self._detach([s for s in self.segments if s.next_offset <= offset and s.size > 0])

    def _detach(self, segments: list[LogSegment]) -> list[LogSegment]:
        if not segments:
            return []
        if len(segments) == len(self.segments):
            self.roll()
        keep = [s for s in self.segments if s not in segments]
        self.segments = keep
        self._base_offsets = [s.base_offset for s in keep]
        self.log_start_offset = max(self.log_start_offset, keep[0].base_offset)
        for segment in segments:
            segment.rename_deleted()
        log.info("%s: deleted %d segment(s), log start offset now %d", self, len(segments), self.log_start_offset)
        return segments

    # -- truncation (followers) -----------------------------------------------------

    def truncate_to(self, offset: int) -> None:
        if offset >= self.log_end_offset:
            return
        while len(self.segments) > 1 and self.segments[-1].base_offset >= offset:
            self.segments.pop().delete()
            self._base_offsets.pop()
        self.active_segment.truncate_to(offset)
        self.recovery_point = min(self.recovery_point, self.log_end_offset)

    def truncate_fully_and_start_at(self, offset: int) -> None:
        for segment in self.segments:
            segment.delete()
        segment = LogSegment(self.directory, offset, self.config.index_interval_bytes, self.clock.time_ms())
        self.segments = [segment]
        self._base_offsets = [offset]
        self.log_start_offset = self.recovery_point = offset

    def replace_segments(self, old: list[LogSegment], new: LogSegment) -> None:
        """Swap cleaned segments in (compaction): `new` holds their surviving batches."""
        first = self.segments.index(old[0])
        self.segments[first : first + len(old)] = [new]
        self._base_offsets = [s.base_offset for s in self.segments]
        for segment in old:
            segment.rename_deleted()

    # -- durability -----------------------------------------------------------------

    def flush(self, up_to: int | None = None) -> None:
        for segment in self.segments:
            if segment.next_offset > self.recovery_point or segment is self.active_segment:
                segment.flush()
        self.recovery_point = self.log_end_offset
        self._unflushed_messages = 0
        self._last_flush_ms = self.clock.time_ms()

    def maybe_flush_by_time(self, now_ms: int) -> None:
        if self._unflushed_messages and now_ms - self._last_flush_ms >= self.config.flush_ms:
            self.flush()

    def close(self) -> None:
        for segment in self.segments:
            segment.index.flush()
            segment.time_index.flush()
            segment.close()

    def delete(self) -> None:
        self.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def _may_hold_unflushed(base: int, bases: list[int], recovery_point: int) -> bool:
    """A segment needs recovery if any of its offsets may be at or past the recovery point."""
    i = bases.index(base)
    next_base = bases[i + 1] if i + 1 < len(bases) else None
    return next_base is None or next_base > recovery_point


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

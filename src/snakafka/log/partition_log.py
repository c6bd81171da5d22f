"""One partition's log: ordered segments, offsets, appends, reads, retention, flushing.

It owns the log start offset (first readable offset), the log end offset (next offset to
assign, from the active segment) and the recovery point (everything below it is known to
be on disk; recovery after a crash scans only from there). Appends validate every batch
before writing anything, rewrite base offsets in one copy of the request's bytes, and
write with one write() call; reads return FileSlices the broker can sendfile() from.
Loading from disk and crash recovery live in `snakafka.log.loader`.

It also owns the producer state (idempotence and ongoing transactions, as Kafka's
UnifiedLog does): every append, leader's or follower's, feeds it; an ABORT marker adds an
entry to the active segment's `.txnindex`; opening the log and truncating it rebuild it
from the batches (see txn_state.py). `first_unstable_offset` is where the earliest open
transaction begins: the partition's last stable offset is it, capped by the high watermark.

Segments removed from the log (retention, DeleteRecords, truncation, compaction) are
renamed `.deleted` and returned to the caller, who deletes them (`segment.delete()`)
after file.delete.delay.ms, in a thread if it likes: fetches in flight keep their fds.

Not thread-safe: called from the broker's event loop. Only `FlushTask.run()` (fsync) is
meant to run in another thread.
"""

from __future__ import annotations

import bisect
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from snakafka.clock import Clock
from snakafka.log import producer_snapshot, timestamps, txn_state
from snakafka.log.checkpoint import fsync_dir
from snakafka.log.files import CLEANED_SUFFIX, LEADER_EPOCH_CHECKPOINT, SWAP_SUFFIX
from snakafka.log.flush import FlushTask
from snakafka.log.leader_epoch import LeaderEpochCache
from snakafka.log.loader import load_log
from snakafka.log.log_config import LogConfig
from snakafka.log.producer_state import ProducerStateManager
from snakafka.log.recompress import recompress, target_codec
from snakafka.log.segment import INT32_MAX, FileSlice, LogSegment
from snakafka.log.txn_index import AbortedTxn
from snakafka.protocol.batch import (
    BatchError,
    BatchHeader,
    set_base_offset,
    set_create_time_max_timestamp,
    set_log_append_time,
    set_partition_leader_epoch,
    validate_batch,
)
from snakafka.protocol.validation import (
    ValidationPolicy,
    check_client_header,
    validate_records,
)

log = logging.getLogger(__name__)

__all__ = [
    "AppendInfo",
    "FileSlice",
    "FlushTask",
    "OffsetOutOfRangeError",
    "PartitionLog",
    "ReadResult",
    "RecordTooLargeError",
    "UnexpectedAppendOffsetError",
]


class RecordTooLargeError(BatchError):
    """A batch larger than max.message.bytes."""

    error_code = 10  # MESSAGE_TOO_LARGE


class OffsetOutOfRangeError(Exception):
    error_code = 1  # OFFSET_OUT_OF_RANGE


class UnexpectedAppendOffsetError(BatchError):
    """A follower append whose offsets do not start at or after the log end offset."""

    def __init__(self, message: str, first_offset: int, last_offset: int) -> None:
        super().__init__(message)
        self.first_offset = first_offset
        self.last_offset = last_offset


@dataclass(frozen=True, slots=True)
class AppendInfo:
    first_offset: int
    last_offset: int
    log_append_time: int  # -1 unless message.timestamp.type=LogAppendTime
    max_timestamp: int
    records_count: int
    size: int
    log_start_offset: int


@dataclass(frozen=True, slots=True)
class ReadResult:
    fetch_offset: int
    slice: FileSlice | None  # None: nothing to return
    upper_bound: int = -1  # the returned data lies below this offset (the read's segment's end, or the limit)


class PartitionLog:
    def __init__(self, directory: Path, topic: str, partition: int, config: LogConfig, clock: Clock) -> None:
        self.directory = directory
        self.topic = topic
        self.partition = partition
        self.name = f"{topic}-{partition}"
        self.config = config
        self.clock = clock
        self.segments: list[LogSegment] = []
        self._base_offsets: list[int] = []
        self.log_start_offset = 0
        self.recovery_point = 0
        self.leader_epoch_cache = LeaderEpochCache(directory / LEADER_EPOCH_CHECKPOINT, self.name)
        self._last_flush_ms = clock.time_ms()
        self._generation = 0  # bumped by truncations: flushes begun before one are void
        self._dir_dirty = False  # files created or renamed since the last directory fsync
        self.producer_state = ProducerStateManager()
        self._states_at_roll = txn_state.StatesAtRoll()  # so a truncation replays only the log's tail
        self._policy: tuple[LogConfig, ValidationPolicy] | None = None  # produce validation's view of a config

    def __repr__(self) -> str:
        return f"PartitionLog({self.name}, start={self.log_start_offset}, end={self.log_end_offset})"

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
        """Open (or create) the log in `directory`. After an unclean shutdown
        (`needs_recovery`), segments that may hold offsets at or past `recovery_point`
        are validated batch by batch and truncated at the first torn or corrupt batch;
        later segments are dropped. See snakafka.log.loader."""
        self = cls(directory, topic, partition, config, clock)
        loaded = load_log(directory, self.name, config, recovery_point=recovery_point,
                          log_start_offset=log_start_offset, needs_recovery=needs_recovery)
        self._set_segments(loaded.segments)
        self.log_start_offset = loaded.log_start_offset
        self.leader_epoch_cache = loaded.leader_epoch_cache
        self.recovery_point = loaded.log_end_offset
        snapshot = producer_snapshot.take(directory, self.log_end_offset, self.name)
        if snapshot is not None and not needs_recovery and not loaded.rebuild_txn_indexes:
            self.producer_state = snapshot  # a clean shutdown's: no replay needed
        else:
            txn_state.replay(self.producer_state, self.segments, self.log_start_offset, loaded.rebuild_txn_indexes,
                             self.name)
        return self

    # -- state ----------------------------------------------------------------------

    @property
    def active_segment(self) -> LogSegment:
        return self.segments[-1]

    @property
    def log_end_offset(self) -> int:
        return self.segments[-1].next_offset

    @property
    def size_in_bytes(self) -> int:
        return sum(s.size for s in self.segments)

    @property
    def first_unstable_offset(self) -> int | None:
        """First offset of the earliest transaction still open or whose marker is not yet
        known to be below the high watermark (never below the log start offset, as Kafka
        clamps it); None when there is none."""
        first = self.producer_state.first_unstable_offset
        return None if first is None else max(first, self.log_start_offset)

    def last_stable_offset(self, high_watermark: int) -> int:
        """min(first unstable offset, high watermark), after forgetting the transactions
        whose markers the high watermark has passed."""
        state = self.producer_state
        if not state.ongoing and not state.unreplicated:  # no transaction: asked on every fetch
            return high_watermark
        state.on_high_watermark(high_watermark)
        first = self.first_unstable_offset
        return high_watermark if first is None else min(first, high_watermark)

    def rebuild_producer_state(self) -> None:
        """Replay the producer state after a truncation: from the newest copy kept at a
        segment roll still within the log, else from the log start."""
        state, start = self._states_at_roll.restore(self.log_start_offset, self.log_end_offset)
        txn_state.replay(state, self.segments, start, set(), self.name)
        self.producer_state = state

    def update_config(self, config: LogConfig) -> None:
        self.config = config
        self.active_segment.index_interval_bytes = config.index_interval_bytes

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """(epoch, end offset) for OffsetForLeaderEpoch; (-1, -1) if unknown."""
        return self.leader_epoch_cache.end_offset_for(epoch, self.log_end_offset)

    def _set_segments(self, segments: list[LogSegment]) -> None:
        self.segments = segments
        self._base_offsets = [s.base_offset for s in segments]

    def _new_segment(self, base_offset: int, state: str = "") -> LogSegment:
        self._dir_dirty = True
        return LogSegment.create(self.directory, base_offset, index_interval_bytes=self.config.index_interval_bytes,
                                 max_index_bytes=self.config.segment_index_bytes, state=state)

    def new_cleaned_segment(self, base_offset: int) -> LogSegment:
        """An empty `.cleaned` segment for the log cleaner to fill, then swap in with
        replace_segments."""
        return self._new_segment(base_offset, CLEANED_SUFFIX)

    # -- appends --------------------------------------------------------------------

    def _validate(self, data: bytes | bytearray | memoryview, *, from_client: bool) -> list[tuple[int, BatchHeader]]:
        """Check every batch's header and CRC before anything is written (appends are
        all-or-nothing); a client's batches also get LogValidator's header checks."""
        if len(data) == 0:
            raise BatchError(f"{self.name}: append with no record batches")
        batches: list[tuple[int, BatchHeader]] = []
        pos, end = 0, len(data)
        limit = self.config.max_message_bytes
        while pos < end:
            header = validate_batch(data, pos, end)
            if header.size > limit:
                raise RecordTooLargeError(f"{self.name}: batch of {header.size} bytes exceeds max.message.bytes={limit}")
            if from_client and (header.records_count != header.last_offset_delta + 1 or header.records_count <= 0):
                check_client_header(header, self.name)
            batches.append((pos, header))
            pos += header.size
        return batches

    def _validate_records(self, data: bytes | bytearray | memoryview, batches: list[tuple[int, BatchHeader]],
                          now_ms: int) -> list[int]:
        """LogValidator's record checks (snakafka.protocol.validation) on every batch: the
        records' framing, timestamps, keys of compacted topics. Returns each batch's true
        max timestamp, which the stored header must carry under CreateTime."""
        if self._policy is None or self._policy[0] is not self.config:
            self._policy = (self.config, self.config.validation_policy(self.name))
        policy = self._policy[1]
        return [validate_records(data, pos, header, policy, now_ms) for pos, header in batches]

    def append(self, data: bytes | bytearray | memoryview, *, leader_epoch: int = 0) -> AppendInfo:
        """Append as leader: validate, assign offsets from the log end offset, stamp the
        leader epoch (and LogAppendTime if configured), write. Transaction markers are
        checked against the producer state first (ProducerStateError if fenced); whether
        the caller may write control batches at all is the caller's rule."""
        batches = self._validate(data, from_client=True)
        now = self.clock.time_ms()
        max_timestamps = self._validate_records(data, batches, now)
        txn_state.check_markers(self.producer_state, data, batches)
        codec = target_codec(self.config.compression_type)
        if codec is not None:
            recompressed = recompress(data, codec)
            if recompressed is not data:  # re-encoded batches carry their records' max timestamps
                data = recompressed
                batches = self._validate(data, from_client=True)
                max_timestamps = [header.max_timestamp for _, header in batches]
        buf = bytearray(data)
        first = offset = self.log_end_offset
        append_time = now if self.config.message_timestamp_type == "LogAppendTime" else -1
        max_ts, offset_of_max, records = -1, first, 0
        offsets: list[int] = []
        for (pos, header), ts in zip(batches, max_timestamps, strict=True):
            offsets.append(offset)
            set_base_offset(buf, pos, offset)
            set_partition_leader_epoch(buf, pos, leader_epoch)
            if append_time >= 0:
                set_log_append_time(buf, pos, header.size, append_time)
                ts = append_time
            elif ts != header.max_timestamp or header.is_log_append_time:
                set_create_time_max_timestamp(buf, pos, header.size, ts)
            if ts > max_ts:
                max_ts, offset_of_max = ts, offset
            offset += header.last_offset_delta + 1
            records += header.records_count
        self.leader_epoch_cache.assign(leader_epoch, first)
        self._write(buf, first, offset - 1, max_ts, offset_of_max)
        txn_state.track_append(self.producer_state, self.active_segment, buf, batches, offsets, self.name)
        return AppendInfo(first, offset - 1, append_time, max_ts, records, len(buf), self.log_start_offset)

    def append_as_follower(self, data: bytes | bytearray | memoryview) -> AppendInfo:
        """Append batches that already carry their offsets and leader epochs (replication):
        offsets must increase from the log end offset; gaps are allowed (compaction)."""
        batches = self._validate(data, from_client=False)
        first, last = batches[0][1].base_offset, batches[-1][1].last_offset
        expected = self.log_end_offset
        max_ts, offset_of_max, records = -1, first, 0
        for _, header in batches:
            if header.base_offset < expected:
                raise UnexpectedAppendOffsetError(
                    f"{self.name}: follower append of offsets {first}..{last} below {expected}", first, last)
            expected = header.next_offset
            if header.max_timestamp > max_ts:
                max_ts, offset_of_max = header.max_timestamp, header.base_offset
            records += header.records_count
        for _, header in batches:
            self.leader_epoch_cache.assign(header.partition_leader_epoch, header.base_offset)
        self._write(data, first, last, max_ts, offset_of_max)
        txn_state.track_append(self.producer_state, self.active_segment, data, batches,
                               [h.base_offset for _, h in batches], self.name)
        return AppendInfo(first, last, -1, max_ts, records, len(data), self.log_start_offset)

    def _write(self, data: bytes | bytearray | memoryview, first: int, last: int, max_ts: int, offset_of_max: int) -> None:
        now = self.clock.time_ms()
        segment = self._maybe_roll(len(data), first, last, now)
        segment.append(data, first, last, max_ts, offset_of_max, now_ms=now)
        if self.log_end_offset - self.recovery_point >= self.config.flush_messages:
            self.flush()

    def _maybe_roll(self, size: int, first: int, last: int, now: int) -> LogSegment:
        """Roll before an append that would overfill the active segment (segment.bytes),
        land more than segment.ms after its first batch, find an index full, or hold an
        offset beyond its 32-bit relative range."""
        segment = self.active_segment
        overflow = last - segment.base_offset > INT32_MAX
        if segment.size == 0:  # an empty segment starts where its first batch does
            return self.roll(first) if segment.base_offset != first else segment
        config = self.config
        base_ms = segment.rolling_base_ms(now)
        if (
            segment.size + size > config.segment_bytes
            or (base_ms is not None and now - base_ms > config.segment_ms)
            or overflow
            or segment.indexes_full
        ):
            return self.roll(first)
        return segment

    def roll(self, base_offset: int | None = None) -> LogSegment:
        """Start a new active segment at `base_offset` (default: the log end offset). An
        empty active segment is reused, or replaced if it has another base offset."""
        base = self.log_end_offset if base_offset is None else base_offset
        active = self.active_segment
        if active.size == 0:
            if active.base_offset == base:
                return active
            self.segments.pop().delete()
            self._base_offsets.pop()
        else:
            active.mark_inactive()
        segment = self._new_segment(base)
        self.segments.append(segment)
        self._base_offsets.append(base)
        self._states_at_roll.remember(base, self.producer_state)
        log.debug("%s: rolled a new segment at offset %d", self.name, base)
        return segment

    # -- reads ----------------------------------------------------------------------

    def _segment_index(self, offset: int) -> int:
        return max(bisect.bisect_right(self._base_offsets, offset) - 1, 0)

    def read(self, fetch_offset: int, max_bytes: int, *, max_offset: int | None = None,
             min_one_batch: bool = True) -> ReadResult:
        """Bytes of whole batches from the one holding `fetch_offset`, within one segment:
        up to `max_bytes` (the last batch may be cut), at least one whole batch when
        `min_one_batch`, and only batches wholly below `max_offset` (the high watermark)."""
        end = self.log_end_offset
        if fetch_offset < self.log_start_offset or fetch_offset > end:
            raise OffsetOutOfRangeError(
                f"offset {fetch_offset} is out of range [{self.log_start_offset}, {end}] for {self.name}")
        limit = end if max_offset is None else min(max_offset, end)
        if fetch_offset >= limit:
            return ReadResult(fetch_offset, None)
        i = self._segment_index(fetch_offset)
        while i < len(self.segments):
            segment = self.segments[i]
            max_position = segment.size if limit >= segment.next_offset else segment.position_of(limit)
            result = segment.read(fetch_offset, max_bytes, max_position, min_one_batch)
            if result is not None or limit <= segment.next_offset:
                return ReadResult(fetch_offset, result, min(limit, self._upper_bound(i)))
            i += 1  # the offset is at this segment's end, or in a gap left by compaction
        return ReadResult(fetch_offset, None)

    def aborted_transactions(self, fetch_offset: int, upper_bound: int) -> list[AbortedTxn]:
        """The aborted transactions a READ_COMMITTED fetch of [fetch_offset, upper_bound)
        must report (from the segments' `.txnindex` files)."""
        if upper_bound <= fetch_offset:
            return []
        return txn_state.collect_aborted(self.segments, self._segment_index(fetch_offset), fetch_offset, upper_bound)

    def offset_for_timestamp(self, timestamp_ms: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record with a timestamp >= `timestamp_ms`, for
        ListOffsets; exact to the record (see snakafka.log.timestamps)."""
        return timestamps.offset_for_timestamp(self.segments, self.log_start_offset, timestamp_ms)

    def max_timestamp_and_offset(self) -> tuple[int, int] | None:
        """(offset, timestamp) of the record with the largest timestamp (ListOffsets -3)."""
        return timestamps.max_timestamp_and_offset(self.segments, self.log_start_offset)

    # -- retention and deletion -----------------------------------------------------

    def _upper_bound(self, i: int) -> int:
        """One past the last offset segment i may hold: the next segment's base offset."""
        return self._base_offsets[i + 1] if i + 1 < len(self.segments) else self.log_end_offset

    def delete_old_segments(self, now_ms: int | None = None, *, high_watermark: int | None = None) -> list[LogSegment]:
        """Retention: detach the oldest segments that are past retention.ms (by their
        largest timestamp), beyond retention.bytes, or wholly below the log start offset;
        never a segment holding offsets at or past the high watermark. Returns them
        (renamed .deleted) for the caller to delete."""
        now = self.clock.time_ms() if now_ms is None else now_ms
        upper = self.log_end_offset if high_watermark is None else min(high_watermark, self.log_end_offset)
        config = self.config
        size = self.size_in_bytes
        doomed: list[LogSegment] = []
        for i, segment in enumerate(self.segments):
            bound = self._upper_bound(i)
            if segment.size == 0 or bound > upper:
                break
            expired = config.retention_ms >= 0 and now - segment.largest_timestamp > config.retention_ms
            oversize = config.retention_bytes >= 0 and size - segment.size >= config.retention_bytes
            if not (expired or oversize or bound <= self.log_start_offset):
                break
            doomed.append(segment)
            size -= segment.size
        return self._detach_oldest(doomed, "retention")

    def delete_records_before(self, offset: int) -> list[LogSegment]:
        """DeleteRecords: raise the log start offset to `offset` and detach the segments
        wholly below it (returned for the caller to delete)."""
        if offset > self.log_end_offset or offset < 0:
            raise OffsetOutOfRangeError(
                f"cannot delete records before {offset}: log end offset of {self.name} is {self.log_end_offset}")
        if offset > self.log_start_offset:
            self.log_start_offset = offset
            self.leader_epoch_cache.truncate_from_start(offset)
        doomed = []
        for i, segment in enumerate(self.segments):
            if self._upper_bound(i) > offset or segment.size == 0:
                break
            doomed.append(segment)
        return self._detach_oldest(doomed, "DeleteRecords")

    def _detach_oldest(self, doomed: list[LogSegment], reason: str) -> list[LogSegment]:
        if not doomed:
            return []
        if len(doomed) == len(self.segments):
            self.roll()  # never leave the log without a segment
        self._set_segments(self.segments[len(doomed):])
        if self.segments[0].base_offset > self.log_start_offset:
            self.log_start_offset = self.segments[0].base_offset
            self.leader_epoch_cache.truncate_from_start(self.log_start_offset)
        for segment in doomed:
            segment.rename_deleted()
        self._dir_dirty = True
        log.info("%s: %s removed %d segment(s); log start offset is now %d", self.name, reason, len(doomed),
                 self.log_start_offset)
        return doomed

    # -- truncation (followers) -----------------------------------------------------

    def truncate_to(self, offset: int) -> list[LogSegment]:
        """Remove every batch holding an offset >= `offset` (a batch straddling it goes
        whole). Returns detached segments for the caller to delete."""
        if offset < 0:
            raise ValueError(f"{self.name}: cannot truncate to {offset}")
        if offset >= self.log_end_offset:
            # Nothing to remove, but an epoch may start at the log end with no record of
            # its own: this broker became leader and was deposed before it appended. Kept,
            # it would be the follower's last fetched epoch forever, and the leader would
            # answer every fetch with the same divergence (Kafka's UnifiedLog.truncateTo
            # drops it likewise).
            self.leader_epoch_cache.truncate_from_end(self.log_end_offset)
            return []
        if self.segments[0].base_offset > offset:
            return self.truncate_fully_and_start_at(offset)
        doomed: list[LogSegment] = []
        while self.segments[-1].base_offset > offset:
            doomed.append(self.segments.pop())
            self._base_offsets.pop()
        for segment in doomed:
            segment.rename_deleted()
        removed = self.active_segment.truncate_to(offset)
        self.log_start_offset = min(self.log_start_offset, self.log_end_offset)
        self.recovery_point = min(self.recovery_point, self.log_end_offset)
        self.leader_epoch_cache.truncate_from_end(self.log_end_offset)
        self._generation += 1
        self._dir_dirty = self._dir_dirty or bool(doomed)
        self.rebuild_producer_state()
        log.info("%s: truncated to offset %d (%d segment(s) and %d bytes removed)", self.name, self.log_end_offset,
                 len(doomed), removed)
        return doomed

    def truncate_fully_and_start_at(self, offset: int) -> list[LogSegment]:
        """Drop everything and continue at `offset` (a follower far behind a leader whose
        log starts later). Returns the old segments for the caller to delete."""
        doomed = self.segments
        for segment in doomed:
            segment.rename_deleted()
        self._set_segments([self._new_segment(offset)])
        self.log_start_offset = self.recovery_point = offset
        self.leader_epoch_cache.clear()
        self._generation += 1
        self.producer_state.truncate()
        self._states_at_roll.clear()
        log.info("%s: truncated fully, log now starts at offset %d", self.name, offset)
        return doomed

    def replace_segments(self, old: list[LogSegment], new: LogSegment) -> list[LogSegment]:
        """Swap a cleaned segment in for consecutive old ones (compaction's seam).

        `new` comes from new_cleaned_segment(old[0].base_offset) and holds the batches
        that survive from `old`. The swap is crash-safe as in Kafka: `new` is fsynced and
        renamed .swap, the old segments .deleted, then `new` takes its live name; a crash
        midway is completed by the loader. Returns the old segments to delete."""
        i = self.segments.index(old[0])
        if self.segments[i : i + len(old)] != old or old[-1] is self.active_segment:
            raise ValueError(f"{self.name}: segments to replace must be consecutive and not the active one")
        if new.base_offset != old[0].base_offset or new.next_offset > old[-1].next_offset:
            raise ValueError(f"{self.name}: cleaned segment {new} does not cover {old}")
        new.mark_inactive()
        new.flush()
        new.rename_state(SWAP_SUFFIX)
        fsync_dir(self.directory)
        for segment in old:
            segment.rename_deleted()
        new.rename_state("")
        fsync_dir(self.directory)
        self._set_segments(self.segments[:i] + [new] + self.segments[i + len(old):])
        return old

    # -- durability -----------------------------------------------------------------

    def begin_flush(self, up_to: int | None = None) -> FlushTask | None:
        """Write out pending index entries and list what must be fsynced to make offsets
        below `up_to` (default: the log end offset) durable. None if nothing to do."""
        target = self.log_end_offset if up_to is None else min(up_to, self.log_end_offset)
        # Only appends and truncations dirty a segment, and both happen at the end of the
        # log: the dirty segments are a suffix of the list.
        dirty = []
        for segment in reversed(self.segments):
            if not segment.dirty:
                break
            if segment.base_offset < target or segment.size == 0:  # (empty: truncated to nothing)
                dirty.append(segment)
        if not dirty and target <= self.recovery_point and not self._dir_dirty:
            return None
        task = FlushTask(self.name, target, self._generation)
        for segment in reversed(dirty):
            segment.dirty = False  # an fsync failure is fatal to the broker, as in Kafka
            segment.index.flush()
            segment.time_index.flush()
            task.fds.append(segment.fd)
            segment.txn_index.flush()
            task.paths += [segment.index.file.path, segment.time_index.file.path, segment.txn_index.file.path]
        if self._dir_dirty:
            task.directory = self.directory
            self._dir_dirty = False
        return task

    def complete_flush(self, task: FlushTask) -> None:
        """Advance the recovery point after `task.run()`, unless a truncation happened
        meanwhile (offsets below the target may have been rewritten since)."""
        self._last_flush_ms = self.clock.time_ms()
        if task.generation == self._generation:
            self.recovery_point = max(self.recovery_point, min(task.up_to, self.log_end_offset))

    def flush(self, up_to: int | None = None) -> None:
        """fsync segments holding offsets in [recovery point, up_to) and advance the
        recovery point to `up_to` (default: the log end offset)."""
        task = self.begin_flush(up_to)
        if task is not None:
            task.run()
            self.complete_flush(task)

    def flush_due(self, now_ms: int) -> int | None:
        """The offset a flush should reach now, or None: the log end offset when
        flush.ms has passed with unflushed data, else the active segment's base when
        segments rolled since the last flush (Kafka flushes a segment when it rolls)."""
        if self.log_end_offset > self.recovery_point and now_ms - self._last_flush_ms >= self.config.flush_ms:
            return self.log_end_offset
        if self.recovery_point < self.active_segment.base_offset:
            return self.active_segment.base_offset
        return None

    def maybe_flush_by_time(self, now_ms: int) -> None:
        up_to = self.flush_due(now_ms)
        if up_to is not None:
            self.flush(up_to)

    def close(self, *, snapshot: bool = True) -> None:
        """Write indexes out and close every segment (flush first for durability), after
        a producer-state snapshot at the log end offset that the next open may start from."""
        if snapshot and not self.active_segment.closed:
            try:
                producer_snapshot.write(self.directory, self.log_end_offset, self.producer_state)
            except OSError as exc:  # the next open replays the log instead
                log.warning("%s: cannot write the producer snapshot: %s", self.name, exc)
        for segment in self.segments:
            segment.close()

    def delete(self) -> None:
        """Close and remove the whole partition directory."""
        self.close(snapshot=False)
        shutil.rmtree(self.directory, ignore_errors=True)

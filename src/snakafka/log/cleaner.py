"""Log compaction (Kafka's LogCleaner): keep only the latest record of each key.

For logs whose cleanup.policy includes "compact". One cleaning of a log, in three steps
so the slow middle one can leave the event loop:

    plan = cleaner.prepare(log, now_ms)        # loop: pick segments, snapshot them
    result = cleaner.clean(plan)               # any thread: read old files, write .cleaned
    replaced = cleaner.commit(log, result)     # loop: swap in, or discard if the log moved

`run_once(logs, now_ms)` does this for every log that needs it (clean() in a thread).
Segments that commit() replaces are returned renamed `.deleted`, like retention's: the
caller deletes them after file.delete.delay.ms.

What is cleaned. The cleanable range is every segment below the active one, further
bounded by `upper_bound` (the caller's high watermark or last stable offset) and by
min.compaction.lag.ms (it stops at the first dirty segment holding a record younger than
that). The dirty part of the range starts at the log's first dirty offset: where the
previous cleaning stopped, kept per log dir in Kafka's `cleaner-offset-checkpoint` file
(`topic partition offset` lines), or the log start offset for a log never cleaned.
A log needs cleaning when dirty bytes / cleanable bytes > min.cleanable.dirty.ratio
(segment sizes, as Kafka counts them), or when tombstones it kept are due for removal.

How. A key -> latest offset map is built over the dirty part (records without a key do
not count); then every cleanable segment, clean part included, is rewritten keeping a
record only if no later offset of its key is in the map. Offsets never change: a batch
that loses records is re-encoded with its base offset, last offset delta, producer
fields and compression codec, each kept record at its original offset delta; a batch
that keeps everything is copied byte for byte. Records without a key are dropped.
Consecutive segments are merged while the sum of their sizes stays within segment.bytes
(and their offsets within a segment's 32-bit range); a single segment in which nothing
changes is left alone. A batch left empty is dropped, except that the last batch of each
output segment and the last batch of each producer id (unless its timestamp is older
than PRODUCER_ID_EXPIRATION_MS) survive as empty batches (a header without records):
the first keeps every output segment covering its inputs' full offset range (so the
loader can complete an interrupted swap and retention never meets an empty segment), the
second keeps a producer's sequence state across a restart, as Kafka does.

Tombstones (a key with a null value) follow Kafka's delete-horizon rule (KIP-534): the
first cleaning that keeps a tombstone stamps its batch with a delete horizon of
now + delete.retention.ms (the batch's base timestamp becomes the horizon and the
attribute bit 0x40 is set; record timestamps are unchanged, as their deltas are rewritten
against the new base). A tombstone whose batch's horizon has passed is dropped by the next
cleaning. So a tombstone survives at least delete.retention.ms after the cleaning that
first saw it, by the injected clock: a consumer that reads the log from its start within
that time sees every delete. The cleaner remembers the earliest pending horizon of each
log in memory, so the log is cleaned again when it passes (after a restart, the next
cleaning for dirtiness drops what is due).

Transactions. Control batches (transaction markers) are never removed. A transactional
batch whose producer's next marker in the cleanable range is a commit is cleaned like
any other; an abort marker drops it (its records are not in the map); without a marker
yet (an open transaction, or a marker above the cleanable range) it is copied as it is
and its records stay out of the map, so nothing is removed in its favour.

The key map holds keys as bytes; `dedupe_buffer_size` (log.cleaner.dedupe.buffer.size)
bounds it, counting each key's length plus MAP_ENTRY_OVERHEAD bytes: when a cleaning's
map is full, its range ends at that segment boundary (always at least one dirty segment
is mapped) and the rest waits for the next cleaning.

Crash safety: clean() writes only `.cleaned` files, fsynced before commit; the swap in
PartitionLog.replace_segments goes through `.swap` and `.deleted`, and the loader deletes
`.cleaned` leftovers and completes an interrupted swap. Dropping a CleanResult (a crash
between clean() and commit()) leaves the log as it was. The cleaner-offset-checkpoint is
written after commits; losing it only means cleaning a log again from its start.

Threads: clean() touches no cleaner or log state. prepare() dup()s the file descriptors
of the segments it picks, so clean() reads consistent files even if retention deletes
them meanwhile; commit() checks that the planned segments are still the log's, unchanged
(same objects, sizes, truncation generation), else discards the result. Everything else
runs on the event loop. One plan per log at a time.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import os
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from snakafka.clock import Clock
from snakafka.log.checkpoint import read_offsets_or_empty, write_offsets
from snakafka.log.files import CLEANED_SUFFIX, CLEANER_OFFSET_CHECKPOINT, segment_paths
from snakafka.log.partition_log import PartitionLog
from snakafka.log.segment import INT32_MAX, LogSegment
from snakafka.protocol.batch import (
    ATTRIBUTES_OFFSET,
    COMPRESSION_MASK,
    CRC_OFFSET,
    DELETE_HORIZON_MASK,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAX_TIMESTAMP_OFFSET,
    NO_PRODUCER_ID,
    TIMESTAMP_TYPE_MASK,
    BatchHeader,
    compute_crc,
    read_header,
)
from snakafka.protocol.records import (
    NewRecord,
    Record,
    decode_batch,
    encode_batch,
    parse_control_record,
)

log = logging.getLogger(__name__)

__all__ = [
    "MAP_ENTRY_OVERHEAD",
    "PRODUCER_ID_EXPIRATION_MS",
    "CleanAborted",
    "CleanPlan",
    "CleanResult",
    "CleanStats",
    "LogCleaner",
]

PRODUCER_ID_EXPIRATION_MS = 24 * 3600 * 1000  # Kafka's producer.id.expiration.ms default
MAP_ENTRY_OVERHEAD = 100  # bytes a key map entry costs beyond the key: dict slot, objects
DEFAULT_DEDUPE_BUFFER_SIZE = 128 * 1024 * 1024
_READ_CHUNK = 1 << 20
_WRITE_CHUNK = 1 << 20
_BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")
_I16 = struct.Struct(">h")
_I64 = struct.Struct(">q")
_U32 = struct.Struct(">I")

TopicPartition = tuple[str, int]
_LogKey = tuple[Path, str, int]  # (log dir, topic, partition)


class CleanAborted(Exception):
    """clean() stopped because its plan was aborted (the broker is shutting down)."""


class CleanerError(Exception):
    """A segment the cleaner cannot read (torn or corrupt batch): the log is left as is."""


# -- plan and result -----------------------------------------------------------------


@dataclass(slots=True)
class _Source:
    """One old segment as clean() sees it: a private fd and the size planned."""

    segment: LogSegment
    fd: int
    size: int

    @property
    def base_offset(self) -> int:
        return self.segment.base_offset


@dataclass(slots=True)
class CleanPlan:
    """What prepare() decided, with everything clean() needs and nothing it may not touch.

    Holds dup()ed descriptors of the old segments: clean() closes them; a plan dropped
    without clean() must be close()d."""

    log: PartitionLog  # for commit() only
    name: str
    directory: Path
    now_ms: int
    first_dirty: int
    clean_end: int
    sources: list[_Source]
    groups: list[list[int]]  # indexes into sources: each group becomes one segment
    delete_retention_ms: int
    index_interval_bytes: int
    segment_index_bytes: int
    map_budget: int
    generation: int
    aborted: bool = False

    def abort(self) -> None:
        """Ask a running clean() to stop (it raises CleanAborted at the next batch)."""
        self.aborted = True

    def close(self) -> None:
        for source in self.sources:
            if source.fd >= 0:
                os.close(source.fd)
                source.fd = -1


@dataclass(slots=True)
class CleanStats:
    bytes_read: int = 0
    bytes_written: int = 0
    records_read: int = 0
    records_removed: int = 0
    tombstones_removed: int = 0
    batches_rewritten: int = 0
    map_keys: int = 0


@dataclass(slots=True)
class CleanResult:
    """clean()'s output: new `.cleaned` segments, each to replace a run of old ones."""

    plan: CleanPlan
    clean_end: int  # the plan's, or lower if the key map filled up
    replacements: list[tuple[list[LogSegment], LogSegment]]
    horizon: int | None  # earliest delete horizon of a tombstone kept, None if none
    stats: CleanStats

    def discard(self) -> None:
        """Delete the `.cleaned` files (commit refused, or the caller gives up)."""
        for _, new in self.replacements:
            new.delete()
        self.replacements = []


# -- the cleaner ---------------------------------------------------------------------


class LogCleaner:
    """Compacts logs; keeps each log dir's cleaner-offset-checkpoint. Event-loop owned,
    except clean(), which may run in a thread."""

    def __init__(self, clock: Clock, *, dedupe_buffer_size: int = DEFAULT_DEDUPE_BUFFER_SIZE) -> None:
        self.clock = clock
        self.dedupe_buffer_size = dedupe_buffer_size
        self._checkpoints: dict[Path, dict[TopicPartition, int]] = {}
        self._dirty_dirs: set[Path] = set()
        self._horizons: dict[_LogKey, int] = {}
        self._failed: dict[_LogKey, int] = {}  # log -> active base offset when cleaning failed
        self._owners: dict[_LogKey, PartitionLog] = {}  # the log object each entry was last set for

    # -- state per log --------------------------------------------------------------

    @staticmethod
    def _key(plog: PartitionLog) -> _LogKey:
        return plog.directory.parent, plog.topic, plog.partition

    def _dir_offsets(self, log_dir: Path) -> dict[TopicPartition, int]:
        offsets = self._checkpoints.get(log_dir)
        if offsets is None:
            offsets = self._checkpoints[log_dir] = read_offsets_or_empty(log_dir / CLEANER_OFFSET_CHECKPOINT)
        return offsets

    def first_dirty_offset(self, plog: PartitionLog) -> int:
        """Where the dirty part of the log starts: the checkpointed offset, or the log
        start offset if there is none or it is out of the log's range (Kafka's rule).
        An entry set for another log object of the same name (the topic was deleted and
        created again) is dropped."""
        owner = self._owners.get(self._key(plog))
        if owner is not None and owner is not plog:
            self.forget(owner)
        stored = self._dir_offsets(plog.directory.parent).get((plog.topic, plog.partition))
        start = plog.log_start_offset
        if stored is None or stored < start or stored > plog.log_end_offset:
            return start
        return stored

    def _set_first_dirty(self, plog: PartitionLog, offset: int) -> None:
        log_dir = plog.directory.parent
        offsets = self._dir_offsets(log_dir)
        self._owners[self._key(plog)] = plog
        if offsets.get((plog.topic, plog.partition)) != offset:
            offsets[(plog.topic, plog.partition)] = offset
            self._dirty_dirs.add(log_dir)

    def _cleanable(self, plog: PartitionLog, now_ms: int, upper_bound: int | None) -> tuple[int, int]:
        """(first dirty offset, number of leading segments that may be cleaned)."""
        segments = plog.segments
        first_dirty = self.first_dirty_offset(plog)
        end = segments[-1].base_offset
        if upper_bound is not None:
            end = min(end, upper_bound)
        lag = plog.config.min_compaction_lag_ms
        count = 0
        for i in range(len(segments) - 1):
            upper = segments[i + 1].base_offset
            if upper > end:
                break
            if lag > 0 and upper > first_dirty and segments[i].largest_timestamp > now_ms - lag:
                break
            count = i + 1
        return first_dirty, count

    def _dirty_bytes(self, plog: PartitionLog, now_ms: int) -> tuple[int, int]:
        """(dirty bytes, clean bytes) of the cleanable range."""
        first_dirty, count = self._cleanable(plog, now_ms, None)
        segments = plog.segments
        dirty = clean = 0
        for i in range(count):
            if segments[i + 1].base_offset <= first_dirty:
                clean += segments[i].size
            else:
                dirty += segments[i].size
        return dirty, clean

    def dirty_ratio(self, plog: PartitionLog, now_ms: int | None = None) -> float:
        """Dirty bytes / (clean + dirty bytes) of the cleanable segments; 0.0 if none."""
        now = self.clock.time_ms() if now_ms is None else now_ms
        dirty, clean = self._dirty_bytes(plog, now)
        return dirty / (dirty + clean) if dirty + clean else 0.0

    def needs_cleaning(self, plog: PartitionLog, now_ms: int | None = None) -> bool:
        """A compacted log whose dirty ratio exceeds min.cleanable.dirty.ratio, or whose
        kept tombstones have reached their delete horizon. A log whose last cleaning
        failed waits until it rolls a new segment."""
        if not plog.config.compact or not plog.segments:
            return False
        now = self.clock.time_ms() if now_ms is None else now_ms
        key = self._key(plog)
        failed_at = self._failed.get(key)
        if failed_at is not None:
            if failed_at == plog.active_segment.base_offset:
                return False
            del self._failed[key]
        dirty, clean = self._dirty_bytes(plog, now)
        if dirty > 0 and dirty / (dirty + clean) > plog.config.min_cleanable_dirty_ratio:
            return True
        horizon = self._horizons.get(key)
        return horizon is not None and horizon <= now and dirty + clean > 0

    # -- the three steps ------------------------------------------------------------

    def prepare(self, plog: PartitionLog, now_ms: int | None = None, *,
                upper_bound: int | None = None) -> CleanPlan | None:
        """Pick the cleanable segments of `plog` and group them into output segments.
        None if there is nothing below the active segment (and `upper_bound`) to clean.
        Does not check needs_cleaning()."""
        now = self.clock.time_ms() if now_ms is None else now_ms
        first_dirty, count = self._cleanable(plog, now, upper_bound)
        if count == 0:
            return None
        config = plog.config
        segments = plog.segments[:count]
        clean_end = plog.segments[count].base_offset
        groups: list[list[int]] = []
        max_entries = max(config.segment_index_bytes // 12, 1)  # the time index's (smaller) capacity
        interval = max(config.index_interval_bytes, 1)
        i = 0
        while i < count:
            group, size = [i], segments[i].size
            j = i + 1
            while j < count:
                upper = plog.segments[j + 1].base_offset
                grown = size + segments[j].size
                if (grown > config.segment_bytes or upper - 1 - segments[i].base_offset > INT32_MAX
                        or grown // interval >= max_entries):
                    break
                group.append(j)
                size = grown
                j += 1
            groups.append(group)
            i = j
        sources = [_Source(s, os.dup(s.fd), s.size) for s in segments]
        return CleanPlan(
            log=plog, name=plog.name, directory=plog.directory, now_ms=now, first_dirty=first_dirty,
            clean_end=clean_end, sources=sources, groups=groups,
            delete_retention_ms=config.delete_retention_ms, index_interval_bytes=config.index_interval_bytes,
            segment_index_bytes=config.segment_index_bytes, map_budget=self.dedupe_buffer_size,
            generation=plog._generation,  # bumped by truncations
        )

    @staticmethod
    def clean(plan: CleanPlan) -> CleanResult:
        """Build the cleaned segments (files `<base>.log.cleaned` and its indexes,
        fsynced). Pure file work on the plan's own descriptors: safe in a thread. Closes
        the plan. On any error the `.cleaned` files written so far are removed."""
        stats = CleanStats()
        replacements: list[tuple[list[LogSegment], LogSegment]] = []
        try:
            scan = _scan(plan, stats)
            for group in plan.groups:
                members = [plan.sources[i] for i in group if plan.sources[i].base_offset < scan.clean_end]
                if not members:
                    break
                new = _clean_group(plan, members, scan, stats)
                if new is not None:
                    replacements.append(([m.segment for m in members], new))
        except BaseException:
            for _, new in replacements:
                new.delete()
            _remove_cleaned_leftovers(plan)
            raise
        finally:
            plan.close()
        return CleanResult(plan, scan.clean_end, replacements, scan.horizon, stats)

    def commit(self, plog: PartitionLog, result: CleanResult) -> list[LogSegment]:
        """Swap the cleaned segments in, if the planned segments are still the log's and
        unchanged; else discard the result. Returns the replaced segments (renamed
        `.deleted`) for the caller to delete after file.delete.delay.ms."""
        plan = result.plan
        problem = _stale(plog, plan)
        if problem is not None:
            log.info("%s: discarding a cleaning of offsets below %d: %s", plog.name, result.clean_end, problem)
            result.discard()
            return []
        replaced: list[LogSegment] = []
        pending = list(result.replacements)
        try:
            while pending:
                old, new = pending[0]
                replaced += plog.replace_segments(old, new)
                pending.pop(0)
        except BaseException:
            for _, new in pending[1:]:
                new.delete()
            raise
        result.replacements = []
        key = self._key(plog)
        self._set_first_dirty(plog, result.clean_end)
        if result.horizon is None:
            self._horizons.pop(key, None)
        else:
            self._horizons[key] = result.horizon
        self._failed.pop(key, None)
        s = result.stats
        log.info("%s: cleaned offsets below %d (%d segment(s) into %d): %d -> %d bytes read/written, "
                 "%d of %d records removed (%d tombstones), %d keys in the dirty part",
                 plog.name, result.clean_end, len(replaced), len(result.plan.groups), s.bytes_read,
                 s.bytes_written, s.records_removed, s.records_read, s.tombstones_removed, s.map_keys)
        return replaced

    # -- checkpoints ----------------------------------------------------------------

    def checkpoint_snapshot(self) -> list[tuple[Path, dict[TopicPartition, int]]]:
        """The checkpoint files to write (log dirs changed since the last call), as
        copies: write_checkpoint_files may run in a thread."""
        out = [(d, dict(self._checkpoints.get(d, {}))) for d in sorted(self._dirty_dirs)]
        self._dirty_dirs.clear()
        return out

    @staticmethod
    def write_checkpoint_files(snapshot: list[tuple[Path, dict[TopicPartition, int]]]) -> None:
        for log_dir, offsets in snapshot:
            if log_dir.is_dir():
                write_offsets(log_dir / CLEANER_OFFSET_CHECKPOINT, offsets)

    def write_checkpoints(self) -> None:
        """Write every changed cleaner-offset-checkpoint now (on the calling thread)."""
        self.write_checkpoint_files(self.checkpoint_snapshot())

    def forget(self, plog: PartitionLog) -> None:
        """Drop what the cleaner knows of a log (deleted, or no longer compacted)."""
        key = self._key(plog)
        self._horizons.pop(key, None)
        self._failed.pop(key, None)
        self._owners.pop(key, None)
        offsets = self._dir_offsets(key[0])
        if offsets.pop((plog.topic, plog.partition), None) is not None:
            self._dirty_dirs.add(key[0])

    def _prune(self, logs: list[PartitionLog]) -> None:
        """Forget checkpoint entries of partitions that are no longer among `logs`."""
        present = {self._key(lg) for lg in logs}
        for log_dir, offsets in self._checkpoints.items():
            stale = [tp for tp in offsets if (log_dir, *tp) not in present]
            for tp in stale:
                del offsets[tp]
            if stale:
                self._dirty_dirs.add(log_dir)
        for table in (self._horizons, self._failed, self._owners):
            for key in [k for k in table if k not in present]:
                del table[key]

    # -- the broker's periodic job --------------------------------------------------

    async def run_once(self, logs: Iterable[PartitionLog], now_ms: int, *,
                       upper_bound: Callable[[PartitionLog], int | None] | None = None) -> list[LogSegment]:
        """Clean every log that needs it, dirtiest first, one at a time, clean() in a
        thread; then write changed cleaner-offset-checkpoints (in a thread). Pass every
        log of the broker: entries of partitions not passed are dropped from the
        checkpoints. `upper_bound(log)` may cap the cleanable range (high watermark or
        last stable offset; None: no cap). Returns the replaced segments, renamed
        `.deleted`, for the caller to delete after file.delete.delay.ms. A failing log
        is logged and skipped until it rolls a segment."""
        all_logs = list(logs)
        self._prune(all_logs)
        todo = [lg for lg in all_logs if self.needs_cleaning(lg, now_ms)]
        todo.sort(key=lambda lg: self.dirty_ratio(lg, now_ms), reverse=True)
        replaced: list[LogSegment] = []
        for plog in todo:
            if plog.segments[-1].closed:
                continue  # closed (deleted) since the list was made
            plan = self.prepare(plog, now_ms, upper_bound=upper_bound(plog) if upper_bound else None)
            if plan is None:
                continue
            try:
                result = await _clean_in_thread(plan)
                replaced += self.commit(plog, result)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: cleaning failed; retrying after the log rolls a segment", plog.name)
                self._failed[self._key(plog)] = plog.active_segment.base_offset
        snapshot = self.checkpoint_snapshot()
        if snapshot:
            await asyncio.to_thread(self.write_checkpoint_files, snapshot)
        return replaced


async def _clean_in_thread(plan: CleanPlan) -> CleanResult:
    """clean() in a thread; if the caller is cancelled, the thread is asked to stop and
    whatever it produced is discarded."""
    future = asyncio.ensure_future(asyncio.to_thread(LogCleaner.clean, plan))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        plan.abort()

        def discard(done: asyncio.Future[CleanResult]) -> None:
            if not done.cancelled() and done.exception() is None:
                done.result().discard()

        future.add_done_callback(discard)
        raise


def _stale(plog: PartitionLog, plan: CleanPlan) -> str | None:
    """Why the plan no longer fits the log, or None if it does."""
    if plan.log is not plog:
        return "another log"
    if plog._generation != plan.generation:
        return "the log was truncated"
    segments = plog.segments
    if not segments or segments[-1].closed:
        return "the log is closed"
    try:
        i = segments.index(plan.sources[0].segment)
    except ValueError:
        return "its first segment left the log"
    if i + len(plan.sources) >= len(segments):
        return "its segments are no longer below the active one"
    for source, segment in zip(plan.sources, segments[i:], strict=False):
        if source.segment is not segment or segment.closed or segment.state or segment.size != source.size:
            return f"segment {source.base_offset} changed"
    return None


def _remove_cleaned_leftovers(plan: CleanPlan) -> None:
    for source in plan.sources:
        for path in segment_paths(plan.directory, source.base_offset, CLEANED_SUFFIX):
            try:
                path.unlink()
            except FileNotFoundError:
                pass


# -- reading batches -----------------------------------------------------------------


def _batches(plan: CleanPlan, source: _Source, stats: CleanStats,
             end: int | None = None) -> Iterator[tuple[int, memoryview, BatchHeader]]:
    """(position, bytes, header) of every batch of an old segment, read in chunks
    through the plan's own descriptor."""
    fd, size = source.fd, source.size if end is None else end
    buf, buf_pos, pos = b"", 0, 0
    while pos < size:
        if plan.aborted:
            raise CleanAborted(plan.name)
        rel = pos - buf_pos
        if rel + HEADER_SIZE > len(buf):
            buf, buf_pos, rel = os.pread(fd, min(_READ_CHUNK, size - pos), pos), pos, 0
            stats.bytes_read += len(buf)
            if len(buf) < HEADER_SIZE:
                raise CleanerError(f"{plan.name}: torn batch at position {pos} of segment {source.base_offset}")
        header = read_header(buf, rel)
        if header.batch_length < HEADER_SIZE - LOG_OVERHEAD or pos + header.size > size:
            raise CleanerError(f"{plan.name}: bad batch length at position {pos} of segment {source.base_offset}")
        if rel + header.size > len(buf):
            buf, buf_pos, rel = os.pread(fd, max(min(_READ_CHUNK, size - pos), header.size), pos), pos, 0
            stats.bytes_read += len(buf)
            if len(buf) < header.size:
                raise CleanerError(f"{plan.name}: segment {source.base_offset} shorter than planned")
        yield pos, memoryview(buf)[rel : rel + header.size], header
        pos += header.size


# -- pass 1: the key map, transaction markers, producers' last batches -----------------


@dataclass(slots=True)
class _Scan:
    clean_end: int
    offset_map: dict[bytes, int] = field(default_factory=dict)
    marker_offsets: dict[int, list[int]] = field(default_factory=dict)  # producer id -> marker offsets
    marker_commits: dict[int, list[bool]] = field(default_factory=dict)
    last_batch: dict[int, int] = field(default_factory=dict)  # producer id -> base offset of its last batch
    horizon: int | None = None

    def fate(self, producer_id: int, offset: int) -> bool | None:
        """True (committed) / False (aborted) for a transactional batch at `offset`;
        None while no marker of its producer follows it."""
        offsets = self.marker_offsets.get(producer_id)
        if not offsets:
            return None
        i = bisect.bisect_right(offsets, offset)
        return self.marker_commits[producer_id][i] if i < len(offsets) else None

    def note_horizon(self, horizon: int) -> None:
        if self.horizon is None or horizon < self.horizon:
            self.horizon = horizon


def _scan(plan: CleanPlan, stats: CleanStats) -> _Scan:
    scan = _Scan(plan.clean_end)
    offset_map = scan.offset_map
    pending: dict[int, list[tuple[bytes, int]]] = {}  # open transactions' keys and offsets
    budget, used, mapped = plan.map_budget, 0, False
    first_dirty = plan.first_dirty

    def put(key: bytes, offset: int) -> int:
        previous = offset_map.get(key)
        if previous is None:
            offset_map[key] = offset
            return len(key) + MAP_ENTRY_OVERHEAD
        if offset > previous:
            offset_map[key] = offset
        return 0

    for source in plan.sources:
        if mapped and used > budget:
            scan.clean_end = source.base_offset  # the map is full: the rest waits
            break
        for pos, data, header in _batches(plan, source, stats):
            pid = header.producer_id
            if pid != NO_PRODUCER_ID:
                scan.last_batch[pid] = header.base_offset
            if header.is_control:
                for record in decode_batch(data)[1]:
                    try:
                        commit, _ = parse_control_record(record)
                    except ValueError:
                        continue
                    scan.marker_offsets.setdefault(pid, []).append(record.offset)
                    scan.marker_commits.setdefault(pid, []).append(commit)
                    waiting = pending.pop(pid, [])
                    if commit:
                        for key, offset in waiting:
                            used += put(key, offset)
                continue
            if header.last_offset < first_dirty:
                continue
            mapped = True
            records = decode_batch(data)[1]
            if header.is_transactional:
                waiting = pending.setdefault(pid, [])
                for record in records:
                    if record.key is not None and record.offset >= first_dirty:
                        waiting.append((record.key, record.offset))
                        used += len(record.key) + 16
            else:
                for record in records:
                    if record.key is not None and record.offset >= first_dirty:
                        used += put(record.key, record.offset)
    stats.map_keys = len(offset_map)
    return scan


# -- pass 2: rewriting ---------------------------------------------------------------

_VERBATIM = object()


def _filter_batch(plan: CleanPlan, data: memoryview, header: BatchHeader, scan: _Scan,
                  stats: CleanStats) -> object:
    """_VERBATIM (keep the batch as it is), new batch bytes, or None (nothing left)."""
    if header.is_control:
        return _VERBATIM
    if header.is_transactional:
        fate = scan.fate(header.producer_id, header.base_offset)
        if fate is None:
            return _VERBATIM
        if not fate:
            stats.records_read += header.records_count
            stats.records_removed += header.records_count
            return None
    records = decode_batch(data)[1]
    stats.records_read += len(records)
    now = plan.now_ms
    has_horizon = header.has_delete_horizon
    stamp = False
    kept: list[Record] = []
    offset_map = scan.offset_map
    for record in records:
        key = record.key
        if key is None:
            continue
        latest = offset_map.get(key)
        if latest is not None and record.offset < latest:
            continue
        if record.value is None:
            if has_horizon:
                if now >= header.base_timestamp:
                    stats.tombstones_removed += 1
                    continue
                scan.note_horizon(header.base_timestamp)
            else:
                stamp = True
                scan.note_horizon(now + plan.delete_retention_ms)
        kept.append(record)
    stats.records_removed += len(records) - len(kept)
    if not kept:
        return None
    if len(kept) == len(records) and not stamp:
        return _VERBATIM
    stats.batches_rewritten += 1
    return _rewrite(header, kept, now + plan.delete_retention_ms if stamp else None)


def _rewrite(header: BatchHeader, kept: list[Record], new_horizon: int | None) -> bytes:
    """The batch with only `kept`, at their original offsets, same codec and producer
    fields; stamped with `new_horizon` if given (else keeping any horizon it had)."""
    base = header.base_offset
    base_ts = new_horizon if new_horizon is not None else header.base_timestamp
    buf = bytearray(encode_batch(
        [NewRecord(r.key, r.value, r.headers, r.timestamp, r.offset - base) for r in kept],
        base_offset=base, compression=header.compression, base_timestamp=base_ts,
        producer_id=header.producer_id, producer_epoch=header.producer_epoch, base_sequence=header.base_sequence,
        transactional=header.is_transactional, partition_leader_epoch=header.partition_leader_epoch,
        last_offset_delta=header.last_offset_delta,
    ))
    extra = header.attributes & (TIMESTAMP_TYPE_MASK | DELETE_HORIZON_MASK)
    if new_horizon is not None:
        extra |= DELETE_HORIZON_MASK
    if extra:
        attributes = _I16.unpack_from(buf, ATTRIBUTES_OFFSET)[0] | extra
        _I16.pack_into(buf, ATTRIBUTES_OFFSET, attributes)
        if header.is_log_append_time:
            _I64.pack_into(buf, MAX_TIMESTAMP_OFFSET, header.max_timestamp)  # every record's timestamp
        _U32.pack_into(buf, CRC_OFFSET, compute_crc(buf, 0, len(buf)))
    return bytes(buf)


def _empty_batch(header: BatchHeader) -> bytes:
    """A batch without records covering `header`'s offsets, as Kafka writes one to keep
    a producer's state: no compression, both timestamps the batch's max timestamp."""
    attributes = header.attributes & ~(COMPRESSION_MASK | DELETE_HORIZON_MASK)
    buf = bytearray(_BATCH_HEADER.pack(
        header.base_offset, HEADER_SIZE - LOG_OVERHEAD, header.partition_leader_epoch, 2, 0, attributes,
        header.last_offset_delta, header.max_timestamp, header.max_timestamp, header.producer_id,
        header.producer_epoch, header.base_sequence, 0,
    ))
    _U32.pack_into(buf, CRC_OFFSET, compute_crc(buf, 0, len(buf)))
    return bytes(buf)


class _Output:
    """The `.cleaned` segment of one group. For a group of one segment, nothing is
    written while every batch is kept as it is (`lazy`): if that lasts to the end, the
    segment needs no replacing; at the first change, the unchanged prefix is copied."""

    def __init__(self, plan: CleanPlan, first: _Source, lazy: bool, stats: CleanStats) -> None:
        self.plan = plan
        self.first = first
        self.lazy = lazy
        self.stats = stats
        self.unchanged_end = 0  # lazy: bytes of `first` kept as they are, not yet written
        self.segment: LogSegment | None = None
        self.buffer = bytearray()
        self.buf_first = self.buf_last = self.buf_max_ts = self.buf_max_ts_offset = -1

    def verbatim(self, source: _Source, position: int, data: memoryview, header: BatchHeader) -> None:
        if self.segment is None and self.lazy and source is self.first and position == self.unchanged_end:
            self.unchanged_end = position + header.size
            return
        self.changed()
        self._add(data, header)

    def rewritten(self, data: bytes) -> None:
        self.changed()
        self._add(data, read_header(data))

    def changed(self) -> None:
        """The output differs from the input: start writing it, unchanged prefix first."""
        if self.segment is not None:
            return
        plan = self.plan
        self.segment = LogSegment.create(plan.directory, self.first.base_offset,
                                         index_interval_bytes=plan.index_interval_bytes,
                                         max_index_bytes=plan.segment_index_bytes, state=CLEANED_SUFFIX)
        if self.unchanged_end:
            for _, data, header in _batches(plan, self.first, self.stats, end=self.unchanged_end):
                self._add(data, header)

    def _add(self, data: bytes | memoryview, header: BatchHeader) -> None:
        if not self.buffer:
            self.buf_first = header.base_offset
            self.buf_max_ts, self.buf_max_ts_offset = -1, header.base_offset
        self.buffer += data
        self.buf_last = header.last_offset
        if header.max_timestamp > self.buf_max_ts:
            self.buf_max_ts, self.buf_max_ts_offset = header.max_timestamp, header.base_offset
        if len(self.buffer) >= _WRITE_CHUNK:
            self._write()

    def _write(self) -> None:
        if self.buffer and self.segment is not None:
            self.segment.append(self.buffer, self.buf_first, self.buf_last, self.buf_max_ts,
                                self.buf_max_ts_offset, now_ms=self.plan.now_ms)
            self.stats.bytes_written += len(self.buffer)
            self.buffer = bytearray()

    def finish(self) -> LogSegment | None:
        """The finished, fsynced segment; None if the (single) input is unchanged."""
        if self.segment is None:
            if self.lazy:
                return None
            self.changed()
        self._write()
        segment = self.segment
        assert segment is not None
        segment.mark_inactive()
        segment.flush()
        return segment

    def abandon(self) -> None:
        if self.segment is not None:
            self.segment.delete()


def _clean_group(plan: CleanPlan, members: list[_Source], scan: _Scan, stats: CleanStats) -> LogSegment | None:
    out = _Output(plan, members[0], len(members) == 1, stats)
    held: tuple[_Source, int, memoryview, BatchHeader] | None = None  # an emptied batch, kept if last
    now = plan.now_ms
    try:
        for source in members:
            for pos, data, header in _batches(plan, source, stats):
                outcome = _filter_batch(plan, data, header, scan, stats)
                if outcome is not None:
                    if held is not None:
                        out.changed()  # the held batch is dropped: it was not the last
                        held = None
                    if outcome is _VERBATIM:
                        out.verbatim(source, pos, data, header)
                    else:
                        assert isinstance(outcome, bytes)
                        out.rewritten(outcome)
                    continue
                pid = header.producer_id
                producer_last = (pid != NO_PRODUCER_ID and scan.last_batch.get(pid) == header.base_offset
                                 and (header.max_timestamp < 0
                                      or now - header.max_timestamp < PRODUCER_ID_EXPIRATION_MS))
                if held is not None:
                    out.changed()
                    held = None
                if producer_last:
                    _keep_empty(out, source, pos, data, header)
                else:
                    held = (source, pos, data, header)
        if held is not None:
            _keep_empty(out, *held)
        return out.finish()
    except BaseException:
        out.abandon()
        raise


def _keep_empty(out: _Output, source: _Source, pos: int, data: memoryview, header: BatchHeader) -> None:
    if header.records_count == 0 and not header.has_delete_horizon and not header.compression:
        out.verbatim(source, pos, data, header)  # already an empty batch
    else:
        out.rewritten(_empty_batch(header))

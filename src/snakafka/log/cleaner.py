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

The cleaning itself (the key map, tombstones, transactions, crash safety) is cleaning.py.

Threads: clean() touches no cleaner or log state. prepare() dup()s the file descriptors
of the segments it picks, so clean() reads consistent files even if retention deletes
them meanwhile; commit() checks that the planned segments are still the log's, unchanged
(same objects, sizes, truncation generation), else discards the result. Everything else
runs on the event loop. One plan per log at a time.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from snakafka.clock import Clock
from snakafka.log.checkpoint import read_offsets_or_empty, write_offsets
from snakafka.log.cleaning import (
    MAP_ENTRY_OVERHEAD,
    PRODUCER_ID_EXPIRATION_MS,
    CleanAborted,
    CleanPlan,
    CleanResult,
    CleanStats,
    Source,
    clean,
)
from snakafka.log.files import CLEANER_OFFSET_CHECKPOINT
from snakafka.log.partition_log import PartitionLog
from snakafka.log.segment import INT32_MAX, LogSegment

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

DEFAULT_DEDUPE_BUFFER_SIZE = 128 * 1024 * 1024

TopicPartition = tuple[str, int]
_LogKey = tuple[Path, str, int]  # (log dir, topic, partition)


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
        """(first dirty offset, number of leading segments that may be cleaned). Never a
        segment reaching the active one, `upper_bound` (the high watermark) or the first
        offset of an open transaction: with the high watermark, that is Kafka's last
        stable offset bound. (A completed transaction whose marker is not yet below the
        high watermark needs no cap: its marker is outside the range, and clean() copies
        a transaction's batches as they are until it sees the marker.)"""
        segments = plog.segments
        first_dirty = self.first_dirty_offset(plog)
        end = segments[-1].base_offset
        if upper_bound is not None:
            end = min(end, upper_bound)
        unstable = plog.producer_state.first_undecided_offset
        if unstable is not None:
            end = min(end, unstable)
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
        sources = [Source(s, os.dup(s.fd), s.size) for s in segments]
        return CleanPlan(
            log=plog, name=plog.name, directory=plog.directory, now_ms=now, first_dirty=first_dirty,
            clean_end=clean_end, sources=sources, groups=groups,
            delete_retention_ms=config.delete_retention_ms, index_interval_bytes=config.index_interval_bytes,
            segment_index_bytes=config.segment_index_bytes, map_budget=self.dedupe_buffer_size,
            generation=plog._generation,  # bumped by truncations
        )

    clean = staticmethod(clean)

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

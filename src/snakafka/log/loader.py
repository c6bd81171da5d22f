"""Opening a partition log from its directory, and crash recovery.

In order: remove leftovers (`.deleted` files whose removal was interrupted, `.cleaned`
segments of an interrupted compaction, orphan index files, temporary files); complete an
interrupted segment swap (`.swap`: compaction had already made the new segment durable,
so the old segments it covers go and it takes its live name); then load segments in
offset order. After an unclean shutdown, every segment that may hold offsets at or past
the recovery point is validated batch by batch (CRC-32C, framing, offsets) and truncated
at the first torn or corrupt batch; segments after a truncated one are deleted, so the
log is always a clean prefix of what was written. After a clean shutdown nothing is
scanned beyond each segment's tail after its last index entry.

The aborted-transaction index (`.txnindex`) of a recovered segment, of a segment swapped
in by an interrupted compaction, or of one whose file fails its checks cannot be rebuilt
from the segment alone (an entry needs the transaction's first offset): LoadedLog lists
them and the partition log rebuilds them while it replays its producer state
(txn_state.replay).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from snakafka.log.checkpoint import TMP_SUFFIX
from snakafka.log.files import (
    CLEANED_SUFFIX,
    DELETED_SUFFIX,
    LEADER_EPOCH_CHECKPOINT,
    LOG_SUFFIX,
    SWAP_SUFFIX,
    parse_segment_file,
)
from snakafka.log.leader_epoch import LeaderEpochCache
from snakafka.log.log_config import LogConfig
from snakafka.log.segment import LogSegment

log = logging.getLogger(__name__)


@dataclass(slots=True)
class LoadedLog:
    """What a partition log starts from: its segments (never empty) and offsets, all
    recovered; the recovery point is the log end offset."""

    segments: list[LogSegment]
    log_start_offset: int
    leader_epoch_cache: LeaderEpochCache
    rebuild_txn_indexes: set[int]  # base offsets of segments whose `.txnindex` must be rebuilt

    @property
    def log_end_offset(self) -> int:
        return self.segments[-1].next_offset


def load_log(directory: Path, name: str, config: LogConfig, *, recovery_point: int, log_start_offset: int,
             needs_recovery: bool) -> LoadedLog:
    """Open the log in `directory` (made if missing), recovering it if `needs_recovery`."""
    directory.mkdir(parents=True, exist_ok=True)
    epochs = LeaderEpochCache.load(directory / LEADER_EPOCH_CHECKPOINT, name)

    def open_segment(base: int, state: str = "") -> LogSegment:
        return LogSegment(directory, base, index_interval_bytes=config.index_interval_bytes,
                          max_index_bytes=config.segment_index_bytes, state=state)

    logs, swaps = _clean_directory(directory, name)
    for base in swaps:
        swap = open_segment(base, SWAP_SUFFIX)
        swap.recover(allow_gaps=True)
        for other in [b for b in logs if base <= b < max(swap.next_offset, base + 1)]:
            log.info("%s: completing an interrupted swap: removing segment %d", name, other)
            open_segment(other).delete()
            logs.remove(other)
        swap.close()
        swap.rename_state("")
        logs.append(base)
    rebuild_txn_indexes = set(swaps)
    logs.sort()

    segments: list[LogSegment] = []
    recovered: list[LogSegment] = []
    truncated = False
    for i, base in enumerate(logs):
        segment = open_segment(base)
        if truncated:
            log.warning("%s: deleting segment %d, which follows a truncated one", name, base)
            segment.delete()
            continue
        next_base = logs[i + 1] if i + 1 < len(logs) else None
        recover = needs_recovery and (next_base is None or next_base > recovery_point)
        if segment.load(recover, allow_gaps=config.compact) > 0:
            truncated = True
        if recover:
            recovered.append(segment)
        if recover or not segment.txn_index_valid:
            rebuild_txn_indexes.add(base)
        if segment.size == 0 and i + 1 < len(logs) and not truncated:
            log.info("%s: deleting empty segment %d", name, base)
            segment.delete()
            continue
        segments.append(segment)

    if not segments:
        segments.append(LogSegment.create(directory, max(log_start_offset, 0),
                                          index_interval_bytes=config.index_interval_bytes,
                                          max_index_bytes=config.segment_index_bytes))
    end = segments[-1].next_offset
    start = min(max(log_start_offset, segments[0].base_offset), end)
    epochs.truncate_from_end(end)
    epochs.truncate_from_start(start)
    for segment in recovered:
        if not segment.closed:
            segment.flush()  # what recovery kept must be durable before the recovery point says so
    if recovered:
        log.info("%s: recovered %d segment(s); log end offset %d", name, len(recovered), end)
    return LoadedLog(segments, start, epochs, rebuild_txn_indexes)


def _clean_directory(directory: Path, name: str) -> tuple[list[int], list[int]]:
    """Remove leftovers; return the base offsets of live `.log` files and of `.swap` logs."""
    logs: list[int] = []
    swaps: list[int] = []
    indexes: dict[int, list[str]] = {}
    for entry in os.scandir(directory):
        if entry.name.endswith(TMP_SUFFIX):
            _unlink(name, entry.path)
            continue
        parsed = parse_segment_file(entry.name)
        if parsed is None:
            continue
        if parsed.state in (DELETED_SUFFIX, CLEANED_SUFFIX):
            _unlink(name, entry.path)
        elif parsed.state == SWAP_SUFFIX:
            if parsed.kind == LOG_SUFFIX:
                swaps.append(parsed.base_offset)
            else:
                _unlink(name, entry.path)  # swap indexes are rebuilt by recovery
        elif parsed.kind == LOG_SUFFIX:
            logs.append(parsed.base_offset)
        else:
            indexes.setdefault(parsed.base_offset, []).append(entry.path)
    for base, paths in indexes.items():
        if base not in logs:
            for path in paths:
                _unlink(name, path)  # an orphan index: its log was deleted
    return logs, swaps


def _unlink(name: str, path: str) -> None:
    log.debug("%s: removing leftover %s", name, path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass

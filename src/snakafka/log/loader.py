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
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

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
from snakafka.log.segment import LogSegment

if TYPE_CHECKING:
    from snakafka.log.partition_log import PartitionLog

log = logging.getLogger(__name__)


def load_log(plog: PartitionLog, *, recovery_point: int, log_start_offset: int, needs_recovery: bool) -> None:
    """Fill `plog` (fresh, no segments) from its directory."""
    directory = plog.directory
    directory.mkdir(parents=True, exist_ok=True)
    config, name = plog.config, plog.name
    plog.leader_epoch_cache = LeaderEpochCache.load(directory / LEADER_EPOCH_CHECKPOINT, name)

    def open_segment(base: int, state: str = "") -> LogSegment:
        return LogSegment(directory, base, index_interval_bytes=config.index_interval_bytes,
                          max_index_bytes=config.segment_index_bytes, state=state)

    logs, swaps = _clean_directory(plog)
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
        if segment.size == 0 and i + 1 < len(logs) and not truncated:
            log.info("%s: deleting empty segment %d", name, base)
            segment.delete()
            continue
        segments.append(segment)

    if not segments:
        segments.append(LogSegment.create(directory, max(log_start_offset, 0),
                                          index_interval_bytes=config.index_interval_bytes,
                                          max_index_bytes=config.segment_index_bytes))
    plog._set_segments(segments)
    end = plog.log_end_offset
    plog.log_start_offset = min(max(log_start_offset, segments[0].base_offset), end)
    cache = plog.leader_epoch_cache
    cache.truncate_from_end(end)
    cache.truncate_from_start(plog.log_start_offset)
    plog.recovery_point = end
    for segment in recovered:
        if not segment.closed:
            segment.flush()  # what recovery kept must be durable before the recovery point says so
    if recovered:
        log.info("%s: recovered %d segment(s); log end offset %d", name, len(recovered), end)


def _clean_directory(plog: PartitionLog) -> tuple[list[int], list[int]]:
    """Remove leftovers; return the base offsets of live `.log` files and of `.swap` logs."""
    logs: list[int] = []
    swaps: list[int] = []
    indexes: dict[int, list[str]] = {}
    for entry in os.scandir(plog.directory):
        if entry.name.endswith(TMP_SUFFIX):
            _unlink(plog, entry.path)
            continue
        parsed = parse_segment_file(entry.name)
        if parsed is None:
            continue
        if parsed.state in (DELETED_SUFFIX, CLEANED_SUFFIX):
            _unlink(plog, entry.path)
        elif parsed.state == SWAP_SUFFIX:
            if parsed.kind == LOG_SUFFIX:
                swaps.append(parsed.base_offset)
            else:
                _unlink(plog, entry.path)  # swap indexes are rebuilt by recovery
        elif parsed.kind == LOG_SUFFIX:
            logs.append(parsed.base_offset)
        else:
            indexes.setdefault(parsed.base_offset, []).append(entry.path)
    for base, paths in indexes.items():
        if base not in logs:
            for path in paths:
                _unlink(plog, path)  # an orphan index: its log was deleted
    return logs, swaps


def _unlink(plog: PartitionLog, path: str) -> None:
    log.debug("%s: removing leftover %s", plog.name, path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass

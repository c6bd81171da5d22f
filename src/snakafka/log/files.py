"""Kafka's file and directory names in a log dir, in one place.

A log dir holds one `<topic>-<partition>` directory per partition; each holds segments
named by their base offset, zero-padded to 20 digits (`00000000000000000000.log`,
`.index`, `.timeindex`, `.txnindex`: aborted transactions), and the partition's `leader-epoch-checkpoint`. Files may carry
a second suffix while they change state: `.deleted` (detached, removed after a delay),
`.cleaned` and `.swap` (a compacted segment being swapped in). A partition directory
being deleted is renamed `<topic>-<partition>.<unique>-delete` first, so a crash midway
leaves a name the next start-up recognises and removes.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
TXN_INDEX_SUFFIX = ".txnindex"
DELETED_SUFFIX = ".deleted"
CLEANED_SUFFIX = ".cleaned"
SWAP_SUFFIX = ".swap"
DELETE_DIR_SUFFIX = "-delete"

CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown"
RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"
LOG_START_OFFSET_CHECKPOINT = "log-start-offset-checkpoint"
REPLICATION_OFFSET_CHECKPOINT = "replication-offset-checkpoint"
LEADER_EPOCH_CHECKPOINT = "leader-epoch-checkpoint"
CLEANER_OFFSET_CHECKPOINT = "cleaner-offset-checkpoint"  # per log dir: where each log's dirty part starts

_OFFSET_DIGITS = 20
_SEGMENT_SUFFIXES = (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX)
_STATE_SUFFIXES = (DELETED_SUFFIX, CLEANED_SUFFIX, SWAP_SUFFIX)


class SegmentPaths(NamedTuple):
    log: Path
    offset_index: Path
    time_index: Path
    txn_index: Path


class SegmentFileName(NamedTuple):
    """A parsed segment file name: `00000000000000000042.log.swap` ->
    (42, ".log", ".swap")."""

    base_offset: int
    kind: str  # LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX or TXN_INDEX_SUFFIX
    state: str  # "" or one of DELETED_SUFFIX, CLEANED_SUFFIX, SWAP_SUFFIX


def offset_name(offset: int) -> str:
    return f"{offset:0{_OFFSET_DIGITS}d}"


def segment_paths(directory: Path, base_offset: int, state: str = "") -> SegmentPaths:
    """The four files of the segment at `base_offset`, with an optional state suffix."""
    stem = offset_name(base_offset)
    return SegmentPaths(
        directory / f"{stem}{LOG_SUFFIX}{state}",
        directory / f"{stem}{INDEX_SUFFIX}{state}",
        directory / f"{stem}{TIME_INDEX_SUFFIX}{state}",
        directory / f"{stem}{TXN_INDEX_SUFFIX}{state}",
    )


def parse_segment_file(name: str) -> SegmentFileName | None:
    """Base offset, kind and state suffix of a segment file name; None for other files
    (checkpoints, temporary files, anything unknown)."""
    stem, dot, rest = name.partition(".")
    if not dot or len(stem) != _OFFSET_DIGITS or not stem.isdigit():
        return None
    rest = "." + rest
    state = ""
    for candidate in _STATE_SUFFIXES:
        if rest.endswith(candidate):
            state = candidate
            rest = rest[: -len(candidate)]
            break
    if rest not in _SEGMENT_SUFFIXES:
        return None
    return SegmentFileName(int(stem), rest, state)


def partition_dir_name(topic: str, partition: int) -> str:
    return f"{topic}-{partition}"


def parse_partition_dir(name: str) -> tuple[str, int] | None:
    """(topic, partition) of a partition directory name, or None if it is not one
    (a `-delete` directory, a hidden file, meta.properties' neighbours...).

    Topic names may themselves contain dashes and dots; the partition is what follows
    the last dash."""
    if name.endswith(DELETE_DIR_SUFFIX):
        return None
    topic, sep, number = name.rpartition("-")
    if not sep or not topic or not number.isdigit() or not number.isascii():
        return None
    return topic, int(number)


def delete_dir_name(topic: str, partition: int, unique: str) -> str:
    """Name a partition directory takes while it is being deleted."""
    return f"{partition_dir_name(topic, partition)}.{unique}{DELETE_DIR_SUFFIX}"


def is_delete_dir(name: str) -> bool:
    return name.endswith(DELETE_DIR_SUFFIX)

"""Kafka's checkpoint files: a version line, a count line, then one entry per line.

The offset checkpoints of a log dir (recovery-point-offset-checkpoint,
log-start-offset-checkpoint, replication-offset-checkpoint) hold `topic partition offset`
lines; a partition's leader-epoch-checkpoint holds `epoch startOffset` lines in the same
frame. A file is written whole to a temporary sibling, fsynced, renamed over the old one
and the directory fsynced, so a crash leaves the old file or the new one, never a mix.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

VERSION = 0
TMP_SUFFIX = ".tmp"

TopicPartition = tuple[str, int]


class CheckpointError(Exception):
    """A checkpoint file that does not parse (wrong version, count or line shape)."""


def write_lines(path: Path, entries: Sequence[Sequence[object]], version: int = VERSION) -> None:
    """Atomically replace `path` with a version line, a count line and `entries`, each
    written as its fields joined by single spaces."""
    text = "".join(f"{line}\n" for line in [version, len(entries)] + [" ".join(map(str, e)) for e in entries])
    tmp = path.with_name(path.name + TMP_SUFFIX)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def read_lines(path: Path, fields: int, version: int = VERSION) -> list[list[str]] | None:
    """The entries of a checkpoint file split into `fields` fields each; None if the file
    does not exist. Raises CheckpointError if it is malformed."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return None
    if len(lines) < 2:
        raise CheckpointError(f"{path}: missing version or count line")
    try:
        found_version, count = int(lines[0]), int(lines[1])
    except ValueError as exc:
        raise CheckpointError(f"{path}: malformed header: {exc}") from None
    if found_version != version:
        raise CheckpointError(f"{path}: unsupported version {found_version}")
    entries = [line.split() for line in lines[2:] if line.strip()]
    if len(entries) != count:
        raise CheckpointError(f"{path}: expected {count} entries, found {len(entries)}")
    for entry in entries:
        if len(entry) != fields:
            raise CheckpointError(f"{path}: malformed line {' '.join(entry)!r}")
    return entries


def write_offsets(path: Path, offsets: Mapping[TopicPartition, int]) -> None:
    """Write an offset checkpoint (`topic partition offset` lines)."""
    write_lines(path, [(topic, partition, offset) for (topic, partition), offset in sorted(offsets.items())])


def read_offsets(path: Path) -> dict[TopicPartition, int]:
    """Read an offset checkpoint; a missing file reads as empty. Raises CheckpointError."""
    entries = read_lines(path, 3)
    if entries is None:
        return {}
    try:
        return {(topic, int(partition)): int(offset) for topic, partition, offset in entries}
    except ValueError:
        raise CheckpointError(f"{path}: non-numeric partition or offset") from None


def read_offsets_or_empty(path: Path) -> dict[TopicPartition, int]:
    """Read an offset checkpoint, treating a malformed file as empty: every log then
    falls back to its safe default (full recovery, start offset from the segments)."""
    try:
        return read_offsets(path)
    except CheckpointError as exc:
        log.warning("ignoring malformed checkpoint: %s", exc)
        return {}


def fsync_dir(directory: Path) -> None:
    """Make a rename or file creation in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Kafka's offset checkpoint files: a version line, a count line, then `topic partition
offset` lines. Written to a temporary file, fsynced and renamed, so a crash leaves either
the old or the new file, never half of one."""

from __future__ import annotations

import os
from pathlib import Path

VERSION = 0


def write_checkpoint(path: Path, offsets: dict[tuple[str, int], int]) -> None:
    lines = [str(VERSION), str(len(offsets))]
    lines += [f"{topic} {partition} {offset}" for (topic, partition), offset in sorted(offsets.items())]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_checkpoint(path: Path) -> dict[tuple[str, int], int]:
    """Offsets from a checkpoint file; an absent or malformed file reads as empty
    (the log then falls back to full recovery, which is always safe)."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    try:
        if int(lines[0]) != VERSION:
            return {}
        count = int(lines[1])
        result: dict[tuple[str, int], int] = {}
        for line in lines[2 : 2 + count]:
            topic, partition, offset = line.split()
            result[(topic, int(partition))] = int(offset)
        if len(result) != count:
            return {}
        return result
    except (IndexError, ValueError):
        return {}

"""The fsyncs of one partition-log flush, separable from the event loop.

PartitionLog.begin_flush (on the loop) writes pending index entries and lists the
descriptors and files to fsync; FlushTask.run() does the fsyncs and may run in a thread
(os.fsync releases the GIL); PartitionLog.complete_flush (on the loop) then advances the
recovery point. A segment deleted in between costs nothing: its closed descriptor or
renamed files are skipped, since nothing of a deleted segment needs to be durable.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

from snakafka.log.checkpoint import fsync_dir


@dataclass(slots=True)
class FlushTask:
    """The fsyncs of one flush, prepared on the loop by `begin_flush` so `run()` can go to
    a thread; `complete_flush` then advances the recovery point. Closed or renamed files
    (a segment deleted meanwhile) are skipped: nothing of theirs needs to be durable."""

    name: str
    up_to: int
    generation: int
    fds: list[int] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    directory: Path | None = None

    def run(self) -> None:
        for fd in self.fds:
            try:
                os.fsync(fd)
            except OSError as exc:
                if exc.errno not in (errno.EBADF, errno.EINVAL):  # closed (and maybe reused) by a deletion
                    raise
        for path in self.paths:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        if self.directory is not None:
            fsync_dir(self.directory)

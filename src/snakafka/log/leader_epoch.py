"""Leader epoch cache of one partition: which epoch's leader wrote from which offset.

Entries are (epoch, start offset), both strictly increasing: epoch E's leader appended
from start offset S up to the next entry's start (or the log end offset for the latest
epoch). OffsetForLeaderEpoch answers from it, and a follower uses the answer to truncate
its log to where it diverged from the leader. Persisted in the partition directory as
`leader-epoch-checkpoint` (version 0, count, `epoch startOffset` lines), rewritten
atomically whenever an entry changes; epochs change rarely, so that costs nothing on the
append path, where `assign` with the current epoch is a single comparison.

Not thread-safe: owned by the partition's PartitionLog.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass
from pathlib import Path

from snakafka.log.checkpoint import CheckpointError, read_lines, write_lines

log = logging.getLogger(__name__)

UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1


@dataclass(frozen=True, slots=True)
class EpochEntry:
    epoch: int
    start_offset: int


class LeaderEpochCache:
    def __init__(self, path: Path, name: str = "", entries: list[EpochEntry] | None = None) -> None:
        self.path = path
        self.name = name or path.parent.name
        self._epochs: list[int] = []
        self._starts: list[int] = []
        for entry in entries or []:
            self._epochs.append(entry.epoch)
            self._starts.append(entry.start_offset)

    @classmethod
    def load(cls, path: Path, name: str = "") -> LeaderEpochCache:
        """Read the checkpoint; a missing file is an empty cache, a malformed one is
        logged and dropped (answers then fall back to UNDEFINED, which makes followers
        truncate to the high watermark: safe)."""
        cache = cls(path, name)
        try:
            lines = read_lines(path, 2)
        except CheckpointError as exc:
            log.warning("%s: ignoring malformed leader epoch checkpoint: %s", cache.name, exc)
            return cache
        for epoch_text, start_text in lines or []:
            try:
                entry = EpochEntry(int(epoch_text), int(start_text))
            except ValueError:
                log.warning("%s: ignoring malformed leader epoch checkpoint line", cache.name)
                return cls(path, name)
            cache._assign(entry)
        return cache

    # -- queries --------------------------------------------------------------------

    @property
    def entries(self) -> list[EpochEntry]:
        return [EpochEntry(e, s) for e, s in zip(self._epochs, self._starts)]

    @property
    def latest_epoch(self) -> int | None:
        return self._epochs[-1] if self._epochs else None

    @property
    def earliest_entry(self) -> EpochEntry | None:
        return EpochEntry(self._epochs[0], self._starts[0]) if self._epochs else None

    def end_offset_for(self, requested_epoch: int, log_end_offset: int) -> tuple[int, int]:
        """(epoch, end offset) for OffsetForLeaderEpoch, as Kafka answers it: the end
        offset of the largest epoch <= `requested_epoch` is the start offset of the next
        larger epoch, or the log end offset if it is the latest epoch.

        - unknown epoch (-1), empty cache, or an epoch above the latest: (-1, -1);
        - an epoch below the earliest entry (the start was truncated away):
          (requested_epoch, start offset of the earliest entry)."""
        if requested_epoch == UNDEFINED_EPOCH or not self._epochs:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if requested_epoch == self._epochs[-1]:
            return requested_epoch, log_end_offset
        higher = bisect.bisect_right(self._epochs, requested_epoch)
        if higher == len(self._epochs):
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if higher == 0:
            return requested_epoch, self._starts[0]
        return self._epochs[higher - 1], self._starts[higher]

    def epoch_for_offset(self, offset: int) -> int | None:
        """The epoch whose leader wrote `offset`, if the cache covers it."""
        i = bisect.bisect_right(self._starts, offset) - 1
        return self._epochs[i] if i >= 0 else None

    # -- changes --------------------------------------------------------------------

    def assign(self, epoch: int, start_offset: int) -> bool:
        """Record that `epoch` starts at `start_offset` (the base offset of its first
        batch). A no-op for the latest epoch at or after its start; entries with an epoch
        or start offset >= the new one are dropped to keep both strictly increasing.
        Returns whether the cache changed (and was written)."""
        if epoch < 0:
            return False
        if self._epochs and self._epochs[-1] == epoch and start_offset >= self._starts[-1]:
            return False
        self._assign(EpochEntry(epoch, start_offset))
        log.info("%s: leader epoch %d starts at offset %d", self.name, epoch, start_offset)
        self._write()
        return True

    def _assign(self, entry: EpochEntry) -> None:
        while self._epochs and (self._epochs[-1] >= entry.epoch or self._starts[-1] >= entry.start_offset):
            self._epochs.pop()
            self._starts.pop()
        self._epochs.append(entry.epoch)
        self._starts.append(entry.start_offset)

    def truncate_from_end(self, end_offset: int) -> None:
        """Drop entries starting at or after `end_offset` (the log was truncated there)."""
        i = bisect.bisect_left(self._starts, end_offset)
        if i < len(self._starts):
            del self._epochs[i:]
            del self._starts[i:]
            log.info("%s: leader epoch cache truncated from end offset %d", self.name, end_offset)
            self._write()

    def truncate_from_start(self, start_offset: int) -> None:
        """Forget entries wholly below `start_offset` (the log start offset moved); the
        epoch covering `start_offset` is kept and now starts there."""
        i = bisect.bisect_right(self._starts, start_offset) - 1
        if i < 0 or (i == 0 and self._starts[0] == start_offset):
            return
        epoch = self._epochs[i]
        del self._epochs[: i + 1]
        del self._starts[: i + 1]
        self._epochs.insert(0, epoch)
        self._starts.insert(0, start_offset)
        log.info("%s: leader epoch cache truncated from start offset %d", self.name, start_offset)
        self._write()

    def clear(self) -> None:
        if self._epochs:
            self._epochs.clear()
            self._starts.clear()
        self._write()

    def _write(self) -> None:
        write_lines(self.path, list(zip(self._epochs, self._starts)))

"""Sparse offset and time indexes of one segment.

OffsetIndex entries are (relative offset i32, file position i32), 8 bytes; TimeIndex
entries are (timestamp i64, relative offset i32), 12 bytes; both as Kafka lays them out.
Entries are kept in memory (arrays, binary-searched) and appended to their file; the
file is only a cache of what a scan of the log would rebuild, so a bad index file is
simply rebuilt.
"""

from __future__ import annotations

import bisect
import os
import struct
from array import array
from pathlib import Path

_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")


class _IndexFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self._pending = bytearray()

    def read_all(self) -> bytes:
        return self.path.read_bytes()

    def append(self, entry: bytes) -> None:
        self._pending += entry

    def flush(self, fsync: bool = False) -> None:
        if self._pending:
            os.write(self._fd, self._pending)
            self._pending.clear()
        if fsync:
            os.fsync(self._fd)

    def reset(self, content: bytes = b"") -> None:
        self._pending.clear()
        os.ftruncate(self._fd, 0)
        if content:
            os.write(self._fd, content)

    def close(self) -> None:
        self.flush()
        os.close(self._fd)


class OffsetIndex:
    """Base offset of a batch -> its position in the segment file."""

    def __init__(self, path: Path, base_offset: int) -> None:
        self.base_offset = base_offset
        self.offsets = array("q")
        self.positions = array("q")
        self._file = _IndexFile(path)

    def load(self, log_size: int) -> bool:
        """Read the file; False if it is not a sane index of a log of this size."""
        data = self._file.read_all()
        if len(data) % _OFFSET_ENTRY.size:
            return False
        prev_offset, prev_pos = -1, -1
        for rel, pos in _OFFSET_ENTRY.iter_unpack(data):
            if rel <= prev_offset or pos <= prev_pos or pos >= log_size or rel < 0:
                return False
            self.offsets.append(self.base_offset + rel)
            self.positions.append(pos)
            prev_offset, prev_pos = rel, pos
        return True

    def append(self, offset: int, position: int) -> None:
        if self.offsets and offset <= self.offsets[-1]:
            return
        self.offsets.append(offset)
        self.positions.append(position)
        self._file.append(_OFFSET_ENTRY.pack(offset - self.base_offset, position))

    def lookup(self, offset: int) -> tuple[int, int]:
        """The greatest entry at or below `offset`: (offset, position); (base, 0) if none."""
        i = bisect.bisect_right(self.offsets, offset) - 1
        if i < 0:
            return self.base_offset, 0
        return self.offsets[i], self.positions[i]

    def truncate_to_position(self, position: int) -> None:
        """Drop entries at or past a file position (the log was truncated there)."""
        i = bisect.bisect_left(self.positions, position)
        del self.offsets[i:]
        del self.positions[i:]
        self._file.reset(b"".join(_OFFSET_ENTRY.pack(o - self.base_offset, p) for o, p in zip(self.offsets, self.positions)))

    def clear(self) -> None:
        del self.offsets[:]
        del self.positions[:]
        self._file.reset()

    def flush(self, fsync: bool = False) -> None:
        self._file.flush(fsync)

    def close(self) -> None:
        self._file.close()

    def __len__(self) -> int:
        return len(self.offsets)


class TimeIndex:
    """Max timestamp so far -> the offset of the batch that reached it."""

    def __init__(self, path: Path, base_offset: int) -> None:
        self.base_offset = base_offset
        self.timestamps = array("q")
        self.offsets = array("q")
        self._file = _IndexFile(path)

    def load(self, log_end_offset: int) -> bool:
        data = self._file.read_all()
        if len(data) % _TIME_ENTRY.size:
            return False
        prev_ts, prev_rel = -(2**63), -1
        for ts, rel in _TIME_ENTRY.iter_unpack(data):
            if ts < prev_ts or rel < prev_rel or self.base_offset + rel >= log_end_offset:
                return False
            self.timestamps.append(ts)
            self.offsets.append(self.base_offset + rel)
            prev_ts, prev_rel = ts, rel
        return True

    def maybe_append(self, timestamp: int, offset: int) -> None:
        if self.timestamps and timestamp <= self.timestamps[-1]:
            return
        self.timestamps.append(timestamp)
        self.offsets.append(offset)
        self._file.append(_TIME_ENTRY.pack(timestamp, offset - self.base_offset))

    def lookup(self, timestamp: int) -> int:
        """An offset from which a scan finds the first batch with max timestamp >= ts."""
        i = bisect.bisect_left(self.timestamps, timestamp) - 1
        return self.base_offset if i < 0 else self.offsets[i]

    @property
    def max_timestamp(self) -> int:
        return self.timestamps[-1] if self.timestamps else -1

    def truncate_to_offset(self, offset: int) -> None:
        i = bisect.bisect_left(self.offsets, offset)
        del self.timestamps[i:]
        del self.offsets[i:]
        self._file.reset(b"".join(_TIME_ENTRY.pack(t, o - self.base_offset) for t, o in zip(self.timestamps, self.offsets)))

    def clear(self) -> None:
        del self.timestamps[:]
        del self.offsets[:]
        self._file.reset()

    def flush(self, fsync: bool = False) -> None:
        self._file.flush(fsync)

    def close(self) -> None:
        self._file.close()

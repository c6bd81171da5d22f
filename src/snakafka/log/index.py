"""Sparse offset and time indexes of one segment, in Kafka's file format.

OffsetIndex entries are (relative offset i32, file position i32), 8 bytes: the base
offset of a batch, relative to the segment's base offset, and where the batch starts in
the `.log` file. TimeIndex entries are (timestamp i64, relative offset i32), 12 bytes:
the largest timestamp seen so far in the segment and the batch that first reached it.
Both are big-endian, strictly increasing in every field, and sparse: the segment adds one
entry per index.interval.bytes of log, so a lookup is a binary search followed by a short
scan of batch headers.

Entries live in memory as `array`s (8 or 12 bytes per entry, binary-searched by the C
bisect), and new entries are buffered and written to the file only on flush, roll or
close: the append path never touches the index file. The file is a cache of what a scan
of the log rebuilds: a file that fails the sanity checks is rebuilt, never trusted.

Not thread-safe; owned by a LogSegment.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import os
import struct
import sys
from array import array
from pathlib import Path

_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")
_NEEDS_SWAP = sys.byteorder == "little"


class IndexCorruptError(Exception):
    """An index file that fails its sanity check; the segment rebuilds it."""


def _be_array(typecode: str, data: bytes) -> array:  # type: ignore[type-arg]
    values = array(typecode)
    values.frombytes(data)
    if _NEEDS_SWAP:
        values.byteswap()
    return values


def _strictly_increasing(values: array) -> bool:  # type: ignore[type-arg]
    return all(map(operator.lt, values, itertools.islice(values, 1, None)))


def _non_decreasing(values: array) -> bool:  # type: ignore[type-arg]
    return all(map(operator.le, values, itertools.islice(values, 1, None)))


def _column(data: bytes, entry_size: int, start: int, width: int) -> bytes:
    """The `width`-byte field at `start` of every `entry_size`-byte entry, concatenated:
    strided slices, so splitting an index into columns costs no per-entry Python work."""
    out = bytearray(len(data) // entry_size * width)
    for k in range(width):
        out[k::width] = data[start + k :: entry_size]
    return bytes(out)


class _IndexFile:
    """An index file written lazily: appended entries are buffered; a truncation makes
    the next flush rewrite the file whole."""

    def __init__(self, path: Path, create: bool) -> None:
        self.path = path
        self._pending = bytearray()
        self._rewrite: bytes | None = None
        self._synced = not create
        if create:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def read_tail(self, size: int) -> bytes:
        """The last `size` bytes of the file (b"" if it is shorter)."""
        try:
            with open(self.path, "rb") as f:
                length = f.seek(0, os.SEEK_END)
                if length < size:
                    return b""
                f.seek(length - size)
                return f.read(size)
        except FileNotFoundError:
            return b""

    def append(self, entry: bytes) -> None:
        self._pending += entry

    def replace(self, content: bytes) -> None:
        self._pending.clear()
        self._rewrite = content

    @property
    def dirty(self) -> bool:
        return bool(self._pending) or self._rewrite is not None

    def flush(self, fsync: bool = False) -> None:
        if not self.dirty and (self._synced or not fsync):
            return
        if self._rewrite is not None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        else:
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        fd = os.open(self.path, flags, 0o644)
        try:
            if self._rewrite is not None:
                os.write(fd, self._rewrite)
                self._rewrite = None
            if self._pending:
                os.write(fd, self._pending)
                self._pending.clear()
            if fsync:
                os.fsync(fd)
            self._synced = fsync
        finally:
            os.close(fd)

    def rename(self, path: Path) -> None:
        try:
            self.path.rename(path)
        except FileNotFoundError:
            pass
        self.path = path

    def delete(self) -> None:
        self._pending.clear()
        self._rewrite = None
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


class OffsetIndex:
    """Batch base offset -> file position, sparse."""

    ENTRY_SIZE = _OFFSET_ENTRY.size

    def __init__(self, path: Path, base_offset: int, max_index_bytes: int, *, create: bool = False) -> None:
        self.base_offset = base_offset
        self.max_entries = max(max_index_bytes // self.ENTRY_SIZE, 1)
        self.file = _IndexFile(path, create)
        self._relative: array = array("i")  # type: ignore[type-arg]
        self._positions: array = array("i")  # type: ignore[type-arg]

    def __len__(self) -> int:
        return len(self._relative)

    @property
    def is_full(self) -> bool:
        return len(self._relative) >= self.max_entries

    @property
    def last_entry(self) -> tuple[int, int]:
        """(offset, position) of the last entry; (base offset, 0) when empty."""
        if not self._relative:
            return self.base_offset, 0
        return self.base_offset + self._relative[-1], self._positions[-1]

    def peek_last_entry(self, log_size: int) -> tuple[int, int]:
        """The file's last entry, checked cheaply against the log (Kafka's sanity check:
        whole entries, last entry inside the log), without loading the rest."""
        if not self.file.exists():
            raise IndexCorruptError(f"{self.file.path} is missing")
        size = self.file.size()
        if size % self.ENTRY_SIZE:
            raise IndexCorruptError(f"{self.file.path}: size {size} is not a multiple of {self.ENTRY_SIZE}")
        if size == 0:
            return self.base_offset, 0
        relative, position = _OFFSET_ENTRY.unpack(self.file.read_tail(self.ENTRY_SIZE))
        if relative < 0 or position < 0 or position >= log_size:
            raise IndexCorruptError(f"{self.file.path}: last entry ({relative}, {position}) is outside the log")
        return self.base_offset + relative, position

    def load(self, log_size: int) -> None:
        """Read the whole file and check every entry: offsets and positions strictly
        increasing, positions inside the log."""
        data = self.file.read()
        if len(data) % self.ENTRY_SIZE:
            raise IndexCorruptError(f"{self.file.path}: size {len(data)} is not a multiple of {self.ENTRY_SIZE}")
        both = _be_array("i", data)
        relative, positions = both[0::2], both[1::2]
        if relative and (relative[0] < 0 or positions[0] < 0 or positions[-1] >= log_size):
            raise IndexCorruptError(f"{self.file.path}: entries outside the log")
        if not (_strictly_increasing(relative) and _strictly_increasing(positions)):
            raise IndexCorruptError(f"{self.file.path}: entries are not increasing")
        self._relative, self._positions = relative, positions

    def append(self, offset: int, position: int) -> None:
        """Add an entry; callers add them in increasing offset and position order."""
        relative = offset - self.base_offset
        self._relative.append(relative)
        self._positions.append(position)
        self.file.append(_OFFSET_ENTRY.pack(relative, position))

    def lookup(self, offset: int) -> tuple[int, int]:
        """The last entry at or below `offset`: (offset, position); (base, 0) if none.
        A scan of batch headers from that position finds the batch holding `offset`."""
        i = bisect.bisect_right(self._relative, offset - self.base_offset) - 1
        if i < 0:
            return self.base_offset, 0
        return self.base_offset + self._relative[i], self._positions[i]

    def truncate_to_position(self, position: int) -> None:
        """Drop entries at or past a file position (the log was truncated there)."""
        i = bisect.bisect_left(self._positions, position)
        if i < len(self._positions):
            del self._relative[i:]
            del self._positions[i:]
            self.file.replace(self._serialize())

    def reset(self) -> None:
        """Forget every entry (before a rebuild); the file is rewritten on flush."""
        self._relative = array("i")
        self._positions = array("i")
        self.file.replace(b"")

    def _serialize(self) -> bytes:
        both = array("i", bytes(len(self._relative) * self.ENTRY_SIZE))
        both[0::2] = self._relative
        both[1::2] = self._positions
        if _NEEDS_SWAP:
            both.byteswap()
        return both.tobytes()

    def flush(self, fsync: bool = False) -> None:
        self.file.flush(fsync)


class TimeIndex:
    """Largest timestamp so far -> the batch that first reached it, sparse."""

    ENTRY_SIZE = _TIME_ENTRY.size

    def __init__(self, path: Path, base_offset: int, max_index_bytes: int, *, create: bool = False) -> None:
        self.base_offset = base_offset
        self.max_entries = max(max_index_bytes // self.ENTRY_SIZE, 1)
        self.file = _IndexFile(path, create)
        self._timestamps: array = array("q")  # type: ignore[type-arg]
        self._relative: array = array("i")  # type: ignore[type-arg]

    def __len__(self) -> int:
        return len(self._timestamps)

    @property
    def is_full(self) -> bool:
        return len(self._timestamps) >= self.max_entries

    @property
    def last_entry(self) -> tuple[int, int]:
        """(timestamp, offset) of the last entry; (-1, base offset) when empty."""
        if not self._timestamps:
            return -1, self.base_offset
        return self._timestamps[-1], self.base_offset + self._relative[-1]

    def peek_last_entry(self, log_end_offset: int) -> tuple[int, int]:
        """The file's last entry, checked cheaply (whole entries, offset inside the
        segment), without loading the rest: the segment's max timestamp after a clean
        shutdown."""
        if not self.file.exists():
            raise IndexCorruptError(f"{self.file.path} is missing")
        size = self.file.size()
        if size % self.ENTRY_SIZE:
            raise IndexCorruptError(f"{self.file.path}: size {size} is not a multiple of {self.ENTRY_SIZE}")
        if size == 0:
            return -1, self.base_offset
        timestamp, relative = _TIME_ENTRY.unpack(self.file.read_tail(self.ENTRY_SIZE))
        if relative < 0 or self.base_offset + relative >= log_end_offset:
            raise IndexCorruptError(f"{self.file.path}: last entry offset {relative} is outside the segment")
        return timestamp, self.base_offset + relative

    def load(self, log_end_offset: int) -> None:
        data = self.file.read()
        if len(data) % self.ENTRY_SIZE:
            raise IndexCorruptError(f"{self.file.path}: size {len(data)} is not a multiple of {self.ENTRY_SIZE}")
        timestamps = _be_array("q", _column(data, self.ENTRY_SIZE, 0, 8))
        relative = _be_array("i", _column(data, self.ENTRY_SIZE, 8, 4))
        if relative and (relative[0] < 0 or self.base_offset + relative[-1] >= log_end_offset):
            raise IndexCorruptError(f"{self.file.path}: entries outside the segment")
        if not (_strictly_increasing(timestamps) and _non_decreasing(relative)):
            raise IndexCorruptError(f"{self.file.path}: entries are not increasing")
        self._timestamps, self._relative = timestamps, relative

    def maybe_append(self, timestamp: int, offset: int) -> None:
        """Add an entry if `timestamp` is larger than the last one's."""
        if self._timestamps and timestamp <= self._timestamps[-1]:
            return
        if timestamp < 0:
            return
        relative = offset - self.base_offset
        self._timestamps.append(timestamp)
        self._relative.append(relative)
        self.file.append(_TIME_ENTRY.pack(timestamp, relative))

    def lookup(self, timestamp: int) -> int:
        """An offset from which a forward scan finds the first batch whose max timestamp
        is >= `timestamp`: every batch before the returned offset has a smaller one."""
        i = bisect.bisect_right(self._timestamps, timestamp) - 1
        return self.base_offset if i < 0 else self.base_offset + self._relative[i]

    def truncate_to_offset(self, offset: int) -> None:
        """Drop entries whose batch is at or past `offset`."""
        i = bisect.bisect_left(self._relative, offset - self.base_offset)
        if i < len(self._relative):
            del self._timestamps[i:]
            del self._relative[i:]
            self.file.replace(b"".join(_TIME_ENTRY.pack(t, r) for t, r in zip(self._timestamps, self._relative)))

    def reset(self) -> None:
        self._timestamps = array("q")
        self._relative = array("i")
        self.file.replace(b"")

    def flush(self, fsync: bool = False) -> None:
        self.file.flush(fsync)

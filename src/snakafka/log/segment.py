"""One segment: a `.log` file of record batches plus its offset, time and transaction
indexes (the `.txnindex` of aborted transactions, see txn_index.py: the partition log
appends to it when it writes an ABORT marker, and rebuilds it in recovery).

The `.log` file is opened once, O_APPEND, and its descriptor stays open until the segment
is deleted or the log closes: reads are positional (os.pread), and fetches hand out
FileSlices (fd, position, size) that the broker may sendfile() from after we return. A
detached segment (retention, truncation) is therefore renamed `.deleted` first and only
closed by `delete()`, which the caller runs later, typically in a thread.

Indexes are added while appending, one entry per index.interval.bytes, so appends never
re-read the file. Index contents of a segment loaded from disk are read lazily, on the
first lookup or append: opening a log with many segments reads only each index's last
entry (Kafka's sanity check), and a segment nobody reads never loads its index.

Not thread-safe: the broker's event loop appends and reads; only `delete()` and fsyncs
of a detached segment run elsewhere.
"""

from __future__ import annotations

import logging
import os
import struct
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from snakafka.log.files import DELETED_SUFFIX, segment_paths
from snakafka.log.index import IndexCorruptError, OffsetIndex, TimeIndex
from snakafka.log.txn_index import TransactionIndex
from snakafka.protocol.batch import (
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAX_TIMESTAMP_OFFSET,
    BatchError,
    BatchHeader,
    read_header,
    validate_batch,
)

log = logging.getLogger(__name__)

INT32_MAX = 2**31 - 1
_PREFIX = struct.Struct(">qi")  # baseOffset, batchLength
_I64 = struct.Struct(">q")
_RECENT_APPENDS = 32  # appends remembered for tail reads
_READ_AHEAD = 16 * 1024  # header scans read this much at once: ~a few index intervals
_RECOVERY_CHUNK = 1 << 20  # recovery validates batches from 1 MiB reads


@dataclass(frozen=True, slots=True)
class FileSlice:
    """A byte range of a segment file: sent with sendfile, or read when bytes are needed.
    The descriptor stays valid until the segment is deleted."""

    fd: int
    position: int
    size: int

    def read_bytes(self) -> bytes:
        return os.pread(self.fd, self.size, self.position)


class LogSegment:
    def __init__(
        self,
        directory: Path,
        base_offset: int,
        *,
        index_interval_bytes: int,
        max_index_bytes: int,
        state: str = "",
        create: bool = False,
    ) -> None:
        self.directory = directory
        self.base_offset = base_offset
        self.index_interval_bytes = index_interval_bytes
        self.state = state
        paths = segment_paths(directory, base_offset, state)
        self.log_path = paths.log
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if create else 0)
        self.fd = os.open(self.log_path, flags, 0o644)
        self.size = os.fstat(self.fd).st_size
        self.index = OffsetIndex(paths.offset_index, base_offset, max_index_bytes, create=create)
        self.time_index = TimeIndex(paths.time_index, base_offset, max_index_bytes, create=create)
        self.txn_index_valid = True  # False: the `.txnindex` file failed its checks; the loader rebuilds it
        try:
            self.txn_index = TransactionIndex(paths.txn_index, create=create)
        except IndexCorruptError as exc:
            log.warning("%s: %s; the transaction index will be rebuilt", self.log_path, exc)
            self.txn_index = TransactionIndex(paths.txn_index, create=True)
            self.txn_index_valid = False
        self.next_offset = base_offset  # one past the last offset in this segment
        self.max_timestamp = -1  # largest batch max timestamp so far
        self.offset_of_max_timestamp = base_offset  # base offset of the batch that reached it
        self._rolling_base_ms: int | None = None  # see rolling_base_ms()
        self._bytes_since_index = 0
        self._indexes_loaded = create
        self.dirty = False  # changed since the last fsync (appends, truncation)
        self.closed = False
        # (first offset, position) of the latest appends: readers at the log's tail (followers,
        # caught-up consumers) find their batch here instead of scanning from an index entry.
        self._recent: deque[tuple[int, int]] = deque(maxlen=_RECENT_APPENDS)

    @classmethod
    def create(
        cls, directory: Path, base_offset: int, *, index_interval_bytes: int, max_index_bytes: int, state: str = ""
    ) -> LogSegment:
        """A new, empty segment (any leftover files of that name are emptied)."""
        return cls(directory, base_offset, index_interval_bytes=index_interval_bytes,
                   max_index_bytes=max_index_bytes, state=state, create=True)

    def __repr__(self) -> str:
        return f"LogSegment({self.log_path.name}, size={self.size}, next={self.next_offset})"

    # -- writing --------------------------------------------------------------------

    def append(
        self,
        data: bytes | bytearray | memoryview,
        first_offset: int,
        last_offset: int,
        max_timestamp: int,
        offset_of_max_ts: int,
        *,
        now_ms: int | None = None,
    ) -> None:
        """Write validated batches (offsets already assigned) with one write() call.

        Index entries fall on batch boundaries; the batch walk that finds them is skipped
        when the whole append fits before the next index entry is due. `offset_of_max_ts`
        is the base offset of the first batch carrying `max_timestamp`."""
        if first_offset < self.next_offset or last_offset - self.base_offset > INT32_MAX:
            raise ValueError(f"{self}: cannot append offsets {first_offset}..{last_offset}")
        self._ensure_indexes()
        position = self.size
        written = os.write(self.fd, data)
        if written != len(data):  # a short write to a regular file means the disk is full
            os.ftruncate(self.fd, position)
            raise OSError(f"short write to {self.log_path}: {written} of {len(data)} bytes")
        if position == 0:
            self._rolling_base_ms = now_ms
        if self._bytes_since_index + len(data) <= self.index_interval_bytes:
            self._bytes_since_index += len(data)
            if max_timestamp > self.max_timestamp:
                self.max_timestamp, self.offset_of_max_timestamp = max_timestamp, offset_of_max_ts
        else:
            pos, end = 0, len(data)
            while pos < end:
                base, length = _PREFIX.unpack_from(data, pos)
                self._track_batch(position + pos, base, _I64.unpack_from(data, pos + MAX_TIMESTAMP_OFFSET)[0],
                                  length + LOG_OVERHEAD)
                pos += length + LOG_OVERHEAD
        self.size = position + len(data)
        self.next_offset = last_offset + 1
        self.dirty = True
        self._recent.append((first_offset, position))

    def _track_batch(self, position: int, base_offset: int, max_ts: int, size: int) -> None:
        """Kafka's per-batch index rule: after more than index.interval.bytes since the
        last entry, index this batch, and record the max timestamp so far with it."""
        if max_ts > self.max_timestamp:
            self.max_timestamp, self.offset_of_max_timestamp = max_ts, base_offset
        if self._bytes_since_index > self.index_interval_bytes:
            self.index.append(base_offset, position)
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
            self._bytes_since_index = 0
        self._bytes_since_index += size

    def rolling_base_ms(self, now_ms: int) -> int | None:
        """When segment.ms starts counting: the append time of the first batch (None
        while empty). A segment loaded from disk does not know it and estimates it, as
        Kafka does, by its first batch's timestamp, never later than now."""
        if self.size == 0:
            return None
        if self._rolling_base_ms is None:
            first = next(self.headers(0), None)
            timestamp = first[1].max_timestamp if first is not None else -1
            self._rolling_base_ms = min(timestamp, now_ms) if timestamp >= 0 else now_ms
        return self._rolling_base_ms

    @property
    def indexes_full(self) -> bool:
        self._ensure_indexes()
        return self.index.is_full or self.time_index.is_full

    def mark_inactive(self) -> None:
        """The segment stops being the active one (roll): record its final max timestamp
        in the time index, so a restart learns it from the last entry, and write the
        index files out (without fsync; flush() does that)."""
        if self._indexes_loaded:
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
            self.index.flush()
            self.time_index.flush()
        self.txn_index.flush()

    def flush(self) -> None:
        """fsync the log file and the index files."""
        self.index.flush(fsync=True)
        self.time_index.flush(fsync=True)
        self.txn_index.flush(fsync=True)
        os.fsync(self.fd)
        self.dirty = False

    # -- reading --------------------------------------------------------------------

    def headers(self, position: int = 0, end: int | None = None) -> Iterator[tuple[int, BatchHeader]]:
        """(position, header) of each whole batch from `position` up to `end` (default:
        the segment's size), reading ahead in chunks: header scans cost few syscalls."""
        end = self.size if end is None else min(end, self.size)
        buf, buf_pos = b"", position
        while position + HEADER_SIZE <= end:
            rel = position - buf_pos
            if rel + HEADER_SIZE > len(buf):
                buf, buf_pos, rel = os.pread(self.fd, min(_READ_AHEAD, end - position), position), position, 0
                if len(buf) < HEADER_SIZE:
                    return
            header = read_header(buf, rel)
            if header.batch_length < HEADER_SIZE - LOG_OVERHEAD or position + header.size > end:
                return
            yield position, header
            position += header.size

    def find_batch(self, offset: int, start_position: int | None = None) -> tuple[int, BatchHeader] | None:
        """The batch holding `offset`, or the first one after it if `offset` falls in a
        gap: (position, header); None if no batch ends at or after `offset`."""
        if start_position is None:
            start_position = self._recent_position(offset)
        if start_position is None:
            self._ensure_indexes()
            _, start_position = self.index.lookup(offset)
        for position, header in self.headers(start_position):
            if header.last_offset >= offset:
                return position, header
        return None

    def _recent_position(self, offset: int) -> int | None:
        """Where the latest append at or below `offset` starts, if it is a recent one."""
        recent = self._recent
        if not recent or offset < recent[0][0]:
            return None
        for first, position in reversed(recent):
            if first <= offset:
                return position
        return None

    def read(self, offset: int, max_bytes: int, max_position: int | None = None,
             min_one_batch: bool = True) -> FileSlice | None:
        """Bytes from the batch holding `offset`: up to `max_bytes` (a trailing batch may
        be cut, as Kafka does), at least that whole first batch when `min_one_batch`,
        never past `max_position`. None when nothing is there."""
        found = self.find_batch(offset)
        if found is None:
            return None
        position, header = found
        end = self.size if max_position is None else min(max_position, self.size)
        if position >= end:
            return None
        size = min(max_bytes, end - position)
        if min_one_batch:
            size = max(size, min(header.size, end - position))
        if size <= 0:
            return None
        return FileSlice(self.fd, position, size)

    def position_of(self, offset: int) -> int:
        """File position of the batch holding `offset` (or the next one); the size when
        no batch ends at or after it. Used to stop reads below an offset."""
        found = self.find_batch(offset)
        return self.size if found is None else found[0]

    def find_batch_by_timestamp(self, timestamp: int, start_offset: int) -> tuple[int, BatchHeader] | None:
        """The first batch whose max timestamp is >= `timestamp` and that holds offsets
        at or after `start_offset`."""
        self._ensure_indexes()
        from_offset = max(self.time_index.lookup(timestamp), start_offset)
        _, start_position = self.index.lookup(from_offset)
        for position, header in self.headers(start_position):
            if header.max_timestamp >= timestamp and header.last_offset >= start_offset:
                return position, header
        return None

    def read_batch(self, position: int, size: int) -> bytes:
        return os.pread(self.fd, size, position)

    @property
    def largest_timestamp(self) -> int:
        """What retention.ms compares with: the max timestamp, or the file's modification
        time when no batch carries one (Kafka does the same)."""
        if self.max_timestamp >= 0:
            return self.max_timestamp
        return os.fstat(self.fd).st_mtime_ns // 1_000_000

    # -- loading and recovery -------------------------------------------------------

    def load(self, needs_recovery: bool, *, allow_gaps: bool = False) -> int:
        """Bring the in-memory state up after opening an existing segment. With
        `needs_recovery`, validate every batch (see recover). Otherwise trust the file:
        read the indexes' last entries and scan only the batches after the last offset
        index entry; fall back to recovery if an index or that tail is inconsistent.
        Returns the number of bytes truncated."""
        if needs_recovery:
            return self.recover(allow_gaps=allow_gaps)
        try:
            self._load_tail()
        except IndexCorruptError as exc:
            log.warning("%s: %s; rebuilding by recovery", self.log_path, exc)
            return self.recover(allow_gaps=allow_gaps)
        return 0

    def _load_tail(self) -> None:
        index_offset, index_position = self.index.peek_last_entry(self.size)
        max_ts, max_ts_offset = self.time_index.peek_last_entry(2**63 - 1)
        self.max_timestamp, self.offset_of_max_timestamp = max_ts, max_ts_offset
        position = index_position
        for position, header in self.headers(index_position):
            if position == index_position and index_position and header.base_offset != index_offset:
                raise IndexCorruptError(f"last index entry {index_offset} points at batch {header.base_offset}")
            if header.max_timestamp > self.max_timestamp:
                self.max_timestamp, self.offset_of_max_timestamp = header.max_timestamp, header.base_offset
            self.next_offset = header.next_offset
            position += header.size
        if position != self.size:
            raise IndexCorruptError(f"torn or unreadable batch at position {position} of {self.size}")
        if self.size and self.offset_of_max_timestamp >= self.next_offset:
            raise IndexCorruptError("time index points past the end of the segment")
        self._bytes_since_index = self.size - index_position

    def _ensure_indexes(self) -> None:
        """Load the index files of a segment opened from disk; one that fails the full
        check is rebuilt from the log's batch headers (no truncation: the log itself
        passed its checks when the segment was loaded)."""
        if self._indexes_loaded:
            return
        self._indexes_loaded = True
        try:
            self.index.load(self.size)
            self.time_index.load(self.next_offset)
        except IndexCorruptError as exc:
            log.warning("%s: %s; rebuilding its indexes", self.log_path, exc)
            self._rebuild_indexes(self.headers(0))

    def _rebuild_indexes(self, batches: Iterator[tuple[int, BatchHeader]]) -> None:
        self.index.reset()
        self.time_index.reset()
        self.max_timestamp, self.offset_of_max_timestamp = -1, self.base_offset
        self._bytes_since_index = 0
        for position, header in batches:
            self._track_batch(position, header.base_offset, header.max_timestamp, header.size)

    def recover(self, *, allow_gaps: bool = False) -> int:
        """Validate every batch (framing, magic, CRC-32C, offsets) and truncate the file
        at the first one that fails: a torn write or corruption. Indexes are rebuilt from
        what remains. Returns the number of bytes truncated.

        The base offset is not covered by the CRC, so offsets are checked too: each batch
        must start exactly where the previous one ended (with `allow_gaps`, for compacted
        logs, anywhere after it) and stay within the segment's 32-bit relative range."""
        self._indexes_loaded = True
        self._rebuild_indexes(iter(()))
        self.next_offset = self.base_offset
        file_size = os.fstat(self.fd).st_size
        position = 0
        buf, buf_pos = b"", 0
        while position + LOG_OVERHEAD <= file_size:
            rel = position - buf_pos
            if rel + LOG_OVERHEAD > len(buf):
                buf, buf_pos, rel = os.pread(self.fd, min(_RECOVERY_CHUNK, file_size - position), position), position, 0
            _, length = _PREFIX.unpack_from(buf, rel)
            size = length + LOG_OVERHEAD
            if length < HEADER_SIZE - LOG_OVERHEAD or position + size > file_size:
                break
            if rel + size > len(buf):
                buf, buf_pos, rel = os.pread(self.fd, max(size, min(_RECOVERY_CHUNK, file_size - position)), position), position, 0
                if len(buf) < size:
                    break
            try:
                header = validate_batch(buf, rel, rel + size)
            except BatchError as exc:
                log.warning("%s: invalid batch at position %d: %s", self.log_path, position, exc)
                break
            if header.base_offset < self.next_offset or header.last_offset - self.base_offset > INT32_MAX or (
                header.base_offset != self.next_offset and not allow_gaps
            ):
                log.warning("%s: batch at position %d has offset %d, expected %d", self.log_path, position,
                            header.base_offset, self.next_offset)
                break
            self._track_batch(position, header.base_offset, header.max_timestamp, size)
            self.next_offset = header.next_offset
            position += size
        truncated = file_size - position
        if truncated:
            log.warning("%s: truncating %d bytes of torn or corrupt data at position %d", self.log_path, truncated, position)
            os.ftruncate(self.fd, position)
            self.dirty = True
        self.size = position
        self._recent.clear()
        self.index.flush()  # the rebuilt indexes replace the files now, not at close
        self.time_index.flush()
        return truncated

    def truncate_to(self, offset: int) -> int:
        """Drop every batch holding an offset >= `offset` (a batch straddling it goes
        whole, as in Kafka). Returns the number of bytes removed."""
        found = self.find_batch(offset)
        if found is None:
            return 0
        position = found[0]
        removed = self.size - position
        self._recent.clear()
        os.ftruncate(self.fd, position)
        self.dirty = True
        self.size = position
        self.index.truncate_to_position(position)
        self.time_index.truncate_to_offset(offset)
        self.txn_index.truncate_to(offset)
        self.max_timestamp, self.offset_of_max_timestamp = self.time_index.last_entry
        _, index_position = self.index.last_entry
        self.next_offset = self.base_offset
        for _, header in self.headers(index_position):
            if header.max_timestamp > self.max_timestamp:
                self.max_timestamp, self.offset_of_max_timestamp = header.max_timestamp, header.base_offset
            self.next_offset = header.next_offset
        self._bytes_since_index = self.size - index_position
        if self.size == 0:
            self._rolling_base_ms = None
        return removed

    # -- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        """Write the indexes out and close the file (no fsync: flush() first for that)."""
        if self.closed:
            return
        self.mark_inactive()
        self.closed = True
        os.close(self.fd)

    def rename_state(self, state: str) -> None:
        """Move the segment's files to another state suffix ("" / .deleted / .cleaned /
        .swap); the open descriptor stays valid."""
        paths = segment_paths(self.directory, self.base_offset, state)
        try:
            self.log_path.rename(paths.log)
        except FileNotFoundError:
            pass
        self.log_path = paths.log
        self.index.file.rename(paths.offset_index)
        self.time_index.file.rename(paths.time_index)
        self.txn_index.rename(paths.txn_index)
        self.state = state

    def rename_deleted(self) -> None:
        """Mark for deletion (Kafka's .deleted suffix); readers keep their slices."""
        self.mark_inactive()
        self.rename_state(DELETED_SUFFIX)

    def delete(self) -> None:
        """Remove the files and close the descriptor; safe from a thread once the segment
        is detached from its log."""
        try:
            self.log_path.unlink()
        except FileNotFoundError:
            pass
        self.index.file.delete()
        self.time_index.file.delete()
        self.txn_index.delete()
        if not self.closed:
            self.closed = True
            os.close(self.fd)

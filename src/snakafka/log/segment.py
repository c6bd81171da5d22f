"""One segment: a `.log` file of record batches plus its offset and time indexes.

Not thread-safe: the broker's event loop appends and reads; a segment is only handed to
another thread once it is detached from its log (deletion). Reads are positional
(os.pread) on one descriptor that stays open, so fetches can sendfile from it.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from snakafka.log.files import DELETED_SUFFIX, segment_paths
from snakafka.log.index import OffsetIndex, TimeIndex
from snakafka.protocol.batch import HEADER_SIZE, LOG_OVERHEAD, BatchError, BatchHeader, read_header, validate_batch

log = logging.getLogger(__name__)

_PREFIX = struct.Struct(">qi")

BatchEntry = tuple[int, int, int, int, int]  # position, base offset, last offset delta, max timestamp, size
_SCAN_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class FileSlice:
    """A byte range of a segment file: sent with sendfile, or read when bytes are needed."""

    fd: int
    position: int
    size: int

    def read_bytes(self) -> bytes:
        return os.pread(self.fd, self.size, self.position)


class LogSegment:
    def __init__(self, directory: Path, base_offset: int, index_interval_bytes: int, created_ms: int) -> None:
        self.directory = directory
        self.base_offset = base_offset
        self.index_interval_bytes = index_interval_bytes
        self.log_path, index_path, time_index_path = segment_paths(directory, base_offset)
        self.fd = os.open(self.log_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self.size = os.fstat(self.fd).st_size
        self.index = OffsetIndex(index_path, base_offset)
        self.time_index = TimeIndex(time_index_path, base_offset)
        self.next_offset = base_offset  # one past the last offset in this segment
        self.max_timestamp = -1
        self.created_ms = created_ms
        self.first_batch_timestamp: int | None = None
        self._bytes_since_index = 0
        self.closed = False

    def __repr__(self) -> str:
        return f"LogSegment({self.log_path.name}, size={self.size}, next={self.next_offset})"

    # -- writing --------------------------------------------------------------------

    def append(self, data: bytes | bytearray, entries: list[BatchEntry]) -> None:
        """Write validated batches with one write(); entries give each batch's position
        in `data`, final base offset, last offset delta, max timestamp and size."""
        start = self.size
        written = os.write(self.fd, data)
        if written != len(data):  # a short write on a regular file means a full disk
            os.ftruncate(self.fd, start)
            raise OSError(f"short write to {self.log_path}: {written} of {len(data)} bytes")
        for pos, base_offset, last_offset_delta, max_ts, size in entries:
            self._index_batch(start + pos, base_offset, last_offset_delta, max_ts, size)
        self.size += len(data)

    def _index_batch(self, position: int, base_offset: int, last_offset_delta: int, max_ts: int, size: int) -> None:
        if self.first_batch_timestamp is None:
            self.first_batch_timestamp = max_ts
        if self._bytes_since_index >= self.index_interval_bytes or not len(self.index):
            self.index.append(base_offset, position)
            self._bytes_since_index = 0
            if max_ts >= self.max_timestamp:
                self.time_index.maybe_append(max_ts, base_offset)
        self._bytes_since_index += size
        if max_ts > self.max_timestamp:
            self.max_timestamp = max_ts
        self.next_offset = base_offset + last_offset_delta + 1

    def flush(self) -> None:
        self.index.flush()
        self.time_index.flush()
        os.fsync(self.fd)

    # -- reading --------------------------------------------------------------------

    def read_header_at(self, position: int) -> BatchHeader | None:
        data = os.pread(self.fd, HEADER_SIZE, position)
        if len(data) < HEADER_SIZE:
            return None
        return read_header(data)

    def find_position(self, offset: int) -> tuple[int, BatchHeader | None]:
        """Position of the batch containing `offset` (or the first one after it), and its
        header; (size, None) when no batch at or after the offset exists."""
        _, position = self.index.lookup(offset)
        while position < self.size:
            header = self.read_header_at(position)
            if header is None:
                break
            if header.last_offset >= offset:
                return position, header
            position += header.size
        return self.size, None

    def read(self, offset: int, max_bytes: int, max_position: int, min_one_batch: bool) -> FileSlice | None:
        position, header = self.find_position(offset)
        if header is None or position >= max_position:
            return None
        size = min(max_bytes, max_position - position)
        if min_one_batch and size < header.size:
            size = min(header.size, max_position - position)
        if size <= 0:
            return None
        return FileSlice(self.fd, position, size)

    def iter_headers(self, start_position: int = 0) -> list[tuple[int, BatchHeader]]:
        headers: list[tuple[int, BatchHeader]] = []
        position = start_position
        while position < self.size:
            header = self.read_header_at(position)
            if header is None:
                break
            headers.append((position, header))
            position += header.size
        return headers

    # -- recovery -------------------------------------------------------------------

    def load(self, needs_recovery: bool, allow_gaps: bool = False) -> int:
        """Bring the segment's in-memory state up; validate batches when recovering.
        Returns the number of bytes truncated (torn or corrupt tail)."""
        if needs_recovery:
            return self.recover(allow_gaps)
        ok = self.index.load(self.size) and self.time_index.load(2**63 - 1)
        if not ok:
            log.warning("rebuilding indexes of %s", self.log_path)
            return self.recover(allow_gaps)
        last_pos = self.index.positions[-1] if len(self.index) else 0
        self.first_batch_timestamp = None
        for position, header in self.iter_headers(last_pos):
            if self.first_batch_timestamp is None:
                self.first_batch_timestamp = header.max_timestamp
            self.next_offset = header.next_offset
            self.max_timestamp = max(self.max_timestamp, header.max_timestamp)
            self._bytes_since_index = position - last_pos + header.size
        self.max_timestamp = max(self.max_timestamp, self.time_index.max_timestamp)
        if self.first_batch_timestamp is None and self.size == 0:
            self.next_offset = self.base_offset
        return 0

    def recover(self, allow_gaps: bool = False) -> int:
        """Validate every batch (framing, magic, CRC, offsets); truncate at the first bad
        one and rebuild both indexes from what remains.

        The base offset is not covered by the CRC, so offsets are checked too: they must
        continue exactly from the previous batch (compacted logs may skip offsets, but
        never go back or leave the segment's 32-bit relative range)."""
        self.index.clear()
        self.time_index.clear()
        self.next_offset = self.base_offset
        self.max_timestamp = -1
        self.first_batch_timestamp = None
        self._bytes_since_index = 0
        position = 0
        file_size = os.fstat(self.fd).st_size
        while position < file_size:
            chunk = os.pread(self.fd, min(_SCAN_CHUNK, file_size - position), position)
            if len(chunk) < LOG_OVERHEAD:
                break
            _, length = _PREFIX.unpack_from(chunk, 0)
            size = length + LOG_OVERHEAD
            if size > len(chunk):
                if length < 0 or position + size > file_size:
                    break
                chunk = os.pread(self.fd, size, position)
            try:
                header = validate_batch(chunk, 0, size)
            except BatchError:
                break
            expected = self.next_offset
            relative_end = header.last_offset - self.base_offset
            if header.base_offset < expected or relative_end > 2**31 - 1:
                break
            if header.base_offset != expected and not allow_gaps:
                break
            self._index_batch(position, header.base_offset, header.last_offset_delta, header.max_timestamp, size)
            position += size
        truncated = file_size - position
        if truncated:
            log.warning("truncating %d bytes of torn or corrupt data at position %d of %s", truncated, position, self.log_path)
            os.ftruncate(self.fd, position)
        self.size = position
        self.index.flush()
        self.time_index.flush()
        return truncated

    def truncate_to(self, offset: int) -> None:
        """Drop every batch at or past `offset` (a batch is kept whole or not at all)."""
        position, header = self.find_position(offset)
        if header is not None and header.base_offset < offset:
            position += header.size
        os.ftruncate(self.fd, position)
        self.size = position
        self.index.truncate_to_position(position)
        self.time_index.truncate_to_offset(offset)
        headers = self.iter_headers(self.index.positions[-1] if len(self.index) else 0)
        self.next_offset = headers[-1][1].next_offset if headers else self.base_offset
        self.max_timestamp = max([self.time_index.max_timestamp] + [h.max_timestamp for _, h in headers])
        self._bytes_since_index = sum(h.size for _, h in headers)

    # -- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.index.close()
        self.time_index.close()
        os.close(self.fd)

    def rename_deleted(self) -> None:
        """Mark for deletion (Kafka's .deleted suffix); the fd stays valid for readers."""
        for path in (self.log_path, self.index._file.path, self.time_index._file.path):
            try:
                path.rename(path.with_name(path.name + DELETED_SUFFIX))
            except FileNotFoundError:
                pass

    def delete(self) -> None:
        """Remove the files; safe from a thread once the segment is detached."""
        for path in (self.log_path, self.index._file.path, self.time_index._file.path):
            for candidate in (path, path.with_name(path.name + DELETED_SUFFIX)):
                try:
                    candidate.unlink()
                except FileNotFoundError:
                    pass
        self.close()

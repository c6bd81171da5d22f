"""Record batches (magic 2) read as views over bytes.

The broker never rebuilds records on the produce or fetch path: it reads the 61-byte
batch header, checks the CRC-32C, rewrites the base offset (and partition leader epoch,
neither covered by the CRC), and stores the batch verbatim. The leader's append also
scans the records in place (snakafka.protocol.validation, Kafka's LogValidator), which
may correct a CreateTime batch's max timestamp (and so its CRC). Only the log cleaner and
the coordinators decode records into objects (see snakafka.protocol.records).

Layout of the header (all big-endian):
    0 baseOffset i64 | 8 batchLength i32 | 12 partitionLeaderEpoch i32 | 16 magic i8
    17 crc u32 | 21 attributes i16 | 23 lastOffsetDelta i32 | 27 baseTimestamp i64
    35 maxTimestamp i64 | 43 producerId i64 | 51 producerEpoch i16 | 53 baseSequence i32
    57 recordsCount i32 | 61 records...
batchLength counts the bytes after the batchLength field; the CRC covers attributes to end.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import NamedTuple

from crc32c import crc32c

HEADER_SIZE = 61
LOG_OVERHEAD = 12  # baseOffset + batchLength: the bytes batchLength does not count
MAGIC_OFFSET = 16
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21
MAX_TIMESTAMP_OFFSET = 35
NO_PRODUCER_ID = -1
NO_SEQUENCE = -1
NO_TIMESTAMP = -1

COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_MASK = 0x08
TRANSACTIONAL_MASK = 0x10
CONTROL_MASK = 0x20
DELETE_HORIZON_MASK = 0x40

COMPRESSION_NONE = 0
COMPRESSION_GZIP = 1
COMPRESSION_SNAPPY = 2
COMPRESSION_LZ4 = 3
COMPRESSION_ZSTD = 4

_HEADER = struct.Struct(">qiibIhiqqqhii")
_PREFIX = struct.Struct(">qi")  # baseOffset, batchLength
_I64 = struct.Struct(">q")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_I16 = struct.Struct(">h")


class BatchError(Exception):
    """A batch that cannot be stored. `error_code` is the Kafka error to answer with;
    `record_errors` the (batch index, message) pairs of Produce v8+ (KIP-467), naming the
    offending records when the error is about some of them."""

    error_code = 87  # INVALID_RECORD
    record_errors: tuple[tuple[int, str], ...] = ()


class CorruptBatchError(BatchError):
    error_code = 2  # CORRUPT_MESSAGE


class UnsupportedMagicError(BatchError):
    """Message format v0/v1: Kafka rejects these in Produce v3+ as INVALID_RECORD."""

    error_code = 87


class BatchHeader(NamedTuple):
    """The 61-byte header, field by field. A NamedTuple, not a dataclass: headers are
    read several times per produced batch and per fetched segment walk, and building a
    tuple from struct.unpack_from is ~5x cheaper than a frozen dataclass's __init__."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def size(self) -> int:
        """Bytes the whole batch occupies, header included."""
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def is_log_append_time(self) -> bool:
        return bool(self.attributes & TIMESTAMP_TYPE_MASK)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_MASK)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_MASK)

    @property
    def has_delete_horizon(self) -> bool:
        return bool(self.attributes & DELETE_HORIZON_MASK)


_tuple_new = tuple.__new__


def read_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader:
    """Parse the header at `pos`; the caller has made sure HEADER_SIZE bytes are there."""
    return _tuple_new(BatchHeader, _HEADER.unpack_from(buf, pos))


def peek_size(buf: bytes | bytearray | memoryview, pos: int = 0) -> int | None:
    """Total size of the batch at `pos`, or None if fewer than 12 bytes are available."""
    if len(buf) - pos < LOG_OVERHEAD:
        return None
    _, length = _PREFIX.unpack_from(buf, pos)
    return length + LOG_OVERHEAD


def compute_crc(buf: bytes | bytearray | memoryview, pos: int, size: int) -> int:
    view = memoryview(buf)
    return crc32c(view[pos + ATTRIBUTES_OFFSET : pos + size])


def validate_batch(buf: bytes | bytearray | memoryview, pos: int = 0, end: int | None = None) -> BatchHeader:
    """Check one batch's framing, magic and CRC; return its header.

    Raises BatchError (INVALID_RECORD) for framing problems and old formats and
    CorruptBatchError (CORRUPT_MESSAGE) for a CRC mismatch.
    """
    end = len(buf) if end is None else end
    if end - pos < LOG_OVERHEAD + 5:
        raise BatchError("record batch shorter than its header")
    magic = buf[pos + MAGIC_OFFSET]
    if magic != 2:
        raise UnsupportedMagicError(f"record batch magic {magic} is not supported (only 2)")
    if end - pos < HEADER_SIZE:
        raise BatchError("record batch shorter than its header")
    header = read_header(buf, pos)
    if header.batch_length < HEADER_SIZE - LOG_OVERHEAD or pos + header.size > end:
        raise BatchError(f"record batch length {header.batch_length} does not fit the data")
    if header.last_offset_delta < 0 or header.records_count < 0:
        raise BatchError("record batch has a negative record count or offset delta")
    if compute_crc(buf, pos, header.size) != header.crc:
        raise CorruptBatchError("record batch CRC-32C mismatch")
    return header


def iter_batches(
    buf: bytes | bytearray | memoryview, pos: int = 0, end: int | None = None
) -> Iterator[tuple[int, BatchHeader]]:
    """Yield (position, header) for each complete batch in buf[pos:end], without CRC checks.

    Stops quietly at a trailing partial batch: fetch responses may end with one.
    """
    end = len(buf) if end is None else end
    while end - pos >= HEADER_SIZE:
        header = read_header(buf, pos)
        if header.batch_length < HEADER_SIZE - LOG_OVERHEAD or pos + header.size > end:
            return
        yield pos, header
        pos += header.size


def whole_batches_size(buf: bytes | bytearray | memoryview) -> int:
    """How many leading bytes of `buf` are complete batches: a fetch response may end
    with part of a batch (the leader cuts at the byte limit), which its reader drops."""
    size = 0
    for pos, header in iter_batches(buf):
        size = pos + header.size
    return size


def set_base_offset(buf: bytearray | memoryview, pos: int, base_offset: int) -> None:
    """Assign the batch's offsets: only the header's baseOffset changes (not CRC-covered)."""
    _I64.pack_into(buf, pos, base_offset)


def set_partition_leader_epoch(buf: bytearray | memoryview, pos: int, epoch: int) -> None:
    _I32.pack_into(buf, pos + 12, epoch)


def set_create_time_max_timestamp(buf: bytearray | memoryview, pos: int, size: int, max_timestamp: int) -> None:
    """Correct a CreateTime batch's maxTimestamp to its records' largest timestamp (and
    clear a producer's LogAppendTime bit), as Kafka's LogValidator does; CRC recomputed."""
    attributes = _I16.unpack_from(buf, pos + ATTRIBUTES_OFFSET)[0] & ~TIMESTAMP_TYPE_MASK
    _I16.pack_into(buf, pos + ATTRIBUTES_OFFSET, attributes)
    _I64.pack_into(buf, pos + MAX_TIMESTAMP_OFFSET, max_timestamp)
    _U32.pack_into(buf, pos + CRC_OFFSET, compute_crc(buf, pos, size))


def set_log_append_time(buf: bytearray | memoryview, pos: int, size: int, timestamp_ms: int) -> None:
    """Stamp a batch for message.timestamp.type=LogAppendTime: maxTimestamp and the
    timestamp-type bit change, so the CRC is recomputed."""
    attributes = _I16.unpack_from(buf, pos + ATTRIBUTES_OFFSET)[0] | TIMESTAMP_TYPE_MASK
    _I16.pack_into(buf, pos + ATTRIBUTES_OFFSET, attributes)
    _I64.pack_into(buf, pos + MAX_TIMESTAMP_OFFSET, timestamp_ms)
    _U32.pack_into(buf, pos + CRC_OFFSET, compute_crc(buf, pos, size))

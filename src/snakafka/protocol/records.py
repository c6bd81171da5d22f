"""The records inside a record batch (magic 2): build batches and read them back.

The produce and fetch paths never come here (batch.py's header view, and on produce the
in-place record scan of validation.py, are enough for them). The log cleaner, the coordinators (__consumer_offsets, transaction markers) and
tests do: they need real records, so this module encodes and decodes the records
section, compressing it with the batch's codec (compression.py).

Record layout (varint = zigzag LEB128, as in protobuf's sint32/sint64):
    length varint | attributes i8 (unused, 0) | timestampDelta varlong | offsetDelta varint
    keyLength varint (-1 = null) | key | valueLength varint (-1 = null) | value
    headerCount varint | per header: keyLength varint, key (UTF-8), valueLength varint, value
The batch header (batch.py) carries baseOffset, baseTimestamp, maxTimestamp, producer
fields, the attributes (codec, timestamp type, transactional, control) and the CRC-32C.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from crc32c import crc32c

from snakafka.protocol.batch import (
    ATTRIBUTES_OFFSET,
    COMPRESSION_MASK,
    CONTROL_MASK,
    CRC_OFFSET,
    HEADER_SIZE,
    LOG_OVERHEAD,
    NO_TIMESTAMP,
    TIMESTAMP_TYPE_MASK,
    TRANSACTIONAL_MASK,
    BatchHeader,
    CorruptBatchError,
    iter_batches,
    read_header,
    validate_batch,
)
from snakafka.protocol.compression import (
    CODEC_NAMES,
    CompressionError,
    compress,
    decompress,
)

Buffer = bytes | bytearray | memoryview
Headers = tuple[tuple[str, bytes | None], ...]

_HEADER = struct.Struct(">qiibIhiqqqhii")
_CONTROL_KEY = struct.Struct(">hh")
_CONTROL_VALUE = struct.Struct(">hi")
CONTROL_TYPE_ABORT = 0
CONTROL_TYPE_COMMIT = 1


@dataclass(frozen=True, slots=True)
class Record:
    """One decoded record with its absolute offset and timestamp."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record to encode. `timestamp` None takes the batch's base timestamp.

    `offset_delta` None means the record's index in the batch; the log cleaner sets it to
    keep a retained record's original offset when others around it were removed.
    """

    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp: int | None = None
    offset_delta: int | None = None


# -- varints ---------------------------------------------------------------------------

# One-byte encodings cover zigzag values 0..127, i.e. -64..63: lengths of short keys and
# values, deltas, -1 for null. A table avoids the general loop for them.
_SMALL_VARINTS = {n: bytes([((n << 1) ^ (n >> 63)) & 0xFF]) for n in range(-64, 64)}


def write_varint(n: int) -> bytes:
    """Zigzag varint/varlong of a signed 64-bit int."""
    small = _SMALL_VARINTS.get(n)
    if small is not None:
        return small
    z = ((n << 1) ^ (n >> 63)) & 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def read_varint(buf: Buffer, pos: int) -> tuple[int, int]:
    """Read a zigzag varint at pos; return (value, position after it)."""
    try:
        b = buf[pos]
        if b < 0x80:
            return (b >> 1) ^ -(b & 1), pos + 1
        z = b & 0x7F
        shift = 7
        pos += 1
        while True:
            b = buf[pos]
            pos += 1
            z |= (b & 0x7F) << shift
            if b < 0x80:
                break
            shift += 7
            if shift > 63:
                raise CorruptBatchError("varint longer than 10 bytes")
    except IndexError:
        raise CorruptBatchError("record data ends inside a varint") from None
    return (z >> 1) ^ -(z & 1), pos


# -- encoding --------------------------------------------------------------------------


def _write_bytes(parts: list[bytes], data: bytes | None) -> None:
    if data is None:
        parts.append(_SMALL_VARINTS[-1])
    else:
        parts.append(write_varint(len(data)))
        parts.append(data)


def _encode_record(offset_delta: int, timestamp_delta: int, record: NewRecord) -> bytes:
    parts = [b"\x00", write_varint(timestamp_delta), write_varint(offset_delta)]
    _write_bytes(parts, record.key)
    _write_bytes(parts, record.value)
    parts.append(write_varint(len(record.headers)))
    for name, value in record.headers:
        _write_bytes(parts, name.encode())
        _write_bytes(parts, value)
    body = b"".join(parts)
    return write_varint(len(body)) + body


def encode_batch(
    records: Sequence[NewRecord],
    *,
    base_offset: int = 0,
    compression: int = 0,
    base_timestamp: int | None = None,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    transactional: bool = False,
    control: bool = False,
    partition_leader_epoch: int = -1,
    log_append_time: bool = False,
    last_offset_delta: int | None = None,
) -> bytes:
    """Build one complete batch (header, CRC-32C and all) holding `records`.

    base_timestamp defaults to the first record timestamp given (else -1, no timestamp);
    maxTimestamp is the largest record timestamp, or base_timestamp for log-append time
    (the broker's stamp then stands for every record). last_offset_delta defaults to the
    largest offset delta; the cleaner passes the original one to keep an emptied batch's
    offsets (and then `records` may be empty).
    """
    if compression not in CODEC_NAMES:
        raise ValueError(f"unknown compression codec {compression}")
    if base_timestamp is None:
        base_timestamp = next((r.timestamp for r in records if r.timestamp is not None), NO_TIMESTAMP)
    body: list[bytes] = []
    max_timestamp = NO_TIMESTAMP
    max_delta = -1
    for index, record in enumerate(records):
        delta = index if record.offset_delta is None else record.offset_delta
        if delta <= max_delta:
            raise ValueError("record offset deltas must increase")
        max_delta = delta
        timestamp = base_timestamp if record.timestamp is None else record.timestamp
        max_timestamp = max(max_timestamp, timestamp)
        body.append(_encode_record(delta, timestamp - base_timestamp, record))
    if last_offset_delta is None:
        if not records:
            raise ValueError("an empty batch needs an explicit last_offset_delta")
        last_offset_delta = max_delta
    elif last_offset_delta < max_delta:
        raise ValueError(f"last_offset_delta {last_offset_delta} is below a record's delta {max_delta}")
    if log_append_time:
        max_timestamp = base_timestamp
    payload = b"".join(body)
    if compression:
        payload = compress(compression, payload)
    attributes = compression & COMPRESSION_MASK
    if log_append_time:
        attributes |= TIMESTAMP_TYPE_MASK
    if transactional:
        attributes |= TRANSACTIONAL_MASK
    if control:
        attributes |= CONTROL_MASK
    batch_length = HEADER_SIZE - LOG_OVERHEAD + len(payload)
    header = bytearray(
        _HEADER.pack(
            base_offset, batch_length, partition_leader_epoch, 2, 0, attributes, last_offset_delta,
            base_timestamp, max_timestamp, producer_id, producer_epoch, base_sequence, len(records),
        )
    )
    crc = crc32c(payload, crc32c(memoryview(header)[ATTRIBUTES_OFFSET:]))
    struct.pack_into(">I", header, CRC_OFFSET, crc)
    return bytes(header) + payload


# -- decoding --------------------------------------------------------------------------


def _read_bytes(buf: Buffer, pos: int, end: int) -> tuple[bytes | None, int]:
    length, pos = read_varint(buf, pos)
    if length < 0:
        return None, pos
    if pos + length > end:
        raise CorruptBatchError("record field overruns its record")
    return bytes(buf[pos : pos + length]), pos + length


def _decode_records(data: Buffer, header: BatchHeader) -> list[Record]:
    records: list[Record] = []
    pos = 0
    total = len(data)
    log_append_time = header.is_log_append_time
    for _ in range(header.records_count):
        length, pos = read_varint(data, pos)
        end = pos + length
        if length < 0 or end > total:
            raise CorruptBatchError("record length overruns the batch")
        pos += 1  # attributes: unused in magic 2
        timestamp_delta, pos = read_varint(data, pos)
        offset_delta, pos = read_varint(data, pos)
        key, pos = _read_bytes(data, pos, end)
        value, pos = _read_bytes(data, pos, end)
        count, pos = read_varint(data, pos)
        headers: list[tuple[str, bytes | None]] = []
        for _ in range(count):
            name, pos = _read_bytes(data, pos, end)
            if name is None:
                raise CorruptBatchError("record header with a null key")
            header_value, pos = _read_bytes(data, pos, end)
            try:
                headers.append((name.decode(), header_value))
            except UnicodeDecodeError:
                raise CorruptBatchError("record header key is not UTF-8") from None
        if pos != end:
            raise CorruptBatchError(f"record declares {length} bytes but its fields take {length + pos - end}")
        timestamp = header.max_timestamp if log_append_time else header.base_timestamp + timestamp_delta
        records.append(Record(header.base_offset + offset_delta, timestamp, key, value, tuple(headers)))
    if pos != total:
        raise CorruptBatchError(f"{total - pos} bytes after the batch's {header.records_count} records")
    return records


def decode_batch(buf: Buffer, pos: int = 0, *, verify_crc: bool = True) -> tuple[BatchHeader, list[Record]]:
    """Decode the batch at `pos`, decompressing its records as needed.

    Raises BatchError (framing, old magic) or CorruptBatchError (CRC, malformed records,
    undecompressable data), the errors Kafka answers with for such batches.
    """
    if verify_crc:
        header = validate_batch(buf, pos)
    else:
        header = read_header(buf, pos)
    view = memoryview(buf)[pos + HEADER_SIZE : pos + header.size]
    if header.compression:
        try:
            data: Buffer = decompress(header.compression, view)
        except CompressionError as exc:
            raise CorruptBatchError(str(exc)) from exc
    else:
        data = view
    return header, _decode_records(data, header)


def decode_records(buf: Buffer, *, verify_crc: bool = True) -> Iterator[tuple[BatchHeader, list[Record]]]:
    """Decode every complete batch in buf, in order; a trailing partial batch is ignored
    (log reads and fetch responses may end inside one)."""
    for pos, _ in iter_batches(buf):
        yield decode_batch(buf, pos, verify_crc=verify_crc)


# -- control records (transaction markers) ---------------------------------------------


def encode_control_batch(
    commit: bool,
    *,
    producer_id: int,
    producer_epoch: int,
    coordinator_epoch: int,
    base_offset: int = 0,
    timestamp: int,
    partition_leader_epoch: int = -1,
) -> bytes:
    """A transaction marker as Kafka writes it: one control record in a transactional,
    control batch. Key: version i16 0, type i16 (0 abort, 1 commit); value: version i16 0,
    coordinator epoch i32."""
    marker = NewRecord(
        key=_CONTROL_KEY.pack(0, CONTROL_TYPE_COMMIT if commit else CONTROL_TYPE_ABORT),
        value=_CONTROL_VALUE.pack(0, coordinator_epoch),
        timestamp=timestamp,
    )
    return encode_batch(
        [marker], base_offset=base_offset, producer_id=producer_id, producer_epoch=producer_epoch,
        transactional=True, control=True, partition_leader_epoch=partition_leader_epoch,
    )


def parse_control_record(record: Record) -> tuple[bool, int]:
    """(is_commit, coordinator_epoch) of a transaction marker record.

    Raises ValueError for other control types (KRaft's leader-change and snapshot
    records) or malformed markers. Later value versions append fields, so only the
    leading version and epoch are read, as Kafka's EndTransactionMarker does."""
    if record.key is None or len(record.key) < _CONTROL_KEY.size:
        raise ValueError("control record key is missing or short")
    _version, kind = _CONTROL_KEY.unpack_from(record.key)
    if kind not in (CONTROL_TYPE_ABORT, CONTROL_TYPE_COMMIT):
        raise ValueError(f"control record type {kind} is not a transaction marker")
    if record.value is None or len(record.value) < _CONTROL_VALUE.size:
        raise ValueError("transaction marker value is missing or short")
    _version, coordinator_epoch = _CONTROL_VALUE.unpack_from(record.value)
    return kind == CONTROL_TYPE_COMMIT, coordinator_epoch

"""Timestamp lookups over a log's segments: ListOffsets by timestamp and MAX_TIMESTAMP.

The time index narrows the search to one batch (the first whose max timestamp reaches
the target); the answer is then made exact by reading that one batch's records: each
record's timestamp and offset delta sit at its start, so an uncompressed batch is walked
without decoding keys or values, and a compressed one is decompressed first when the
codec module is available. LogAppendTime batches need no walk: every record carries the
batch's timestamp. If a batch cannot be read record by record (an unknown codec, a
malformed record), the answer falls back to the batch: its base offset and max timestamp,
where a consumer can resume without missing a record.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from snakafka.log.segment import LogSegment
from snakafka.protocol.batch import COMPRESSION_NONE, HEADER_SIZE, BatchHeader

log = logging.getLogger(__name__)


def offset_for_timestamp(segments: Sequence[LogSegment], log_start_offset: int,
                         timestamp: int) -> tuple[int, int] | None:
    """(offset, timestamp) of the first record at or after the log start offset whose
    timestamp is >= `timestamp`; None if there is none."""
    for segment in segments:
        if segment.size == 0 or segment.next_offset <= log_start_offset or segment.max_timestamp < timestamp:
            continue
        found = segment.find_batch_by_timestamp(timestamp, log_start_offset)
        if found is None:
            continue
        position, header = found
        if header.is_log_append_time:
            return max(header.base_offset, log_start_offset), header.max_timestamp
        data = segment.read_batch(position, header.size)
        for offset, ts in _record_times(data, header):
            if ts >= timestamp and offset >= log_start_offset:
                return offset, ts
        return max(header.base_offset, log_start_offset), header.max_timestamp
    return None


def max_timestamp_and_offset(segments: Sequence[LogSegment], log_start_offset: int) -> tuple[int, int] | None:
    """(offset, timestamp) of the first record carrying the log's largest timestamp
    (ListOffsets MAX_TIMESTAMP); None for an empty log. Segments track their max and the
    batch holding it, so only that one batch is read."""
    best: LogSegment | None = None
    for segment in segments:
        if segment.size and segment.next_offset > log_start_offset and (
            best is None or segment.max_timestamp > best.max_timestamp
        ):
            best = segment
    if best is None:
        return None
    found = best.find_batch(max(best.offset_of_max_timestamp, log_start_offset))
    if found is None:
        return None
    position, header = found
    if header.max_timestamp != best.max_timestamp:  # below the log start offset: scan on
        result = offset_for_timestamp([best], log_start_offset, best.max_timestamp)
        return result
    if not header.is_log_append_time:
        data = best.read_batch(position, header.size)
        for offset, ts in _record_times(data, header):
            if ts == header.max_timestamp and offset >= log_start_offset:
                return offset, ts
    return max(header.base_offset, log_start_offset), header.max_timestamp


def _record_times(batch: bytes, header: BatchHeader) -> list[tuple[int, int]]:
    """(offset, timestamp) of each record in a batch; [] if the records cannot be read."""
    records = memoryview(batch)[HEADER_SIZE:]
    if header.compression != COMPRESSION_NONE:
        try:
            from snakafka.protocol.compression import CompressionError, decompress
        except ImportError:
            return []
        try:
            records = memoryview(decompress(header.compression, records))
        except (CompressionError, ValueError) as exc:
            log.debug("cannot decompress batch at offset %d: %s", header.base_offset, exc)
            return []
    out: list[tuple[int, int]] = []
    pos = 0
    try:
        for _ in range(header.records_count):
            length, pos = _varint(records, pos)
            start = pos
            pos += 1  # attributes
            ts_delta, pos = _varint(records, pos)
            offset_delta, pos = _varint(records, pos)
            out.append((header.base_offset + offset_delta, header.base_timestamp + ts_delta))
            pos = start + length
    except IndexError:
        return []
    return out


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """A zigzag varint (Kafka's record fields) at `pos`: (value, next position)."""
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
        if shift > 63:
            raise IndexError("varint too long")

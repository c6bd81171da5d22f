"""Timestamp lookups over a log's segments: ListOffsets by timestamp and MAX_TIMESTAMP.

The time index narrows the search to one batch (the first whose max timestamp reaches
the target); the answer is then made exact by decoding that one batch's records
(decompressing them if needed), as Kafka does. LogAppendTime batches need no decoding:
every record carries the batch's timestamp. If a batch cannot be decoded (a malformed
record), the answer falls back to the batch: its base offset and max timestamp, where a
consumer can resume without missing a record. Only ListOffsets pays for this; the
produce and fetch paths never decode records.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from snakafka.log.segment import LogSegment
from snakafka.protocol.batch import BatchError
from snakafka.protocol.records import decode_batch

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
        for offset, ts in _record_times(data):
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
        return offset_for_timestamp([best], log_start_offset, best.max_timestamp)
    if not header.is_log_append_time:
        data = best.read_batch(position, header.size)
        for offset, ts in _record_times(data):
            if ts == header.max_timestamp and offset >= log_start_offset:
                return offset, ts
    return max(header.base_offset, log_start_offset), header.max_timestamp


def _record_times(batch: bytes) -> list[tuple[int, int]]:
    """(offset, timestamp) of each record in one batch; [] if it cannot be decoded."""
    try:
        _, records = decode_batch(batch, verify_crc=False)
    except BatchError as exc:
        log.debug("cannot decode a batch for a timestamp lookup: %s", exc)
        return []
    return [(record.offset, record.timestamp) for record in records]

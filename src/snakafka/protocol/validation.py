"""Record-level validation of produced batches (magic 2), as Kafka's LogValidator does it.

batch.validate_batch checks a batch's header and CRC-32C; this module checks what is
inside, without rebuilding anything (records still pass through as bytes):

* the header's record count against the offset range, and the records themselves
  against the count: every record's length, varints, offset delta (0, 1, 2... in
  order), key, value and headers inside the batch, nothing left over (INVALID_RECORD);
* timestamps, for message.timestamp.type=CreateTime: within [now - before, now + after]
  (message.timestamp.before.max.ms / after.max.ms, KIP-937), records without a timestamp
  (-1) exempt; a producer may not set the LogAppendTime bit (INVALID_TIMESTAMP);
* keys, for compacted topics (INVALID_RECORD);
* the batch's true max timestamp, which the caller writes into the header when the
  producer's disagrees (batch.set_create_time_max_timestamp), so that the time index and
  ListOffsets by timestamp see the records' real times.

Compressed batches are decompressed (every codec, compression.py) and scanned the same
way; data that does not decompress is CORRUPT_MESSAGE. The scan over every record is
record_scan.scan_records (a C extension, with a pure-Python twin); the per-record error
list (Produce v8+ record_errors) is built by a slower second pass only for a batch that
is refused, or whose timestamps come near the bounds.

Kafka answers a malformed record with INVALID_RECORD and no record_errors; snakafka names
the record (batch index and message) in record_errors as well. Kafka renumbers a
compressed batch whose offset deltas are not 0..n-1 (and keeps an uncompressed one as
sent); snakafka stores batches as sent, so it refuses both with INVALID_RECORD.
"""

from __future__ import annotations

from dataclasses import dataclass

from snakafka.protocol.batch import (
    COMPRESSION_MASK,
    HEADER_SIZE,
    LOG_OVERHEAD,
    NO_TIMESTAMP,
    TIMESTAMP_TYPE_MASK,
    BatchError,
    BatchHeader,
    CorruptBatchError,
)
from snakafka.protocol.compression import CompressionError, decompress
from snakafka.protocol.record_scan import record_details, scan_records

Buffer = bytes | bytearray | memoryview

LONG_MAX = INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
INVALID_RECORD = 87
INVALID_TIMESTAMP = 32


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """The topic settings validation depends on. `before_max_ms` / `after_max_ms` are the
    effective bounds (LogConfig resolves the KIP-937 keys against the older
    message.timestamp.difference.max.ms); LONG_MAX means no bound, as in Kafka."""

    log_append_time: bool = False
    before_max_ms: int = LONG_MAX
    after_max_ms: int = LONG_MAX
    compacted: bool = False
    partition: str = ""  # "topic-partition", for messages

    @property
    def checks_time(self) -> bool:
        """Whether record timestamps are bounded at all (CreateTime and a bound set)."""
        return not self.log_append_time and (self.before_max_ms < LONG_MAX or self.after_max_ms < LONG_MAX)

    def bounded(self, lo: int, hi: int, now_ms: int) -> bool:
        """Whether timestamps from lo to hi may leave [now - before, now + after] (a
        record without a timestamp among them may make this a false alarm)."""
        return (self.before_max_ms < LONG_MAX and lo < now_ms - self.before_max_ms) or (
            self.after_max_ms < LONG_MAX and hi > now_ms + self.after_max_ms)


class InvalidRecordError(BatchError):
    """INVALID_RECORD, with the offending records when there are some."""

    error_code = INVALID_RECORD

    def __init__(self, message: str, record_errors: tuple[tuple[int, str], ...] = ()) -> None:
        super().__init__(message)
        self.record_errors = record_errors


class InvalidTimestampError(InvalidRecordError):
    """INVALID_TIMESTAMP: a record's timestamp out of bounds, or a LogAppendTime batch."""

    error_code = INVALID_TIMESTAMP


def check_client_header(header: BatchHeader, partition: str) -> None:
    """The count checks of Kafka's LogValidator.validateBatch for a client's batch. (Its
    sequence check, a producer id with no sequence, is not made: the coordinators write
    such batches through the same leader append path.)"""
    count = header.records_count
    if count <= 0:
        raise InvalidRecordError(f"Invalid reported count for record batch: {count} in topic partition {partition}")
    if count != header.last_offset_delta + 1:
        raise InvalidRecordError(f"Inconsistent batch offset range [0, {header.last_offset_delta}] and count of records "
                                 f"{count} in topic partition {partition}")


def records_section(buf: Buffer, pos: int, header: BatchHeader, partition: str = "") -> Buffer:
    """The batch's records, decompressed if need be (CORRUPT_MESSAGE if they do not)."""
    view = memoryview(buf)[pos + HEADER_SIZE : pos + header.size]
    if not header.compression:
        return view
    try:
        return decompress(header.compression, view)
    except CompressionError as exc:
        raise CorruptBatchError(f"{exc} in topic partition {partition}") from exc


def validate_records(buf: Buffer, pos: int, header: BatchHeader, policy: ValidationPolicy, now_ms: int) -> int:
    """Check every record of the (header- and CRC-checked) batch at `pos`; return the max
    timestamp its header must carry under CreateTime (NO_TIMESTAMP for no records).

    Raises InvalidRecordError (INVALID_RECORD), InvalidTimestampError (INVALID_TIMESTAMP)
    or CorruptBatchError (CORRUPT_MESSAGE, undecompressable data). Runs once per produced
    batch: the common case (a sound batch, no bounds configured) is kept to a few lines."""
    attributes = header.attributes
    if attributes & COMPRESSION_MASK:
        data = records_section(buf, pos, header, policy.partition)
    else:
        data = memoryview(buf)[pos + HEADER_SIZE : pos + header.batch_length + LOG_OVERHEAD]
    min_delta, max_delta, first_keyless, error_index, error = scan_records(data, header.records_count)
    if error is not None:
        raise InvalidRecordError(f"{error} in topic partition {policy.partition}", ((error_index, error),))
    if attributes & TIMESTAMP_TYPE_MASK:  # a producer's LogAppendTime batch: every record carries its timestamp
        lo = hi = header.max_timestamp
        suspect = policy.log_append_time or hi == NO_TIMESTAMP or policy.bounded(lo, hi, now_ms)
    elif max_delta is None or min_delta is None:
        return NO_TIMESTAMP
    else:
        base = header.base_timestamp
        lo, hi = base + min_delta, base + max_delta
        if lo < INT64_MIN or hi > INT64_MAX:
            lo, hi = _wrap64(lo), _wrap64(hi)
        suspect = policy.checks_time and policy.bounded(lo, hi, now_ms)
    if suspect or (policy.compacted and first_keyless >= 0):
        _raise_record_errors(data, header, policy, now_ms)  # exact per-record pass: refuses, listing them, or clears
    return max(NO_TIMESTAMP, hi)


def _raise_record_errors(data: Buffer, header: BatchHeader, policy: ValidationPolicy, now_ms: int) -> None:
    """Kafka's validateRecord over each record (key first, then timestamp); raises the
    batch's error if any record fails (Kafka's processRecordErrors)."""
    errors: list[tuple[int, int, str]] = []
    low, high = now_ms - policy.before_max_ms, now_ms + policy.after_max_ms
    lat_batch = header.is_log_append_time
    for index, (delta, has_key) in enumerate(record_details(data, header.records_count)):
        timestamp = header.max_timestamp if lat_batch else _wrap64(header.base_timestamp + delta)
        if policy.compacted and not has_key:
            message = f"Compacted topic cannot accept message without key in topic partition {policy.partition}."
            errors.append((INVALID_RECORD, index, message))
        elif not policy.log_append_time and timestamp != NO_TIMESTAMP:
            if (policy.before_max_ms < LONG_MAX and timestamp < low) or (
                    policy.after_max_ms < LONG_MAX and timestamp > high):
                message = (f"Timestamp {timestamp} of message with offset {index} is out of range. The timestamp "
                           f"should be within [{low}, {high}]")
                errors.append((INVALID_TIMESTAMP, index, message))
        elif lat_batch:
            message = (f"Invalid timestamp type in message with offset {index}. Producer should not set timestamp "
                       "type to LogAppendTime.")
            errors.append((INVALID_TIMESTAMP, index, message))
    if not errors:
        return
    record_errors = tuple((index, message) for _, index, message in errors)
    if any(code == INVALID_TIMESTAMP for code, _, _ in errors):
        raise InvalidTimestampError("One or more records have been rejected due to invalid timestamp", record_errors)
    shown = ", ".join(f"RecordError(batchIndex={i}, message='{m}')" for i, m in record_errors[:3])
    raise InvalidRecordError(f"One or more records have been rejected due to {len(record_errors)} record errors in "
                             f"total, and only showing the first three errors at most: [{shown}]", record_errors)


def _wrap64(value: int) -> int:
    """Java's long arithmetic: base timestamp + delta wraps around instead of growing."""
    return ((value + 2**63) % 2**64) - 2**63

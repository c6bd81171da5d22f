"""Record-level produce validation (Kafka's LogValidator) on hand-built batches, for no
compression and every codec: the max timestamp corrected, timestamps bounded, malformed
records refused with Kafka's codes and the offending records named."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.batches import hand_batch, make_batch, raw_record

from snakafka.log.log_config import LONG_MAX, LogConfig
from snakafka.protocol.batch import (
    HEADER_SIZE,
    BatchError,
    CorruptBatchError,
    read_header,
    set_create_time_max_timestamp,
    validate_batch,
)
from snakafka.protocol.validation import (
    INVALID_RECORD,
    INVALID_TIMESTAMP,
    InvalidRecordError,
    InvalidTimestampError,
    ValidationPolicy,
    check_client_header,
    validate_records,
)

CODECS = [0, 1, 2, 3, 4]  # none, gzip, snappy, lz4, zstd
NOW = 1_700_000_000_000
CREATE = ValidationPolicy(partition="t-0")


def section(deltas: list[int], keys: list[bytes | None] | None = None) -> bytes:
    keys = keys if keys is not None else [b"k"] * len(deltas)
    return b"".join(raw_record(i, d, key=k) for i, (d, k) in enumerate(zip(deltas, keys, strict=True)))


def check(batch: bytes, policy: ValidationPolicy = CREATE, now: int = NOW) -> int:
    header = validate_batch(batch)
    check_client_header(header, policy.partition)
    return validate_records(batch, 0, header, policy, now)


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("claimed", [-1, 0, 1_005, 99_999])
def test_max_timestamp_is_recomputed_and_the_header_rewritten(codec: int, claimed: int) -> None:
    batch = bytearray(hand_batch(section([0, 30, 10]), count=3, codec=codec, base_timestamp=1_000, max_timestamp=claimed))
    true_max = check(bytes(batch))
    assert true_max == 1_030
    set_create_time_max_timestamp(batch, 0, len(batch), true_max)
    header = validate_batch(batch)  # the CRC was recomputed
    assert header.max_timestamp == 1_030 and header.compression == codec and not header.is_log_append_time
    assert batch[HEADER_SIZE:] == hand_batch(section([0, 30, 10]), count=3, codec=codec)[HEADER_SIZE:]


@pytest.mark.parametrize("codec", CODECS)
def test_a_producer_log_append_time_batch_on_a_create_time_topic(codec: int) -> None:
    """Kafka takes the header's timestamp for every record (it is not -1 here) and
    stores the batch as CreateTime; with -1 it refuses: INVALID_TIMESTAMP."""
    batch = hand_batch(section([0, 5]), count=2, codec=codec, max_timestamp=2_000, log_append_time=True)
    assert check(batch) == 2_000
    no_time = hand_batch(section([0, 5]), count=2, codec=codec, max_timestamp=-1, log_append_time=True)
    with pytest.raises(InvalidTimestampError) as refused:
        check(no_time)
    assert refused.value.error_code == INVALID_TIMESTAMP
    assert [i for i, _ in refused.value.record_errors] == [0, 1]
    assert "Producer should not set timestamp type to LogAppendTime" in refused.value.record_errors[0][1]
    # on a LogAppendTime topic a producer may not set the bit either
    with pytest.raises(InvalidTimestampError):
        check(batch, ValidationPolicy(log_append_time=True))


@pytest.mark.parametrize("codec", [0, 4])
@settings(max_examples=40, deadline=None)
@given(offsets=st.lists(st.integers(-10_000, 10_000), min_size=1, max_size=12),
       before=st.one_of(st.just(LONG_MAX), st.integers(0, 8_000)),
       after=st.one_of(st.just(LONG_MAX), st.integers(0, 8_000)),
       no_time=st.booleans())
def test_timestamps_outside_the_bounds_are_refused_and_listed(codec: int, offsets: list[int], before: int, after: int,
                                                               no_time: bool) -> None:
    """Record timestamps NOW + offset; a record without a timestamp (-1) is never out of
    bounds. Refused exactly when some record is outside [now - before, now + after]."""
    base = NOW + offsets[0]
    deltas = [o - offsets[0] for o in offsets]
    if no_time:  # the first record carries no timestamp: base -1, delta 0
        base, deltas = -1, [0] + [NOW + o + 1 for o in offsets[1:]]
    stamps = [base + d for d in deltas]
    batch = hand_batch(section(deltas), count=len(deltas), codec=codec, base_timestamp=base, max_timestamp=-1)
    policy = ValidationPolicy(before_max_ms=before, after_max_ms=after, partition="t-0")
    bad = [i for i, ts in enumerate(stamps) if ts != -1 and (
        (before < LONG_MAX and ts < NOW - before) or (after < LONG_MAX and ts > NOW + after))]
    if not bad:
        assert check(batch, policy) == max(stamps)
        return
    with pytest.raises(InvalidTimestampError) as refused:
        check(batch, policy)
    assert refused.value.error_code == INVALID_TIMESTAMP
    assert [i for i, _ in refused.value.record_errors] == bad
    assert "is out of range. The timestamp should be within" in refused.value.record_errors[0][1]
    assert str(refused.value) == "One or more records have been rejected due to invalid timestamp"


def test_timestamp_bounds_are_ignored_for_log_append_time_topics() -> None:
    batch = hand_batch(section([0]), count=1, base_timestamp=1, max_timestamp=1)
    check(batch, ValidationPolicy(log_append_time=True, before_max_ms=0, after_max_ms=0))


def test_kip_937_bounds_fall_back_to_difference_max_ms() -> None:
    """Kafka's LogConfig: before/after.max.ms win unless left at their default (LONG_MAX),
    then the deprecated difference.max.ms decides."""
    assert (LogConfig().timestamp_before_max_ms, LogConfig().timestamp_after_max_ms) == (LONG_MAX, LONG_MAX)
    old = LogConfig(message_timestamp_difference_max_ms=5_000)
    assert (old.timestamp_before_max_ms, old.timestamp_after_max_ms) == (5_000, 5_000)
    both = LogConfig(message_timestamp_difference_max_ms=5_000, message_timestamp_before_max_ms=100)
    assert (both.timestamp_before_max_ms, both.timestamp_after_max_ms) == (100, 5_000)
    new = LogConfig(message_timestamp_after_max_ms=7)
    assert (new.timestamp_before_max_ms, new.timestamp_after_max_ms) == (LONG_MAX, 7)


MALFORMED = [
    # (name, records section, header count, message)
    ("count above the records", section([0, 1]), 3, "Incorrect declared batch size, premature EOF reached"),
    ("count below the records", section([0, 1, 2]), 2, "Incorrect declared batch size, records still remaining"),
    ("offset deltas with a gap", raw_record(0) + raw_record(2) + raw_record(3), 3, "Record 1 has offset delta 2"),
    ("repeated offset delta", raw_record(0) + raw_record(0), 2, "Record 1 has offset delta 0"),
    ("truncated record", section([0, 1])[:-3], 2, "Invalid record size: expected"),
    ("overlong record", raw_record(0, length_adjust=3) + b"abc", 1, "Invalid record size: expected to read"),
    ("bad varint", raw_record(0) + b"\x18\x00" + b"\xff" * 11, 2, "Found invalid record structure: a varlong is longer"),
    ("bad length varint", b"\xff" * 6, 1, "Found invalid record structure: a varint is longer"),
]


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(("name", "data", "count", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_records_are_invalid_record(codec: int, name: str, data: bytes, count: int, message: str) -> None:
    batch = hand_batch(data, count=count, codec=codec)
    with pytest.raises(InvalidRecordError) as refused:
        check(batch)
    assert refused.value.error_code == INVALID_RECORD, name
    assert str(refused.value).startswith(message) and str(refused.value).endswith("in topic partition t-0")
    [(index, text)] = refused.value.record_errors
    assert text.startswith(message) and 0 <= index < max(count, 1)


@pytest.mark.parametrize(("count", "last_offset_delta", "message"), [
    (0, 0, "Invalid reported count for record batch: 0"),
    (2, 2, "Inconsistent batch offset range [0, 2] and count of records 2"),
])
def test_header_count_checks(count: int, last_offset_delta: int, message: str) -> None:
    batch = hand_batch(section([0, 1]), count=count, last_offset_delta=last_offset_delta)
    with pytest.raises(InvalidRecordError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check(batch)


@pytest.mark.parametrize("codec", [1, 2, 3, 4])
def test_data_that_does_not_decompress_is_corrupt_message(codec: int) -> None:
    batch = bytearray(hand_batch(section([0]), count=1))
    batch[0:] = hand_batch(b"", count=1)[:HEADER_SIZE] + b"\x00garbage, not compressed\xff" * 3
    batch[21:23] = codec.to_bytes(2, "big")
    from snakafka.protocol.batch import CRC_OFFSET, compute_crc
    batch[8:12] = (len(batch) - 12).to_bytes(4, "big")
    batch[CRC_OFFSET:CRC_OFFSET + 4] = compute_crc(batch, 0, len(batch)).to_bytes(4, "big")
    with pytest.raises(CorruptBatchError) as refused:
        check(bytes(batch))
    assert refused.value.error_code == 2  # CORRUPT_MESSAGE


@pytest.mark.parametrize("codec", CODECS)
def test_compacted_topics_refuse_keyless_records_and_name_them(codec: int) -> None:
    batch = hand_batch(section([0, 1, 2, 3], keys=[b"a", None, b"c", None]), count=4, codec=codec)
    policy = ValidationPolicy(compacted=True, partition="t-0")
    with pytest.raises(InvalidRecordError) as refused:
        check(batch, policy)
    assert refused.value.error_code == INVALID_RECORD
    assert [i for i, _ in refused.value.record_errors] == [1, 3]
    assert str(refused.value).startswith("One or more records have been rejected due to 2 record errors in total")
    assert check(batch) == 1_003  # not compacted: fine


@pytest.mark.parametrize("codec", CODECS)
def test_a_real_clients_batch_passes_untouched(codec: int) -> None:
    batch = make_batch(200, timestamp=NOW, value_size=50, compression=codec)  # kafka-python's encoder
    header = read_header(batch)
    assert check(batch, ValidationPolicy(before_max_ms=1_000, after_max_ms=1_000)) == header.max_timestamp


def test_batch_errors_carry_no_record_errors_by_default() -> None:
    assert BatchError("x").record_errors == ()


def test_these_tests_catch_a_validator_that_skips_the_record_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deliberately broken build: a scan that reports every section as sound lets the
    malformed batches above through, which is what their pytest.raises would catch."""
    from snakafka.protocol import validation
    from snakafka.protocol.record_scan import ScanResult

    monkeypatch.setattr(validation, "scan_records", lambda data, count: ScanResult(0, 0, -1, -1, None))
    for _, data, count, _ in MALFORMED:
        check(hand_batch(data, count=count))  # no longer refused
    monkeypatch.undo()
    with pytest.raises(InvalidRecordError):
        check(hand_batch(MALFORMED[0][1], count=MALFORMED[0][2]))

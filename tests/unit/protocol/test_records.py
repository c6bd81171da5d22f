"""Record batch contents: golden bytes from the spec, hypothesis round trips for every
codec, and interop both ways with kafka-python's record batch builder and reader."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from snakafka.protocol.batch import (
    COMPRESSION_GZIP,
    COMPRESSION_LZ4,
    COMPRESSION_NONE,
    COMPRESSION_SNAPPY,
    COMPRESSION_ZSTD,
    BatchError,
    CorruptBatchError,
    set_log_append_time,
    validate_batch,
    whole_batches_size,
)
from snakafka.protocol.records import (
    NewRecord,
    Record,
    decode_batch,
    decode_records,
    encode_batch,
    encode_control_batch,
    parse_control_record,
    read_varint,
    write_varint,
)

CODECS = [COMPRESSION_NONE, COMPRESSION_GZIP, COMPRESSION_SNAPPY, COMPRESSION_LZ4, COMPRESSION_ZSTD]

# Two records, worked out by hand from the spec (kafka.apache.org/documentation/#recordbatch).
# Record 0: key b"k", value b"v", timestamp 1000, no headers.
#   attributes 00 | tsDelta 0 -> 00 | offsetDelta 0 -> 00 | keyLen 1 -> 02 "k" | valueLen 1 -> 02 "v"
#   | headers 0 -> 00  = 8 bytes, length varint 8 -> 10
# Record 1: key null, value b"", header ("h", b"1"), timestamp 1005.
#   00 | tsDelta 5 -> 0a | offsetDelta 1 -> 02 | keyLen -1 -> 01 | valueLen 0 -> 00 | 1 header -> 02
#   | "h" 02 68 | "1" 02 31  = 10 bytes, length 10 -> 14
# Header: batchLength = 49 + 9 + 11 = 69 (0x45); lastOffsetDelta 1; baseTimestamp 1000 (0x3e8);
# maxTimestamp 1005 (0x3ed); no producer (-1, -1, -1); 2 records.
GOLDEN_RECORDS = "10 00 00 00 02 6b 02 76 00" "14 00 0a 02 01 00 02 02 68 02 31"
GOLDEN_AFTER_CRC = (
    "0000"  # attributes: no compression, create time, not transactional, not control
    "00000001"  # lastOffsetDelta
    "00000000000003e8"  # baseTimestamp
    "00000000000003ed"  # maxTimestamp
    "ffffffffffffffff"  # producerId
    "ffff"  # producerEpoch
    "ffffffff"  # baseSequence
    "00000002"  # recordsCount
) + GOLDEN_RECORDS
GOLDEN_CRC = "d465e943"  # CRC-32C (Castagnoli) of GOLDEN_AFTER_CRC
GOLDEN = bytes.fromhex(
    "0000000000000000"  # baseOffset
    "00000045"  # batchLength
    "ffffffff"  # partitionLeaderEpoch
    "02"  # magic
    + GOLDEN_CRC
    + GOLDEN_AFTER_CRC
)
GOLDEN_INPUT = [
    NewRecord(key=b"k", value=b"v", timestamp=1000),
    NewRecord(key=None, value=b"", headers=(("h", b"1"),), timestamp=1005),
]


def test_golden_bytes() -> None:
    assert encode_batch(GOLDEN_INPUT) == GOLDEN
    header = validate_batch(GOLDEN)
    assert (header.batch_length, header.records_count, header.last_offset_delta) == (69, 2, 1)
    assert (header.base_timestamp, header.max_timestamp) == (1000, 1005)


def test_golden_decode() -> None:
    header, records = decode_batch(GOLDEN)
    assert header.next_offset == 2
    assert records == [
        Record(offset=0, timestamp=1000, key=b"k", value=b"v"),
        Record(offset=1, timestamp=1005, key=None, value=b"", headers=(("h", b"1"),)),
    ]


def test_golden_matches_kafka_python() -> None:
    """kafka-python's builder writes partitionLeaderEpoch 0 but otherwise the same bytes."""
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
    builder.append(0, timestamp=1000, key=b"k", value=b"v", headers=[])
    builder.append(1, timestamp=1005, key=None, value=b"", headers=[("h", b"1")])
    assert bytes(builder.build()) == encode_batch(GOLDEN_INPUT, partition_leader_epoch=0)


@pytest.mark.parametrize(
    ("n", "encoded"),
    [(0, "00"), (-1, "01"), (1, "02"), (63, "7e"), (-64, "7f"), (64, "8001"), (300, "d804"),
     (2**31 - 1, "feffffff0f"), (-(2**31), "ffffffff0f"), (2**63 - 1, "feffffffffffffffff01"),
     (-(2**63), "ffffffffffffffffff01")],
)
def test_varints(n: int, encoded: str) -> None:
    assert write_varint(n).hex() == encoded
    assert read_varint(bytes.fromhex(encoded) + b"\xaa", 0) == (n, len(encoded) // 2)


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_varint_round_trip(n: int) -> None:
    assert read_varint(write_varint(n), 0) == (n, len(write_varint(n)))


def test_varint_errors() -> None:
    with pytest.raises(CorruptBatchError):
        read_varint(b"\x80\x80", 0)
    with pytest.raises(CorruptBatchError):
        read_varint(b"\xff" * 10 + b"\x01", 0)  # 11 bytes: longer than any 64-bit varint


maybe_bytes = st.none() | st.binary(max_size=200)
new_records = st.lists(
    st.builds(
        NewRecord,
        key=maybe_bytes,
        value=maybe_bytes,
        headers=st.lists(st.tuples(st.text(max_size=10), maybe_bytes), max_size=3).map(tuple),
        timestamp=st.none() | st.integers(min_value=0, max_value=2**41),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=80, deadline=None)
@given(records=new_records, codec=st.sampled_from(CODECS), base_offset=st.integers(0, 2**62),
       base_timestamp=st.none() | st.integers(0, 2**41))
def test_round_trip(records: list[NewRecord], codec: int, base_offset: int, base_timestamp: int | None) -> None:
    batch = encode_batch(records, base_offset=base_offset, compression=codec, base_timestamp=base_timestamp,
                         producer_id=7, producer_epoch=3, base_sequence=11)
    header = validate_batch(batch)
    assert header.size == len(batch)
    decoded_header, decoded = decode_batch(batch)
    assert decoded_header == header
    assert header.compression == codec
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (7, 3, 11)
    assert header.records_count == len(records)
    assert header.last_offset == base_offset + len(records) - 1
    base = base_timestamp
    if base is None:
        base = next((r.timestamp for r in records if r.timestamp is not None), -1)
    expected_ts = [base if r.timestamp is None else r.timestamp for r in records]
    assert header.base_timestamp == base
    assert header.max_timestamp == max(expected_ts)
    assert decoded == [
        Record(base_offset + i, ts, r.key, r.value, r.headers) for i, (r, ts) in enumerate(zip(records, expected_ts))
    ]


@settings(max_examples=40, deadline=None)
@given(records=new_records, codec=st.sampled_from(CODECS))
def test_kafka_python_reads_ours(records: list[NewRecord], codec: int) -> None:
    batch = encode_batch(records, base_offset=100, compression=codec, base_timestamp=5)
    theirs = DefaultRecordBatch(batch)
    assert theirs.validate_crc()
    assert theirs.compression_type == codec
    got = [(r.offset, r.timestamp, r.key, r.value, tuple(r.headers)) for r in theirs]
    want = [(100 + i, 5 if r.timestamp is None else r.timestamp, r.key, r.value, r.headers)
            for i, r in enumerate(records)]
    assert got == want


def _kafka_python_batch(codec: int, count: int) -> bytes:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=False, producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=1 << 30)
    for i in range(count):
        headers = [("trace", b"%d" % i), ("empty", None)] if i % 3 == 0 else []
        builder.append(i, timestamp=1_700_000_000_000 + i, key=None if i % 4 == 0 else b"key-%d" % i,
                       value=None if i % 5 == 0 else b"value %d " % i * 20, headers=headers)
    return bytes(builder.build())


@pytest.mark.parametrize("codec", CODECS)
def test_we_read_kafka_python(codec: int) -> None:
    batch = _kafka_python_batch(codec, 200)
    header, records = decode_batch(batch)
    assert header.compression == codec  # kafka-python sends uncompressed only when compression grows the data
    theirs = list(DefaultRecordBatch(batch))
    assert len(records) == len(theirs) == 200
    for ours, their in zip(records, theirs):
        assert (ours.offset, ours.timestamp, ours.key, ours.value) == (their.offset, their.timestamp, their.key,
                                                                       their.value)
        assert list(ours.headers) == their.headers


def test_decode_records_several_batches_and_partial_tail() -> None:
    first = encode_batch([NewRecord(b"a", b"1", timestamp=1)], base_offset=0)
    second = encode_batch([NewRecord(b"b", b"2", timestamp=2)] * 3, base_offset=1, compression=COMPRESSION_ZSTD)
    third = encode_batch([NewRecord(b"c", b"3", timestamp=3)], base_offset=4)
    got = list(decode_records(first + second + third[:-1]))
    assert [h.base_offset for h, _ in got] == [0, 1]
    assert [r.offset for _, recs in got for r in recs] == [0, 1, 2, 3]
    assert list(decode_records(b"")) == []


def test_whole_batches_size_drops_a_partial_tail() -> None:
    """A follower appends only whole batches of a fetch response cut at its byte limit."""
    first = encode_batch([NewRecord(b"a", b"1", timestamp=1)], base_offset=0)
    second = encode_batch([NewRecord(b"b", b"2" * 100, timestamp=2)] * 3, base_offset=1)
    assert whole_batches_size(first + second) == len(first) + len(second)
    for cut in (1, 20, len(second) - 1):
        assert whole_batches_size(first + second[:cut]) == len(first)
    assert whole_batches_size(second[:30]) == 0 and whole_batches_size(b"") == 0


def test_log_append_time_stamps_every_record() -> None:
    batch = encode_batch([NewRecord(b"k", b"v", timestamp=5), NewRecord(b"k", b"v", timestamp=9)],
                         base_timestamp=1234, log_append_time=True)
    header, records = decode_batch(batch)
    assert header.is_log_append_time and header.max_timestamp == 1234
    assert [r.timestamp for r in records] == [1234, 1234]


def test_broker_stamped_log_append_time() -> None:
    """The broker stamps a producer's batch in place (batch.set_log_append_time): base
    timestamp and deltas stay the producer's, yet every record reads as the stamp."""
    stamped = bytearray(encode_batch([NewRecord(b"k", b"v", timestamp=5), NewRecord(b"k", b"v", timestamp=9)]))
    set_log_append_time(stamped, 0, len(stamped), 5555)
    header, records = decode_batch(bytes(stamped))
    assert header.base_timestamp == 5
    assert [r.timestamp for r in records] == [5555, 5555]


def test_offset_deltas_kept_for_cleaned_batches() -> None:
    batch = encode_batch([NewRecord(b"a", b"1", timestamp=1, offset_delta=2)], base_offset=10, last_offset_delta=4)
    header, records = decode_batch(batch)
    assert [r.offset for r in records] == [12]
    assert header.next_offset == 15
    empty_header, empty = decode_batch(encode_batch([], base_offset=10, base_timestamp=1, last_offset_delta=4))
    assert empty == [] and empty_header.next_offset == 15
    with pytest.raises(ValueError):
        encode_batch([])
    with pytest.raises(ValueError):
        encode_batch([NewRecord(b"a", b"1", offset_delta=3), NewRecord(b"b", b"2", offset_delta=3)])


@pytest.mark.parametrize("commit", [True, False])
def test_control_batch(commit: bool) -> None:
    batch = encode_control_batch(commit, producer_id=42, producer_epoch=5, coordinator_epoch=9, base_offset=77,
                                 timestamp=1000)
    header, records = decode_batch(batch)
    assert header.is_control and header.is_transactional
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (42, 5, -1)
    assert records[0].key == struct.pack(">hh", 0, 1 if commit else 0)
    assert records[0].value == struct.pack(">hi", 0, 9)
    assert parse_control_record(records[0]) == (commit, 9)
    theirs = list(DefaultRecordBatch(batch))  # kafka-python's reader sees a control record of the right kind
    assert theirs[0].commit is commit and theirs[0].abort is not commit


def test_parse_control_record_rejects_other_types() -> None:
    leader_change = Record(0, 0, struct.pack(">hh", 0, 2), b"\x00\x00")
    with pytest.raises(ValueError):
        parse_control_record(leader_change)
    with pytest.raises(ValueError):
        parse_control_record(Record(0, 0, struct.pack(">hh", 0, 1), b"\x00"))
    # A later marker version with extra bytes still parses, as in Kafka.
    assert parse_control_record(Record(0, 0, struct.pack(">hh", 1, 1), struct.pack(">hi", 1, 3) + b"\x00")) == (True, 3)


def test_corruption_detected() -> None:
    flipped = bytearray(GOLDEN)
    flipped[-3] ^= 0x01
    with pytest.raises(CorruptBatchError):
        decode_batch(bytes(flipped))
    with pytest.raises(BatchError):
        decode_batch(GOLDEN[:-1])


def test_malformed_records_rejected_even_without_crc_check() -> None:
    # Claim 3 or 1 records where there are 2; then claim a record longer than the batch.
    for count in (3, 1):
        miscounted = bytearray(GOLDEN)
        miscounted[57:61] = struct.pack(">i", count)
        with pytest.raises(CorruptBatchError):
            decode_batch(bytes(miscounted), verify_crc=False)
    long_record = bytearray(GOLDEN)
    long_record[61] = 0x7E
    with pytest.raises(CorruptBatchError):
        decode_batch(bytes(long_record), verify_crc=False)
    bad_gzip = encode_batch([NewRecord(b"k", b"v" * 100, timestamp=0)], compression=COMPRESSION_GZIP)
    broken = bytearray(bad_gzip)
    broken[-6] ^= 0xFF  # inside the gzip trailer's CRC-32
    with pytest.raises(CorruptBatchError):
        decode_batch(bytes(broken), verify_crc=False)

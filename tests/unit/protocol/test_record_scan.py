"""The records framing scan: the C extension and its pure-Python twin agree on anything,
accept what real encoders write, and refuse each kind of malformed record."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.batches import make_batch, raw_record

from snakafka.protocol import record_scan
from snakafka.protocol.batch import HEADER_SIZE
from snakafka.protocol.records import NewRecord, encode_batch

Scan = Callable[[bytes, int], record_scan.ScanResult]

try:
    from snakafka.protocol._record_scan import scan as _c_scan

    def c_scan(data: bytes, count: int) -> record_scan.ScanResult:
        return record_scan.ScanResult(*_c_scan(data, count))

    SCANS: list[Scan] = [record_scan.scan_records_py, c_scan]
except ImportError:  # the optional extension is not built here: the reference alone
    SCANS = [record_scan.scan_records_py]

needs_c = pytest.mark.skipif(len(SCANS) < 2, reason="the C extension is not built")

records = st.lists(st.builds(
    NewRecord,
    key=st.one_of(st.none(), st.binary(max_size=20)),
    value=st.one_of(st.none(), st.binary(max_size=200)),
    headers=st.lists(st.tuples(st.text(max_size=5), st.one_of(st.none(), st.binary(max_size=10))), max_size=3).map(tuple),
    timestamp=st.integers(0, 2**45),
), min_size=1, max_size=30)


def test_the_c_extension_is_the_one_in_use_when_built() -> None:
    assert record_scan.IMPLEMENTATION == ("c" if len(SCANS) == 2 else "python")


@pytest.mark.parametrize("scan", SCANS)
@settings(max_examples=60, deadline=None)
@given(recs=records)
def test_well_formed_records_pass_with_their_timestamp_range(scan: Scan, recs: list[NewRecord]) -> None:
    batch = encode_batch(recs)
    base = min(r.timestamp for r in recs[:1] if r.timestamp is not None)
    deltas = [r.timestamp - base for r in recs if r.timestamp is not None]
    keyless = next((i for i, r in enumerate(recs) if r.key is None), -1)
    assert scan(batch[HEADER_SIZE:], len(recs)) == (min(deltas), max(deltas), keyless, -1, None)
    details = record_scan.record_details(batch[HEADER_SIZE:], len(recs))
    assert details == [(d, r.key is not None) for d, r in zip(deltas, recs, strict=True)]


@pytest.mark.parametrize("scan", SCANS)
def test_a_real_clients_records_pass(scan: Scan) -> None:
    batch = make_batch(500, value_size=100)  # kafka-python's encoder
    assert scan(batch[HEADER_SIZE:], 500) == (0, 499, -1, -1, None)


CASES: list[tuple[str, bytes, int, int, str]] = [
    # (name, records section, declared count, error index, message start)
    ("count too high", raw_record(0) + raw_record(1), 3, 2, "Incorrect declared batch size, premature EOF"),
    ("count too low", raw_record(0) + raw_record(1), 1, 0, "Incorrect declared batch size, records still remaining"),
    ("truncated record", (raw_record(0) + raw_record(1))[:-2], 2, 1, "Invalid record size: expected"),
    ("overlong record", raw_record(0) + raw_record(1, length_adjust=2) + b"xx", 2, 1, "Invalid record size: expected to read"),
    ("short record", raw_record(0, length_adjust=-1), 1, 0, "Found invalid record structure"),
    ("offset deltas with a gap", raw_record(0) + raw_record(2), 2, 1, "Record 1 has offset delta 2"),
    ("offset deltas out of order", raw_record(1) + raw_record(0), 2, 0, "Record 0 has offset delta 1"),
    ("length varint too long", b"\xff\xff\xff\xff\xff\x01", 1, 0, "Found invalid record structure: a varint is longer"),
    ("timestamp varlong too long", b"\x18\x00" + b"\xff" * 10 + b"\x00", 1, 0, "Found invalid record structure: a varlong is longer"),
    ("varint cut by the record end", b"\x04\x00\x00\x80", 1, 0, "Found invalid record structure: a varint runs past"),
    ("data ends inside the length", raw_record(0) + b"\x80", 2, 1, "Incorrect declared batch size, premature EOF"),
    ("key overruns the record", raw_record(0, key=b"abc").replace(b"\x06abc", b"\x20abc"), 1, 0,
     "Found invalid record structure: the key (16 bytes) overruns"),
    ("negative header count", raw_record(0)[:-1] + b"\x01", 1, 0, "Found invalid number of record headers -1"),
    ("too many headers", raw_record(0)[:-1] + b"\x08", 1, 0, "Found invalid number of record headers. 4 is larger"),
    ("null header key", raw_record(0, headers=((b"h", b"v"),)).replace(b"\x02h\x02v", b"\x01\x02v\x00"), 1, 0,
     "Invalid negative header key size -1"),
    ("empty section", b"", 1, 0, "Incorrect declared batch size, premature EOF"),
]


@pytest.mark.parametrize("scan", SCANS)
@pytest.mark.parametrize(("name", "data", "count", "index", "message"), CASES, ids=[c[0] for c in CASES])
def test_malformed_records_are_named(scan: Scan, name: str, data: bytes, count: int, index: int, message: str) -> None:
    result = scan(data, count)
    assert result.error is not None and result.error.startswith(message), (name, result)
    assert result.error_index == index


@needs_c
@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=80), count=st.integers(0, 6))
def test_c_and_python_agree_on_noise(data: bytes, count: int) -> None:
    assert SCANS[1](data, count) == SCANS[0](data, count)


@needs_c
@settings(max_examples=300, deadline=None)
@given(recs=records, cuts=st.lists(st.tuples(st.integers(0, 10_000), st.binary(max_size=3)), max_size=3),
       extra=st.integers(-2, 2))
def test_c_and_python_agree_on_damaged_records(recs: list[NewRecord], cuts: list[tuple[int, bytes]], extra: int) -> None:
    """Real records with bytes replaced, inserted or cut, and a wrong count."""
    data = bytearray(encode_batch(recs)[HEADER_SIZE:])
    for at, junk in cuts:
        at %= len(data) + 1
        data[at : at + len(junk) // 2] = junk
    count = max(len(recs) + extra, 0)
    assert SCANS[1](bytes(data), count) == SCANS[0](bytes(data), count)

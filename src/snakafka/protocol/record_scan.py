"""A framing scan of a record batch's records section (magic 2), for produce validation.

`scan_records(data, count)` walks the `count` records of an (already decompressed)
records section without building anything: it checks every record's length, varints,
offset delta, key, value and headers stay inside the record and the records fill the
section exactly, and returns what the validator needs to know about the records as a
whole: ScanResult(min timestamp delta, max timestamp delta, index of the first record
without a key, index and message of the first framing error). The checks and messages
follow Kafka's DefaultRecord.readFrom and DefaultRecordBatch's record iterators; all of
them are INVALID_RECORD in Kafka's answer (validation.py turns them into errors).

Every produced byte goes through this scan, so it exists twice with identical results:
the C extension `snakafka.protocol._record_scan` (built by `pip install`, see setup.py)
and the pure-Python reference below, used when the extension could not be built. The
unit tests check the two agree on arbitrary (hypothesis-generated and mutated) input.
`IMPLEMENTATION` says which one is running.

`record_details` is the slow, per-record companion used only once a batch is known to
be refused (to list every offending record) or to need an exact timestamp check.

Varints are Kafka's: zigzag; a varint (int32) takes at most 5 bytes, a varlong (int64)
at most 10, with Java's wrap-around of bits beyond the width.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

Buffer = bytes | bytearray | memoryview

_PREMATURE_EOF = "Incorrect declared batch size, premature EOF reached"
_REMAINING = "Incorrect declared batch size, records still remaining in file"
_STRUCTURE = "Found invalid record structure"


class ScanResult(NamedTuple):
    """min/max timestamp deltas are None for a batch of no records; error_index is -1
    and error None when the framing is sound."""

    min_delta: int | None
    max_delta: int | None
    first_keyless: int
    error_index: int
    error: str | None


class _Bad(Exception):
    """Internal: a framing error at the record being read."""


def _varint(data: Buffer, pos: int, end: int) -> tuple[int, int]:
    """Kafka's ByteUtils.readVarint bounded by `end`: (int32 value, position after)."""
    value = 0
    shift = 0
    while True:
        if pos >= end:
            raise _Bad(f"{_STRUCTURE}: a varint runs past the end of its record")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
        if shift > 28:
            raise _Bad(f"{_STRUCTURE}: a varint is longer than 5 bytes")
    value &= 0xFFFFFFFF
    value = (value >> 1) ^ -(value & 1)
    return value, pos


def _varlong(data: Buffer, pos: int, end: int) -> tuple[int, int]:
    """Kafka's ByteUtils.readVarlong bounded by `end`: (int64 value, position after)."""
    value = 0
    shift = 0
    while True:
        if pos >= end:
            raise _Bad(f"{_STRUCTURE}: a varlong runs past the end of its record")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
        if shift > 63:
            raise _Bad(f"{_STRUCTURE}: a varlong is longer than 10 bytes")
    value &= 0xFFFFFFFFFFFFFFFF
    value = (value >> 1) ^ -(value & 1)
    return value, pos


def _read_record(data: Buffer, pos: int, n: int, index: int) -> tuple[int, int, bool]:
    """Check the record at `pos`; return (position after it, timestamp delta, has key)."""
    if pos >= n:
        raise _Bad(_PREMATURE_EOF)
    try:
        length, pos = _varint(data, pos, n)
    except _Bad as exc:
        if "past the end" in str(exc):  # the data ends inside the length: too few records
            raise _Bad(_PREMATURE_EOF) from None
        raise
    if length < 0 or length > n - pos:
        raise _Bad(f"Invalid record size: expected {length} bytes in record payload, but instead the buffer has "
                   f"only {n - pos} remaining bytes.")
    start = pos
    end = pos + length
    if pos >= end:
        raise _Bad(f"{_STRUCTURE}: an empty record")
    pos += 1  # attributes (unused in magic 2)
    ts_delta, pos = _varlong(data, pos, end)
    offset_delta, pos = _varint(data, pos, end)
    if offset_delta != index:
        raise _Bad(f"Record {index} has offset delta {offset_delta}: offset deltas must run 0, 1, 2... in order")
    key_len, pos = _varint(data, pos, end)
    if key_len >= 0:
        if key_len > end - pos:
            raise _Bad(f"{_STRUCTURE}: the key ({key_len} bytes) overruns its record")
        pos += key_len
    value_len, pos = _varint(data, pos, end)
    if value_len >= 0:
        if value_len > end - pos:
            raise _Bad(f"{_STRUCTURE}: the value ({value_len} bytes) overruns its record")
        pos += value_len
    headers, pos = _varint(data, pos, end)
    if headers < 0:
        raise _Bad(f"Found invalid number of record headers {headers}")
    if headers > end - pos:
        raise _Bad(f"Found invalid number of record headers. {headers} is larger than the remaining size of the buffer")
    for _ in range(headers):
        hkey, pos = _varint(data, pos, end)
        if hkey < 0:
            raise _Bad(f"Invalid negative header key size {hkey}")
        if hkey > end - pos:
            raise _Bad(f"{_STRUCTURE}: a header key ({hkey} bytes) overruns its record")
        pos += hkey
        hvalue, pos = _varint(data, pos, end)
        if hvalue >= 0:
            if hvalue > end - pos:
                raise _Bad(f"{_STRUCTURE}: a header value ({hvalue} bytes) overruns its record")
            pos += hvalue
    if pos != end:
        raise _Bad(f"Invalid record size: expected to read {length} bytes in record payload, but instead read "
                   f"{pos - start}")
    return end, ts_delta, key_len >= 0


def scan_records_py(data: Buffer, count: int) -> ScanResult:
    """The pure-Python reference scan (see the module docstring)."""
    n = len(data)
    pos = 0
    lo: int | None = None
    hi: int | None = None
    keyless = -1
    index = 0
    try:
        while index < count:
            pos, delta, has_key = _read_record(data, pos, n, index)
            if lo is None or delta < lo:
                lo = delta
            if hi is None or delta > hi:
                hi = delta
            if not has_key and keyless < 0:
                keyless = index
            index += 1
        if pos != n:
            index = max(count - 1, 0)
            raise _Bad(_REMAINING)
    except _Bad as exc:
        return ScanResult(lo, hi, keyless, index, str(exc))
    return ScanResult(lo, hi, keyless, -1, None)


def record_details(data: Buffer, count: int) -> list[tuple[int, bool]]:
    """(timestamp delta, has key) of each record, for a section scan_records passed."""
    out = []
    pos, n = 0, len(data)
    for index in range(count):
        pos, delta, has_key = _read_record(data, pos, n, index)
        out.append((delta, has_key))
    return out


ScanFunction = Callable[[Buffer, int], tuple[int | None, int | None, int, int, str | None]]

scan_records: ScanFunction
"""The scan in use: the C extension's when built (its results are plain tuples in
ScanResult's order), else scan_records_py."""

try:
    from snakafka.protocol._record_scan import scan as scan_records
except ImportError:  # the optional extension was not built: the reference does the work
    scan_records = scan_records_py
    IMPLEMENTATION = "python"
else:
    IMPLEMENTATION = "c"

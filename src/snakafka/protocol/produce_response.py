"""Produce responses written by hand: every produce request's answer.

kio builds a message object per partition and walks its schema to encode it; for a
one-partition acks=all answer that cost ~100 us, on the path between the high watermark
moving and the producer hearing of it. Here the bytes are packed with struct from plain
tuples. The layout follows Kafka's ProduceResponse schema for versions 3 to 9 (the ones
served; v9 is flexible: compact strings and arrays, tagged fields); tests check the bytes
against kio's encoder.

No I/O: values in, bytes out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_HEAD = struct.Struct(">ii")  # size, correlation id
_PART_V3 = struct.Struct(">ihqq")  # index, error, base offset, log append time
_PART_V5 = struct.Struct(">ihqqq")  # ... log start offset


@dataclass(frozen=True, slots=True)
class PartitionProduceResult:
    """One partition's answer (Kafka's PartitionProduceResponse)."""

    index: int
    error_code: int = 0
    base_offset: int = -1
    log_append_time: int = -1  # ms; -1: CreateTime
    log_start_offset: int = -1
    record_errors: tuple[tuple[int, str | None], ...] = ()  # (batch index, message), v8+
    error_message: str | None = None  # v8+


def _uvarint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _string(value: str, flexible: bool) -> bytes:
    data = value.encode()
    return (_uvarint(len(data) + 1) if flexible else _I16.pack(len(data))) + data


def _nullable_string(value: str | None, flexible: bool) -> bytes:
    if value is None:
        return b"\0" if flexible else b"\xff\xff"
    return _string(value, flexible)


def _count(n: int, flexible: bool) -> bytes:
    return _uvarint(n + 1) if flexible else _I32.pack(n)


def encode_produce_response(version: int, correlation_id: int,
                            topics: list[tuple[str, list[PartitionProduceResult]]], throttle_ms: int = 0) -> bytes:
    """Frame (size prefix included) a ProduceResponse v3..v9."""
    if not 3 <= version <= 9:
        raise ValueError(f"produce response version {version} is not handled here")
    flexible = version >= 9
    out = bytearray(_HEAD.pack(0, correlation_id))
    if flexible:
        out += b"\0"  # response header tagged fields
    out += _count(len(topics), flexible)
    for name, partitions in topics:
        out += _string(name, flexible)
        out += _count(len(partitions), flexible)
        for p in partitions:
            if version >= 5:
                out += _PART_V5.pack(p.index, p.error_code, p.base_offset, p.log_append_time, p.log_start_offset)
            else:
                out += _PART_V3.pack(p.index, p.error_code, p.base_offset, p.log_append_time)
            if version >= 8:
                out += _count(len(p.record_errors), flexible)
                for batch_index, message in p.record_errors:
                    out += _I32.pack(batch_index) + _nullable_string(message, flexible)
                    if flexible:
                        out += b"\0"
                out += _nullable_string(p.error_message, flexible)
            if flexible:
                out += b"\0"  # partition tagged fields
        if flexible:
            out += b"\0"  # topic tagged fields
    out += _I32.pack(throttle_ms)
    if flexible:
        out += b"\0"  # top-level tagged fields
    _I32.pack_into(out, 0, len(out) - 4)
    return bytes(out)

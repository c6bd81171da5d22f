"""Fetch responses written as parts, so record bytes never pass through the encoder.

This is the broker's hot path. kio encodes every other response; here the records of
each partition are opaque objects with a `size` (file slices of segment files) that the
socket layer sends with sendfile. The layout follows Kafka's FetchResponse schema for
versions 4 to 12; tests check the bytes against kio's own encoder.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Protocol


class Sized(Protocol):
    @property
    def size(self) -> int: ...


@dataclass(slots=True)
class PartitionPayload:
    partition: int
    error_code: int = 0
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1
    aborted: list[tuple[int, int]] | None = None
    preferred_read_replica: int = -1
    records: Sized | bytes | None = None
    diverging_epoch: tuple[int, int] | None = None  # v12+ tagged field 0: (epoch, end offset)


@dataclass(slots=True)
class TopicPayload:
    topic: str
    partitions: list[PartitionPayload] = field(default_factory=list)


_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_PART_FIXED = struct.Struct(">ihqqq")  # partition, error, hw, lso, log start (v5+)
_PART_FIXED_V4 = struct.Struct(">ihqq")
_ABORTED = struct.Struct(">qq")
_HEAD_V7 = struct.Struct(">iihi")  # correlation id, throttle, error, session
_EPOCH_END = struct.Struct(">iqB")  # EpochEndOffset: epoch, end offset, empty tagged fields


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_fetch_response(
    version: int,
    correlation_id: int,
    topics: list[TopicPayload],
    *,
    throttle_ms: int = 0,
    error_code: int = 0,
    session_id: int = 0,
) -> list[bytes | Sized]:
    """Frame (size prefix included) a FetchResponse v4..v12 as a list of parts."""
    if not 4 <= version <= 12:
        raise ValueError(f"fetch response version {version} is not handled here")
    flexible = version >= 12
    parts: list[bytes | Sized] = []
    buf = bytearray()
    buf += _I32.pack(correlation_id)
    if flexible:
        buf += b"\0"  # response header tagged fields
    buf += _I32.pack(throttle_ms)
    if version >= 7:
        buf += _I16.pack(error_code) + _I32.pack(session_id)
    buf += _uvarint(len(topics) + 1) if flexible else _I32.pack(len(topics))
    total = 0
    for t in topics:
        name = t.topic.encode()
        buf += (_uvarint(len(name) + 1) if flexible else _I16.pack(len(name))) + name
        buf += _uvarint(len(t.partitions) + 1) if flexible else _I32.pack(len(t.partitions))
        for p in t.partitions:
            if version >= 5:
                buf += _PART_FIXED.pack(p.partition, p.error_code, p.high_watermark, p.last_stable_offset, p.log_start_offset)
            else:
                buf += _PART_FIXED_V4.pack(p.partition, p.error_code, p.high_watermark, p.last_stable_offset)
            aborted = p.aborted
            if aborted is None:
                buf += b"\0" if flexible else _I32.pack(-1)
            else:
                buf += _uvarint(len(aborted) + 1) if flexible else _I32.pack(len(aborted))
                for producer_id, first_offset in aborted:
                    buf += _ABORTED.pack(producer_id, first_offset)
                    if flexible:
                        buf += b"\0"
            if version >= 11:
                buf += _I32.pack(p.preferred_read_replica)
            records = p.records
            size = 0 if records is None else (len(records) if isinstance(records, bytes) else records.size)
            buf += _uvarint(size + 1) if flexible else _I32.pack(size)
            if size:
                if isinstance(records, bytes):
                    buf += records
                else:
                    parts.append(bytes(buf))
                    total += len(buf)
                    buf = bytearray()
                    parts.append(records)  # type: ignore[arg-type]
                    total += size
            if flexible:
                if p.diverging_epoch is None:
                    buf += b"\0"  # partition tagged fields: none
                else:  # one tagged field, tag 0 (DivergingEpoch), of 13 bytes
                    buf += b"\x01\x00" + _uvarint(_EPOCH_END.size) + _EPOCH_END.pack(*p.diverging_epoch, 0)
        if flexible:
            buf += b"\0"  # topic tagged fields
    if flexible:
        buf += b"\0"  # response tagged fields
    parts.append(bytes(buf))
    total += len(buf)
    parts.insert(0, _I32.pack(total))
    return parts

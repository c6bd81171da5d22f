"""Record formats of `__transaction_state`, byte for byte as Apache Kafka writes them.

The transaction coordinator keeps one record per transactional id in this compacted
topic (Kafka's TransactionLogKey / TransactionLogValue JSON schemas, version 0, the
non-flexible form Kafka brokers before 4.0 write):

* key:   [version i16 = 0][transactional_id string]
* value: [version i16 = 0][producer_id i64][producer_epoch i16][transaction_timeout_ms i32]
         [transaction_status i8][transaction_partitions: nullable array of
         (topic string, partition_ids array of i32)][transaction_last_update_timestamp_ms i64]
         [transaction_start_timestamp_ms i64]

Strings have an i16 length, arrays an i32 count (-1: null). Kafka writes null partitions
for the Empty state. A null value is a tombstone (an expired transactional id). Value
v1 (flexible, Kafka 4.0) is read too, its tagged fields skipped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from snakafka.coordinator.offsets_schema import SchemaError
from snakafka.coordinator.transaction.state import TxnState

KEY_VERSION = 0
VALUE_VERSION = 0

_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")

Buffer = bytes | bytearray | memoryview


@dataclass(frozen=True, slots=True)
class TxnLogValue:
    producer_id: int
    producer_epoch: int
    transaction_timeout_ms: int
    state: TxnState
    partitions: frozenset[tuple[str, int]]
    last_update_timestamp_ms: int
    start_timestamp_ms: int


def _string(s: str) -> bytes:
    data = s.encode()
    if len(data) > 0x7FFF:
        raise SchemaError(f"string of {len(data)} bytes exceeds the i16 length limit")
    return _I16.pack(len(data)) + data


def encode_key(transactional_id: str) -> bytes:
    return _I16.pack(KEY_VERSION) + _string(transactional_id)


def encode_value(value: TxnLogValue) -> bytes:
    parts = [
        _I16.pack(VALUE_VERSION), _I64.pack(value.producer_id), _I16.pack(value.producer_epoch),
        _I32.pack(value.transaction_timeout_ms), _I8.pack(value.state.code),
    ]
    if value.state is TxnState.EMPTY:
        parts.append(_I32.pack(-1))
    else:
        by_topic: dict[str, list[int]] = {}
        for topic, partition in sorted(value.partitions):
            by_topic.setdefault(topic, []).append(partition)
        parts.append(_I32.pack(len(by_topic)))
        for topic, ids in by_topic.items():
            parts += (_string(topic), _I32.pack(len(ids)), *(_I32.pack(i) for i in ids))
    parts += (_I64.pack(value.last_update_timestamp_ms), _I64.pack(value.start_timestamp_ms))
    return b"".join(parts)


class _Reader:
    __slots__ = ("buf", "flexible", "pos")

    def __init__(self, buf: Buffer) -> None:
        self.buf = memoryview(buf)
        self.pos = 0
        self.flexible = False

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise SchemaError("__transaction_state record ends early")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, s: struct.Struct) -> int:
        value: int = s.unpack(self.take(s.size))[0]
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.take(1)[0]
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 35:
                raise SchemaError("varint too long")

    def string(self) -> str:
        n = self.varint() - 1 if self.flexible else self.unpack(_I16)
        if n < 0:
            raise SchemaError("null string in __transaction_state record")
        return bytes(self.take(n)).decode()

    def count(self) -> int:
        return self.varint() - 1 if self.flexible else self.unpack(_I32)

    def skip_tags(self) -> None:
        if self.flexible:
            for _ in range(self.varint()):
                self.varint()
                self.take(self.varint())


def decode_key(data: Buffer) -> str:
    r = _Reader(data)
    version = r.unpack(_I16)
    if version != KEY_VERSION:
        raise SchemaError(f"unknown __transaction_state key version {version}")
    return r.string()


def decode_value(data: Buffer | None) -> TxnLogValue | None:
    if data is None:
        return None
    r = _Reader(data)
    version = r.unpack(_I16)
    if version not in (0, 1):
        raise SchemaError(f"unknown __transaction_state value version {version}")
    r.flexible = version >= 1
    producer_id = r.unpack(_I64)
    epoch = r.unpack(_I16)
    timeout = r.unpack(_I32)
    try:
        state = TxnState.from_code(r.unpack(_I8))
    except ValueError as e:
        raise SchemaError(str(e)) from e
    partitions: set[tuple[str, int]] = set()
    topics = r.count()
    for _ in range(max(topics, 0)):
        topic = r.string()
        for _ in range(max(r.count(), 0)):
            partitions.add((topic, r.unpack(_I32)))
        r.skip_tags()
    last_update = r.unpack(_I64)
    start = r.unpack(_I64)
    r.skip_tags()
    return TxnLogValue(producer_id, epoch, timeout, state, frozenset(partitions), last_update, start)

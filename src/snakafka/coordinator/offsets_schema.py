"""Record formats of `__consumer_offsets`, byte for byte as Apache Kafka writes them.

The group coordinator keeps committed offsets and classic-group metadata as key/value
records in this compacted topic, so the formats are an on-disk contract: a Kafka tool
(kafka-console-consumer with the offsets formatter, kafka-dump-log
--offsets-decoder) must read our topic, and we must read one a Kafka broker wrote.
The specification is Kafka's JSON schemas in group-coordinator/.../common/message/:

* A key is [version i16][fields]; the version says which record it is. 0 and 1:
  OffsetCommitKey (group string, topic string, partition i32); Kafka writes 1.
  2: GroupMetadataKey (group string). Higher versions are the new consumer-group,
  share-group and streams records, which this broker does not write.
* A value is [version i16][fields]: OffsetCommitValue v0-v4 and GroupMetadataValue
  v0-v4 are read; we write what Kafka writes: OffsetCommitValue v3 (v1 when the commit
  carries an explicit expire timestamp, from OffsetCommit v2-v4) and GroupMetadataValue
  v3. v0-v3 are non-flexible (strings: i16 length; bytes: i32 length; arrays: i32
  count); v4 is flexible (compact lengths as unsigned varints of n+1, tagged fields).
* A record with a null value is a tombstone: the key's offset or group is deleted.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Re-exported (their home is protocol.partitioner, where the replica fetchers use them too).
from snakafka.protocol.partitioner import java_string_hash, kafka_abs

Buffer = bytes | bytearray | memoryview

OFFSET_KEY_VERSION = 1
GROUP_KEY_VERSION = 2
OFFSET_VALUE_VERSION = 3
OFFSET_VALUE_VERSION_WITH_EXPIRE = 1
GROUP_VALUE_VERSION = 3

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")


class SchemaError(ValueError):
    """Bytes that are not a valid __consumer_offsets key or value."""


class UnknownRecordTypeError(SchemaError):
    """A key version this broker does not handle (e.g. KIP-848 consumer-group records):
    loaders skip such records rather than fail."""


@dataclass(frozen=True, slots=True)
class OffsetKey:
    group: str
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class GroupMetadataKey:
    group: str


@dataclass(frozen=True, slots=True)
class OffsetValue:
    """A committed offset. expire_timestamp is only stored by value v1 (see module doc)."""

    offset: int
    metadata: str
    commit_timestamp: int
    leader_epoch: int = -1
    expire_timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class MemberMetadata:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout: int
    session_timeout: int
    subscription: bytes
    assignment: bytes


@dataclass(frozen=True, slots=True)
class GroupMetadataValue:
    protocol_type: str
    generation: int
    protocol: str | None
    leader: str | None
    current_state_timestamp: int = -1
    members: tuple[MemberMetadata, ...] = ()


Key = OffsetKey | GroupMetadataKey
Value = OffsetValue | GroupMetadataValue


# -- writing (non-flexible versions only: that is all Kafka writes) ----------------------


def _string(s: str | None) -> bytes:
    if s is None:
        return b"\xff\xff"
    data = s.encode()
    if len(data) > 0x7FFF:
        raise SchemaError(f"string of {len(data)} bytes exceeds the i16 length limit")
    return _I16.pack(len(data)) + data


def _bytes(b: bytes) -> bytes:
    return _I32.pack(len(b)) + b


def encode_key(key: Key) -> bytes:
    if isinstance(key, OffsetKey):
        return b"".join((_I16.pack(OFFSET_KEY_VERSION), _string(key.group), _string(key.topic), _I32.pack(key.partition)))
    return _I16.pack(GROUP_KEY_VERSION) + _string(key.group)


def encode_offset_value(value: OffsetValue) -> bytes:
    if value.expire_timestamp is not None:
        return b"".join((
            _I16.pack(OFFSET_VALUE_VERSION_WITH_EXPIRE), _I64.pack(value.offset), _string(value.metadata),
            _I64.pack(value.commit_timestamp), _I64.pack(value.expire_timestamp),
        ))
    return b"".join((
        _I16.pack(OFFSET_VALUE_VERSION), _I64.pack(value.offset), _I32.pack(value.leader_epoch),
        _string(value.metadata), _I64.pack(value.commit_timestamp),
    ))


def encode_group_value(value: GroupMetadataValue) -> bytes:
    parts = [
        _I16.pack(GROUP_VALUE_VERSION), _string(value.protocol_type), _I32.pack(value.generation),
        _string(value.protocol), _string(value.leader), _I64.pack(value.current_state_timestamp),
        _I32.pack(len(value.members)),
    ]
    for m in value.members:
        parts += (
            _string(m.member_id), _string(m.group_instance_id), _string(m.client_id), _string(m.client_host),
            _I32.pack(m.rebalance_timeout), _I32.pack(m.session_timeout), _bytes(m.subscription), _bytes(m.assignment),
        )
    return b"".join(parts)


# -- reading -----------------------------------------------------------------------------


class _Reader:
    """Cursor over one key or value; `flexible` switches to compact lengths (v4+)."""

    __slots__ = ("buf", "flexible", "pos")

    def __init__(self, buf: Buffer, pos: int = 0, flexible: bool = False) -> None:
        self.buf = memoryview(buf)
        self.pos = pos
        self.flexible = flexible

    def _take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise SchemaError("record ends early")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def _fixed(self, s: struct.Struct) -> int:
        value: int = s.unpack(self._take(s.size))[0]
        return value

    def i16(self) -> int:
        return self._fixed(_I16)

    def i32(self) -> int:
        return self._fixed(_I32)

    def i64(self) -> int:
        return self._fixed(_I64)

    def uvarint(self) -> int:
        value = shift = 0
        while True:
            b = self._take(1)[0]
            value |= (b & 0x7F) << shift
            if b < 0x80:
                return value
            shift += 7
            if shift > 35:
                raise SchemaError("unsigned varint too long")

    def _length(self, fixed: struct.Struct) -> int:
        return self.uvarint() - 1 if self.flexible else self._fixed(fixed)

    def nullable_string(self) -> str | None:
        n = self._length(_I16)
        if n < 0:
            return None
        try:
            return str(self._take(n), "utf-8")
        except UnicodeDecodeError:
            raise SchemaError("string is not UTF-8") from None

    def string(self) -> str:
        s = self.nullable_string()
        if s is None:
            raise SchemaError("null where the schema has a non-nullable string")
        return s

    def bytes_(self) -> bytes:
        n = self._length(_I32)
        if n < 0:
            raise SchemaError("null where the schema has non-nullable bytes")
        return bytes(self._take(n))

    def array_count(self) -> int:
        n = self._length(_I32)
        if n < 0:
            raise SchemaError("null where the schema has a non-nullable array")
        return n

    def tagged_fields(self) -> None:
        """Skip a flexible struct's tagged fields: none are defined that we use."""
        if self.flexible:
            for _ in range(self.uvarint()):
                self.uvarint()
                self._take(self.uvarint())

    def end(self) -> None:
        if self.pos != len(self.buf):
            raise SchemaError(f"{len(self.buf) - self.pos} unexpected bytes after the record")


def decode_key(data: Buffer) -> Key:
    r = _Reader(data)
    version = r.i16()
    key: Key
    if version in (0, 1):
        key = OffsetKey(r.string(), r.string(), r.i32())
    elif version == 2:
        key = GroupMetadataKey(r.string())
    else:
        raise UnknownRecordTypeError(f"__consumer_offsets key version {version} is not handled")
    r.end()
    return key


def decode_value(key: Key, data: Buffer | None) -> Value | None:
    """The value for `key`, or None for a tombstone (the key is deleted)."""
    if data is None:
        return None
    r = _Reader(data)
    version = r.i16()
    if version < 0 or version > 4:
        raise SchemaError(f"unknown value version {version} for {type(key).__name__}")
    r.flexible = version >= 4
    value = _offset_value(r, version) if isinstance(key, OffsetKey) else _group_value(r, version)
    r.tagged_fields()
    r.end()
    return value


def _offset_value(r: _Reader, version: int) -> OffsetValue:
    offset = r.i64()
    leader_epoch = r.i32() if version >= 3 else -1
    metadata = r.string()
    commit_timestamp = r.i64()
    expire_timestamp = r.i64() if version == 1 else None
    return OffsetValue(offset, metadata, commit_timestamp, leader_epoch, expire_timestamp)


def _group_value(r: _Reader, version: int) -> GroupMetadataValue:
    protocol_type = r.string()
    generation = r.i32()
    protocol = r.nullable_string()
    leader = r.nullable_string()
    current_state_timestamp = r.i64() if version >= 2 else -1
    members = []
    for _ in range(r.array_count()):
        member_id = r.string()
        group_instance_id = r.nullable_string() if version >= 3 else None
        client_id = r.string()
        client_host = r.string()
        rebalance_timeout = r.i32() if version >= 1 else -1
        session_timeout = r.i32()
        if version < 1:
            rebalance_timeout = session_timeout  # v0 had one timeout; Kafka uses it for both
        subscription = r.bytes_()
        assignment = r.bytes_()
        r.tagged_fields()
        members.append(MemberMetadata(member_id, group_instance_id, client_id, client_host,
                                      rebalance_timeout, session_timeout, subscription, assignment))
    return GroupMetadataValue(protocol_type, generation, protocol, leader, current_state_timestamp, tuple(members))


# -- partitioning ------------------------------------------------------------------------


def partition_for_group(group_id: str, num_partitions: int) -> int:
    """The __consumer_offsets partition of a group: Utils.abs(groupId.hashCode()) % n,
    as GroupCoordinatorService.partitionFor computes it, so clients and tools that
    compute it themselves agree with us."""
    if num_partitions <= 0:
        raise ValueError("num_partitions must be positive")
    return kafka_abs(java_string_hash(group_id)) % num_partitions

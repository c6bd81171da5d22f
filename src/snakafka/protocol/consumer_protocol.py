"""The "consumer" embedded protocol: subscriptions (ConsumerProtocolSubscription, in
JoinGroup) and assignments (ConsumerProtocolAssignment, as the group leader writes them
into SyncGroup).

The coordinator reads a member's subscribed topics. Assignments are opaque bytes to the
broker; only admin views (describe, lag) and our own group client read them, so parsing
is lenient: unknown trailing fields are ignored.

ConsumerProtocolSubscription starts with version (i16) and then, in every version, the v0
fields: topics (i32 count, then i16-length strings) and user data. Kafka parses any
version with the v0 schema, since v0 prefixes all later ones; so do we.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def i16(self) -> int:
        value = _I16.unpack_from(self.data, self.pos)[0]
        self.pos += 2
        return int(value)

    def i32(self) -> int:
        value = _I32.unpack_from(self.data, self.pos)[0]
        self.pos += 4
        return int(value)

    def string(self) -> str:
        n = self.i16()
        value = self.data[self.pos : self.pos + n].decode()
        self.pos += n
        return value


@dataclass(frozen=True, slots=True)
class Assignment:
    partitions: dict[str, list[int]] = field(default_factory=dict)


def parse_assignment(data: bytes | None) -> Assignment | None:
    if not data:
        return Assignment()
    try:
        r = _Reader(data)
        r.i16()  # version
        partitions: dict[str, list[int]] = {}
        for _ in range(r.i32()):
            topic = r.string()
            partitions[topic] = [r.i32() for _ in range(r.i32())]
        return Assignment(partitions)
    except (struct.error, UnicodeDecodeError):
        return None


def encode_assignment(partitions: dict[str, list[int]], version: int = 0) -> bytes:
    """For tests and tools: an assignment as a consumer leader would write it."""
    out = bytearray(_I16.pack(version) + _I32.pack(len(partitions)))
    for topic, parts in partitions.items():
        name = topic.encode()
        out += _I16.pack(len(name)) + name + _I32.pack(len(parts))
        for p in parts:
            out += _I32.pack(p)
    out += _I32.pack(-1)  # null user data
    return bytes(out)


CONSUMER_PROTOCOL_TYPE = "consumer"


class SubscriptionError(ValueError):
    pass


def subscribed_topics(subscription: bytes) -> list[str]:
    """The topics of a ConsumerProtocolSubscription; SubscriptionError if malformed."""
    data = memoryview(subscription)
    try:
        (version,) = _I16.unpack_from(data, 0)
        if version < 0:
            raise SubscriptionError(f"unsupported subscription version {version}")
        (count,) = _I32.unpack_from(data, 2)
        if count < 0:
            raise SubscriptionError("null topic array")
        pos = 6
        topics = []
        for _ in range(count):
            (length,) = _I16.unpack_from(data, pos)
            pos += 2
            if length < 0 or pos + length > len(data):
                raise SubscriptionError("bad topic name")
            topics.append(str(data[pos : pos + length], "utf-8"))
            pos += length
        return topics
    except (struct.error, UnicodeDecodeError) as e:
        raise SubscriptionError(str(e)) from None


def encode_subscription(topics: list[str], user_data: bytes | None = None, version: int = 0) -> bytes:
    """A v0-layout subscription (for tests and tools)."""
    parts = [_I16.pack(version), _I32.pack(len(topics))]
    for topic in topics:
        raw = topic.encode()
        parts += (_I16.pack(len(raw)), raw)
    parts.append(_I32.pack(-1) if user_data is None else _I32.pack(len(user_data)) + user_data)
    return b"".join(parts)

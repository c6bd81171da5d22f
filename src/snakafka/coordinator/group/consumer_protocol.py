"""The part of the consumer protocol the coordinator reads: a member's subscribed topics.

ConsumerProtocolSubscription starts with version (i16) and then, in every version, the v0
fields: topics (i32 count, then i16-length strings) and user data. Kafka parses any
version with the v0 schema, since v0 prefixes all later ones; so do we.
"""

from __future__ import annotations

import struct

CONSUMER_PROTOCOL_TYPE = "consumer"

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")


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

"""The "consumer" embedded protocol's assignments (ConsumerProtocolAssignment), as the
group leader writes them into SyncGroup.

The broker treats them as opaque bytes; only admin views (describe, lag) read them, so
parsing is lenient: unknown trailing fields are ignored. Subscriptions are read by the
coordinator itself: snakafka.coordinator.group.consumer_protocol.
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

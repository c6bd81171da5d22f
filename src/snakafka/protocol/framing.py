"""Size-prefixed framing, sans-I/O: bytes in, whole frames out.

Every Kafka request is an i32 size followed by that many bytes. The decoder buffers what
the socket gives it and hands back complete frames; it never touches a socket itself.
"""

from __future__ import annotations

import struct

_SIZE = struct.Struct(">i")


class FrameError(Exception):
    """The stream cannot be framed any more: the connection must be closed."""


class FrameTooLarge(FrameError):
    pass


class FrameDecoder:
    """Buffers incoming bytes and yields complete frames (without the size prefix)."""

    __slots__ = ("_buf", "_max_size")

    def __init__(self, max_size: int) -> None:
        self._buf = bytearray()
        self._max_size = max_size

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Add bytes; return the frames now complete, in order.

        Raises FrameTooLarge when a size prefix exceeds the limit (socket.request.max.bytes)
        and FrameError for a negative size, as Kafka's socket server closes such connections.
        """
        buf = self._buf
        buf += data
        frames: list[bytes] = []
        pos = 0
        end = len(buf)
        while end - pos >= 4:
            (size,) = _SIZE.unpack_from(buf, pos)
            if size < 0:
                raise FrameError(f"invalid negative frame size {size}")
            if size > self._max_size:
                raise FrameTooLarge(f"frame of {size} bytes exceeds socket.request.max.bytes={self._max_size}")
            if end - pos - 4 < size:
                break
            frames.append(bytes(buf[pos + 4 : pos + 4 + size]))
            pos += 4 + size
        if pos:
            del buf[:pos]
        return frames


def frame(payload: bytes | bytearray) -> bytes:
    """Prefix a payload with its i32 size."""
    return _SIZE.pack(len(payload)) + payload

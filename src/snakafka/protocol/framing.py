"""Size-prefixed framing, sans-I/O: bytes in, whole frames out.

Every Kafka request is an i32 size followed by that many bytes. The decoder buffers what
the socket gives it and hands back complete frames; it never touches a socket itself.
Large frames arrive in many reads: chunks are kept as a list and joined once when the
frame is complete, so a 1 MB produce request is copied once, not once per read.
"""

from __future__ import annotations

import struct

_SIZE = struct.Struct(">i")


class FrameError(Exception):
    """The stream cannot be framed any more: the connection must be closed."""


class FrameTooLarge(FrameError):
    pass


Frame = bytes | memoryview


class FrameDecoder:
    """Buffers incoming bytes and yields complete frames (without the size prefix)."""

    __slots__ = ("_chunks", "_len", "_limit_name", "_max_size", "_need")

    def __init__(self, max_size: int, limit_name: str = "socket.request.max.bytes") -> None:
        self._chunks: list[bytes] = []
        self._len = 0
        self._need = 4  # bytes needed before the next frame can be cut
        self._max_size = max_size
        self._limit_name = limit_name  # the config the limit comes from, for the error message

    def set_limit(self, max_size: int, limit_name: str) -> None:
        """Change the frame size bound (a SASL connection's is small until it authenticates)."""
        self._max_size = max_size
        self._limit_name = limit_name

    @property
    def buffered(self) -> int:
        return self._len

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add bytes; return the frames now complete, in order.

        Raises FrameTooLarge when a size prefix exceeds the limit (socket.request.max.bytes)
        and FrameError for a negative size, as Kafka's socket server closes such connections.
        """
        self._chunks.append(bytes(data) if not isinstance(data, bytes) else data)
        self._len += len(data)
        if self._len < self._need:
            return []
        buf = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        view = memoryview(buf)
        frames: list[Frame] = []
        pos, end = 0, len(buf)
        need = 4
        while end - pos >= 4:
            (size,) = _SIZE.unpack_from(buf, pos)
            if size < 0:
                raise FrameError(f"invalid negative frame size {size}")
            if size > self._max_size:
                raise FrameTooLarge(f"frame of {size} bytes exceeds {self._limit_name}={self._max_size}")
            if end - pos - 4 < size:
                need = size + 4
                break
            frames.append(view[pos + 4 : pos + 4 + size])
            pos += 4 + size
        rest = buf[pos:] if pos < end else b""
        self._chunks = [rest] if rest else []
        self._len = len(rest)
        self._need = need
        return frames


def frame(payload: bytes | bytearray) -> bytes:
    """Prefix a payload with its i32 size."""
    return _SIZE.pack(len(payload)) + payload

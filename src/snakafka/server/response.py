"""Responses that are more than one bytes object: a header plus file slices to sendfile.

Fetch responses carry record batches straight from segment files. The response is built
as a list of parts, bytes we encoded and FileSlices of segment files. Small slices are
read and written together with the bytes around them (one syscall); large ones go from
the page cache to the socket with sendfile once the transport's buffer has drained, so
their bytes never pass through Python.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from snakafka.log.partition_log import FileSlice
from snakafka.protocol.errors import ErrorCode
from snakafka.replication.purgatory import DelayedOperation

SENDFILE_MIN_BYTES = 64 * 1024


@dataclass(slots=True)
class Response:
    parts: list[bytes | FileSlice] = field(default_factory=list)
    # The error codes the encoded parts carry (top level, then per partition), for the
    # request metrics: they cannot read them back from the bytes.
    error_codes: list[ErrorCode] = field(default_factory=list)

    def as_bytes(self) -> bytes | None:
        """The whole response as one bytes object when it has no slice large enough for
        sendfile (small slices are read here, as write_to would): the connection can then
        write it at once, from wherever the answer became ready. None otherwise."""
        parts = self.parts
        if len(parts) == 1 and isinstance(parts[0], bytes):
            return parts[0]
        if any(not isinstance(part, bytes) and part.size >= SENDFILE_MIN_BYTES for part in parts):
            return None  # checked before reading anything: write_to reads the small ones once
        return b"".join(part if isinstance(part, bytes) else part.read_bytes() for part in parts)

    async def write_to(self, transport: asyncio.Transport, drained: asyncio.Event) -> None:
        """Write the parts in order. `drained` is set while the transport's buffer is empty
        (the connection sets its write high-water mark to 0)."""
        # sendfile only on plain TCP: on TLS the bytes must go through the transport's encryption
        sock: Any = None if transport.get_extra_info("sslcontext") is not None else transport.get_extra_info("socket")
        pending: list[bytes] = []
        for part in self.parts:
            if isinstance(part, bytes):
                pending.append(part)
                continue
            if sock is None or part.size < SENDFILE_MIN_BYTES:
                pending.append(part.read_bytes())
                continue
            if pending:
                transport.write(b"".join(pending))
                pending = []
            if transport.get_write_buffer_size() > 0:
                await drained.wait()
            if transport.is_closing():
                return
            _sendfile(sock.fileno(), part, transport)
        if pending:
            transport.write(b"".join(pending))


def _sendfile(fileno: int, part: FileSlice, transport: asyncio.Transport) -> None:
    offset, remaining = part.position, part.size
    while remaining > 0:
        try:
            sent = os.sendfile(fileno, part.fd, offset, remaining)
        except BlockingIOError:
            sent = 0
        if sent == 0:
            # The socket is full: hand the rest to the transport, which buffers it.
            transport.write(os.pread(part.fd, remaining, offset))
            return
        offset += sent
        remaining -= sent


@dataclass(slots=True)
class Deferred:
    """A response that waits for a delayed operation (an acks=all produce waiting for the
    ISR, a long-poll fetch). The handler has done its synchronous part (the append, the
    first read); the connection goes on with its next produce requests and sends this
    answer, in request order, once `op` completes: `finish` turns the operation's result into the response body (once:
    `body()` keeps it for the connection and the request metrics alike)."""

    op: DelayedOperation[Any]
    finish: Callable[[Any], Any]
    _body: Any = None
    _built: bool = False

    def body(self) -> Any:
        if not self._built:
            self._body, self._built = self.finish(self.op.result), True
        return self._body

"""Responses that are more than one bytes object: a header plus file slices to sendfile.

Fetch responses carry record batches straight from segment files. The response is built
as a list of parts, bytes we encoded and FileSlices of segment files, so the batch bytes
can go from the page cache to the socket without passing through Python.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from snakafka.log.partition_log import FileSlice


@dataclass(slots=True)
class Response:
    parts: list[bytes | FileSlice] = field(default_factory=list)

    async def write_to(self, transport: asyncio.Transport, can_write: asyncio.Event) -> None:
        """Write the parts in order. Slices are copied with os.sendfile when the
        transport's buffer is empty (bytes go straight from the page cache), else read."""
        sock: socket.socket | None = transport.get_extra_info("socket")
        for part in self.parts:
            if isinstance(part, bytes):
                transport.write(part)
                continue
            if sock is None or transport.get_write_buffer_size() > 0:
                transport.write(part.read_bytes())
                continue
            await _sendfile(sock, part, transport, can_write)


async def _sendfile(sock: Any, part: FileSlice, transport: asyncio.Transport, can_write: asyncio.Event) -> None:
    offset, remaining = part.position, part.size
    fileno = sock.fileno()
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

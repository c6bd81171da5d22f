"""One connection to a Kafka broker: send a kio request, await its response.

Requests are pipelined; responses are matched to requests by correlation id in order,
as aiokafka does: one reader task per connection, owned and cancelled by close().
"""

from __future__ import annotations

import asyncio
import itertools
import struct
from collections import deque
from collections.abc import Callable
from typing import Any, Self, TypeVar

from snakafka.client.security import PLAINTEXT, ClientSecurity, authenticate
from snakafka.protocol import codec

_SIZE = struct.Struct(">i")
T = TypeVar("T")
# Reads a response frame (without size) into (correlation id, body); None: kio's decoder.
Decoder = Callable[[bytes], tuple[int, Any]]


class ConnectionClosed(Exception):
    pass


class BrokerConnection:
    def __init__(self, host: str, port: int, client_id: str = "snakafka-cli", security: ClientSecurity = PLAINTEXT) -> None:
        self.host = host
        self.security = security
        self.port = port
        self.client_id = client_id
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: deque[tuple[int, int, int, asyncio.Future[Any], Decoder | None]] = deque()
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._lost: str | None = None  # why the read loop ended: later sends fail at once

    async def connect(self, timeout: float = 10.0) -> Self:
        context = self.security.ssl_context
        async with asyncio.timeout(timeout):  # unlike wait_for, never turns a cancellation into another error
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, ssl=context, server_hostname=self.host if context is not None else None)
            self._task = asyncio.create_task(self._read_loop())
            if self.security.uses_sasl:
                try:
                    await authenticate(self, self.security)
                except BaseException:
                    await self.close()
                    raise
        return self

    async def send(self, request: Any, timeout: float = 30.0) -> Any:
        if self._writer is None:
            raise ConnectionClosed("not connected")
        if self._lost is not None:
            raise ConnectionClosed(self._lost)
        correlation_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        api_key, version = int(request.__api_key__), int(request.__version__)
        self._pending.append((correlation_id, api_key, version, future, None))
        self._writer.write(codec.encode_request(correlation_id, request, self.client_id))
        await self._writer.drain()
        async with asyncio.timeout(timeout):
            return await future

    async def send_encoded(self, encode: Callable[[int, str], bytes], decode: Callable[[bytes], tuple[int, T]],
                           timeout: float = 30.0) -> T:
        """Send a request framed by `encode(correlation id, client id)` and read its
        answer with `decode` (hand-written codecs of the replication hot path)."""
        if self._writer is None:
            raise ConnectionClosed("not connected")
        if self._lost is not None:
            raise ConnectionClosed(self._lost)
        correlation_id = next(self._ids)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((correlation_id, -1, -1, future, decode))
        self._writer.write(encode(correlation_id, self.client_id))
        await self._writer.drain()
        async with asyncio.timeout(timeout):
            return await future

    @property
    def broken(self) -> bool:
        """True once the connection failed or was closed: callers open a new one."""
        return self._lost is not None

    async def send_no_response(self, request: Any) -> None:
        """Send a request the broker does not answer (Produce with acks=0): it takes a
        correlation id but no place in the queue of awaited responses."""
        if self._writer is None:
            raise ConnectionClosed("not connected")
        self._writer.write(codec.encode_request(next(self._ids), request, self.client_id))
        await self._writer.drain()

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                size = _SIZE.unpack(await self._reader.readexactly(4))[0]
                frame = await self._reader.readexactly(size)
                correlation_id, api_key, version, future, decode = self._pending.popleft()
                got, body = decode(frame) if decode is not None else codec.decode_response(api_key, version, frame)
                if got != correlation_id:
                    raise ConnectionClosed(f"correlation id {got} does not match {correlation_id}")
                if not future.done():
                    future.set_result(body)
        except (asyncio.IncompleteReadError, ConnectionError, ConnectionClosed, OSError, ValueError) as exc:
            self._lost = f"connection to {self.host}:{self.port} lost: {exc!r}"
            while self._pending:
                future = self._pending.popleft()[3]
                if not future.done():
                    future.set_exception(ConnectionClosed(str(exc)))

    async def close(self) -> None:
        self._lost = self._lost or "closed"
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except ConnectionError:
                pass

    async def __aenter__(self) -> Self:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

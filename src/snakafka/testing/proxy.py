"""In-process TCP proxies that can black-hole a link, for fault tests.

A `ProxyHub` runs one asyncio event loop on a daemon thread of its own and hosts any
number of `Link`s. A link listens on a free port of 127.0.0.1 and forwards each
connection it accepts to its target, byte for byte, in both directions. `block()` turns
it into a black hole: connections stay open (no reset, no FIN), new ones are still
accepted, and every byte read from either side is silently dropped, which is what a
network partition looks like to the processes on both ends: silence, until their own
timeouts fire (a Kafka client's request.timeout.ms, a ZooKeeper client's ping timeout).

`heal()` lets bytes through again. A connection that lost bytes while blocked cannot
carry on (the stream it carries is cut mid-frame: real TCP would have retransmitted
them, or given up and reset), so healing closes those connections, as TCP's retransmission
timeout eventually would; untouched connections, and new ones, simply flow again. Most
ends will have given up on a silent connection long before anyway.

Thread-safe: block(), heal() and close() may be called from any thread (the test's).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Self

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024


@dataclass(eq=False)
class _Pipe:
    """One proxied connection: both sockets' writers, and whether it lost bytes."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    tainted: bool = False

    def close(self) -> None:
        for writer in (self.client, self.upstream):
            writer.close()


@dataclass(eq=False)
class Link:
    """One proxied link: `port` (on 127.0.0.1) forwards to `target_host`:`target_port`."""

    name: str
    target_host: str
    target_port: int
    hub: ProxyHub
    port: int = 0
    blocked: bool = False
    dropped_bytes: int = 0
    _server: asyncio.Server | None = None
    _pipes: set[_Pipe] = field(default_factory=set)

    def block(self) -> None:
        """Black-hole the link: from now on bytes in either direction are dropped."""
        self.hub.call(self._set_blocked, True)

    def heal(self) -> None:
        """Let bytes through again; close the connections that lost bytes meanwhile."""
        self.hub.call(self._set_blocked, False)

    def _set_blocked(self, blocked: bool) -> None:
        if blocked != self.blocked:
            log.info("link %s (:%d -> :%d) %s", self.name, self.port, self.target_port,
                     "black-holed" if blocked else "healed")
        self.blocked = blocked
        if not blocked:
            for pipe in [p for p in self._pipes if p.tainted]:
                self._pipes.discard(pipe)
                pipe.close()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.close()  # nothing listens there (the target is down): refused, as it would be
            return
        pipe = _Pipe(writer, up_writer)
        self._pipes.add(pipe)
        try:
            await asyncio.gather(self._pump(reader, up_writer, pipe), self._pump(up_reader, writer, pipe))
        finally:
            self._pipes.discard(pipe)
            pipe.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pipe: _Pipe) -> None:
        try:
            while data := await reader.read(_CHUNK):
                if self.blocked or pipe.tainted:
                    pipe.tainted = True
                    self.dropped_bytes += len(data)
                    continue
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            # One side finished or failed: end both, as a plain TCP relay does.
            pipe.close()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for pipe in list(self._pipes):
            pipe.close()
        self._pipes.clear()


class ProxyHub:
    """An event loop on its own daemon thread hosting links; close() stops it all."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="proxy-hub", daemon=True)
        self._thread.start()
        self.links: list[Link] = []

    def call(self, func: Any, *args: Any) -> None:
        """Run a plain function on the hub's loop and wait for it."""
        async def run() -> None:
            func(*args)
        self._run(run())

    def _run(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=10)

    def link(self, name: str, target_host: str, target_port: int, port: int = 0) -> Link:
        """A new link listening on `port` (0: a free one) and forwarding to the target."""
        link = Link(name, target_host, target_port, self, port)
        self._run(link._start())
        self.links.append(link)
        return link

    def close(self) -> None:
        if not self._thread.is_alive():
            return

        async def close_all() -> None:
            for link in self.links:
                await link._close()
        try:
            self._run(close_all())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

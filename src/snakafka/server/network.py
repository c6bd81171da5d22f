"""The socket server: accepts connections and runs each one's requests in order.

One asyncio Protocol per connection. Frames come out of the sans-I/O FrameDecoder; a
per-connection worker task handles them in order, and responses go back in request order.

Produce requests are pipelined: the worker runs a produce's synchronous part (the append)
at once, in request order, so per-partition order and the idempotent producer's sequence
checks are as if one at a time; an acks=all answer that must wait for the ISR (a
Deferred) joins a FIFO of pending answers that a writer task sends in order as they
complete, while the worker goes on appending the next produce requests. Kafka mutes the
connection instead, so a producer with several requests in flight waits one ISR round
trip per request. Every other request keeps the one-at-a-time rule: it is handled only
after every earlier answer has been sent. A long-poll fetch is a Deferred too: its answer
is written from the completion of its DelayedFetch (inside the append or the follower
fetch that completes it), one event-loop turn sooner than a task waking up to send it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Callable

from snakafka.protocol import codec
from snakafka.protocol.framing import Frame, FrameDecoder, FrameError
from snakafka.security.principal import ANONYMOUS
from snakafka.security.ssl_principal import MappingRuleError
from snakafka.server.authentication import (
    AuthenticationFailed,
    ListenerAuth,
    SaslAuthenticator,
)
from snakafka.server.context import RequestContext
from snakafka.server.dispatch import CloseConnection, Dispatcher
from snakafka.server.handlers.api_versions import unsupported_version_response
from snakafka.server.response import Deferred, Response
from snakafka.server.services import BrokerServices

log = logging.getLogger(__name__)

_MAX_QUEUED = 64
_MAX_PENDING = 64  # answers waiting for the ISR before the worker stops appending more
_PRODUCE_KEY = 0
_ids = itertools.count(1)

Answer = Response | bytes | None


class _Pending:
    """One answer in the connection's FIFO: ready (`answer`), or waiting for `deferred`."""

    __slots__ = ("answer", "deferred", "header")

    def __init__(self, answer: Answer = None, deferred: Deferred | None = None,
                 header: codec.RequestHeader | None = None) -> None:
        self.answer = answer
        self.deferred = deferred
        self.header = header


class Connection(asyncio.Protocol):
    def __init__(self, broker: BrokerServices, dispatcher: Dispatcher, listener: str, max_request_size: int,
                 on_close: Callable[[Connection], None], auth: ListenerAuth | None = None) -> None:
        self.broker = broker
        self.auth = auth
        self.max_request_size = max_request_size
        self.principal = ANONYMOUS
        self.authenticator: SaslAuthenticator | None = None
        self.dispatcher = dispatcher
        self.listener = listener
        self.decoder = FrameDecoder(max_request_size)
        self.queue: deque[Frame] = deque()
        self.worker: asyncio.Task[None] | None = None
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.id = f"conn-{next(_ids)}"
        self._on_close = on_close
        self._paused_reading = False
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._closing = False
        self.pending: deque[_Pending] = deque()  # answers not yet sent, in request order
        self._writer: asyncio.Task[None] | None = None
        self._writing = False  # the writer task is sending a Response (file slices): nothing else may write
        self._idle = asyncio.Event()  # set while `pending` is empty and the writer idle
        self._idle.set()

    # -- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        # High-water mark 0: pause_writing() fires whenever anything is buffered and
        # resume_writing() once it has all gone, so _can_write means "buffer empty":
        # responses then go out one at a time (as Kafka mutes a channel until its
        # response is sent) and sendfile never overtakes buffered bytes.
        # A TLS transport pauses at size >= high (plain TCP at size > high), so it gets 1:
        # "drained" there means every byte was encrypted and handed to the socket transport.
        tls = transport.get_extra_info("sslcontext") is not None
        transport.set_write_buffer_limits(high=1 if tls else 0, low=0)  # type: ignore[attr-defined]
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        if self.auth is not None:
            self._start_authentication(self.auth, transport)

    def _start_authentication(self, auth: ListenerAuth, transport: asyncio.BaseTransport) -> None:
        """TLS has completed its handshake by now: take the client certificate's principal;
        a SASL listener then bounds frames until the SASL exchange completes."""
        if auth.ssl_context is not None:
            try:
                self.principal = auth.ssl_principal(transport.get_extra_info("ssl_object")) or ANONYMOUS
            except MappingRuleError as exc:
                log.info("Failed authentication with %s (%s): %s", self.peer, self.listener, exc)
                self.close()
                return
        self.authenticator = auth.authenticator(self.peer)
        if self.authenticator is not None:
            self.decoder.set_limit(auth.max_receive_size, "sasl.server.max.receive.size")

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.decoder.feed(data)
        except FrameError as exc:
            log.warning("closing %s from %s: %s", self.id, self.peer, exc)
            self.close()
            return
        if not frames:
            return
        self.queue.extend(frames)
        if len(self.queue) >= _MAX_QUEUED and not self._paused_reading and self.transport:
            self.transport.pause_reading()
            self._paused_reading = True
        if self.worker is None or self.worker.done():
            self.worker = asyncio.get_running_loop().create_task(self._work())

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._can_write.set()
        if self.worker is not None and not self.worker.done():
            self.worker.cancel()
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
        self._on_close(self)

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    # -- requests -------------------------------------------------------------------

    async def _work(self) -> None:
        transport = self.transport
        assert transport is not None
        while self.queue and not self._closing:
            frame = self.queue.popleft()
            if self._paused_reading and len(self.queue) < _MAX_QUEUED // 2:
                transport.resume_reading()
                self._paused_reading = False
            # Only produce requests overtake earlier answers; anything else waits until
            # they are all sent (as one request at a time would).
            if self.pending and (len(frame) < 2 or frame[0] != 0 or frame[1] != _PRODUCE_KEY
                                 or len(self.pending) >= _MAX_PENDING):
                await self._idle.wait()
                if self._closing:
                    return
            authenticator = self.authenticator
            try:
                if authenticator is not None and not authenticator.complete:
                    response = await self._authenticate(authenticator, frame)
                else:
                    response = await self._handle(frame)
            except AuthenticationFailed as exc:
                await self._fail_authentication(authenticator, exc)
                return
            except CloseConnection as exc:
                log.warning("closing %s from %s: %s", self.id, self.peer, exc)
                self.close()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("unexpected error handling a request on %s from %s; closing it", self.id, self.peer)
                self.close()
                return
            if isinstance(response, _Pending):
                self._enqueue(response)
            elif self.pending:
                if response is not None:
                    self._enqueue(_Pending(response))
            elif response is not None:
                await self._write(response)

    def _enqueue(self, pending: _Pending) -> None:
        self.pending.append(pending)
        self._idle.clear()
        if pending.deferred is not None:
            pending.deferred.op.add_done_callback(self._pump)
        self._pump()

    def _pump(self) -> None:
        """Send the answers ready at the head of the FIFO now, synchronously (from the
        completion of a delayed op, e.g. inside the follower fetch that moved the high
        watermark): consecutive ready answers go out in one write. What cannot go now (an
        incomplete head, a full socket, file slices to sendfile) is left to the writer task."""
        transport = self.transport
        if self._writing or self._closing or transport is None:
            return
        ready: list[bytes] = []
        while self.pending and self._can_write.is_set():
            head = self.pending[0]
            if head.deferred is not None and not head.deferred.op.completed:
                break
            answer = self._answer_of(head)
            if answer is None:
                self.pending.popleft()
                continue
            if not isinstance(answer, bytes):
                data = answer.as_bytes()  # no large file slice to sendfile: write it now
                if data is None:
                    head.answer, head.deferred = answer, None  # built: the writer task sends it
                    break
                answer = data
            ready.append(answer)
            self.pending.popleft()
        if ready and not transport.is_closing():
            transport.write(b"".join(ready) if len(ready) > 1 else ready[0])
        if not self.pending:
            self._idle.set()
        elif self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._send_pending())

    async def _send_pending(self) -> None:
        """The FIFO's slow path: wait for the head's op, for the socket to drain, or send
        a Response of file slices; everything ready is sent by _pump."""
        try:
            while self.pending and not self._closing:
                head = self.pending[0]
                if head.deferred is not None and not head.deferred.op.completed:
                    await head.deferred.op.wait()  # its completion pumps
                    continue
                if not self._can_write.is_set():
                    await self._can_write.wait()
                self._pump()
                if not self.pending or self.pending[0] is not head:
                    continue
                if isinstance(head.answer, Response) and head.deferred is None:
                    self._writing = True
                    try:
                        await self._write(head.answer)
                    finally:
                        self._writing = False
                    self.pending.popleft()
                    self._pump()
                else:
                    await asyncio.sleep(0)  # the socket is full: wait for it above
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("unexpected error answering a request on %s from %s; closing it", self.id, self.peer)
            self.close()
        finally:
            if not self.pending or self._closing:
                self._idle.set()

    @staticmethod
    def _answer_of(pending: _Pending) -> Answer:
        if pending.deferred is None:
            return pending.answer
        assert pending.header is not None and pending.deferred.op.completed
        header = pending.header
        body = pending.deferred.body()
        if isinstance(body, Response):
            return body
        return codec.encode_response(header.api_key, header.api_version, header.correlation_id, body)

    async def _authenticate(self, authenticator: SaslAuthenticator, frame: Frame) -> Answer | _Pending:
        outcome = await authenticator.handle(frame)
        if outcome.forward:  # ApiVersions
            return await self._handle(frame)
        if authenticator.complete:
            assert authenticator.principal is not None
            self.principal = authenticator.principal
            self.decoder.set_limit(self.max_request_size, "socket.request.max.bytes")
        return outcome.respond

    async def _fail_authentication(self, authenticator: SaslAuthenticator | None, exc: AuthenticationFailed) -> None:
        """Kafka's way: the error response, one log line, then the connection closed after
        connection.failed.authentication.delay.ms."""
        mechanism = authenticator.mechanism if authenticator is not None else None
        log.info("Failed authentication with %s (listener %s, mechanism %s, user %s): %s", self.peer, self.listener,
                 mechanism, exc.user, exc)
        if exc.response is not None:
            await self._write(exc.response)
        delay_ms = int(self.broker.config.connection_failed_authentication_delay_ms)
        if delay_ms > 0 and exc.response is not None:
            await asyncio.sleep(delay_ms / 1000)
        self.close()

    async def _handle(self, frame: Frame) -> Answer | _Pending:
        api = self.dispatcher.lookup(frame)
        if api is None:
            correlation_id = codec.peek_correlation_id(frame)
            log.info("%s from %s asked for an ApiVersions version we lack; answering v0", self.id, self.peer)
            return unsupported_version_response(correlation_id, self.dispatcher)
        try:
            header, request = codec.decode_request(frame)
        except codec.RequestDecodeError as exc:
            raise CloseConnection(str(exc)) from exc
        ctx = RequestContext(header=header, broker=self.broker, client_host=self.peer.rsplit(":", 1)[0],
                             connection_id=self.id, listener=self.listener, principal=self.principal)
        body = await api.handler(ctx, request)
        if body is None:
            return None  # acks=0 produce: no response at all
        if isinstance(body, Response):
            return body
        if isinstance(body, Deferred):
            return _Pending(deferred=body, header=header)
        return codec.encode_response(header.api_key, header.api_version, header.correlation_id, body)

    async def _write(self, response: Response | bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        data = response if isinstance(response, bytes) else response.as_bytes()
        if data is not None:
            transport.write(data)
        else:
            assert isinstance(response, Response)
            await response.write_to(transport, self._can_write)
        if not self._can_write.is_set():
            await self._can_write.wait()

    def close(self) -> None:
        self._closing = True
        self._idle.set()
        if self.transport is not None:
            self.transport.close()


class SocketServer:
    """Accepts the connections of one listener."""

    def __init__(self, broker: BrokerServices, dispatcher: Dispatcher, listener: str, host: str, port: int,
                 max_request_size: int, auth: ListenerAuth | None = None) -> None:
        self.broker = broker
        self.auth = auth  # None: PLAINTEXT, no authentication
        self.dispatcher = dispatcher
        self.listener = listener
        self.host = host
        self.port = port
        self.max_request_size = max_request_size
        self.server: asyncio.base_events.Server | None = None
        self.connections: set[Connection] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # TLS by the server itself, not loop.start_tls per connection (which would let us log a
        # failed handshake): under uvloop a ClientHello could reach the Connection before
        # start_tls took the transport over, in about one connection out of twenty.
        ssl_context = self.auth.ssl_context if self.auth is not None else None
        self.server = await loop.create_server(self._new_connection, self.host, self.port, reuse_address=True, backlog=1024,
                                               ssl=ssl_context, ssl_handshake_timeout=10.0 if ssl_context else None)
        sock = self.server.sockets[0]
        self.port = sock.getsockname()[1]
        log.info("listener %s on %s:%d", self.listener, self.host, self.port)

    def _new_connection(self) -> Connection:
        conn = Connection(self.broker, self.dispatcher, self.listener, self.max_request_size, self.connections.discard,
                          self.auth)
        self.connections.add(conn)
        return conn

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for conn in list(self.connections):
            conn.close()
        if self.server is not None:
            await self.server.wait_closed()

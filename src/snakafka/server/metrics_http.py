"""metrics.http.listener: /metrics, /healthz and /readyz over HTTP, on the broker's loop.

- /metrics: the broker's Prometheus families (metrics_collector.py) in Prometheus' text
  format (OpenMetrics if the Accept header asks for it), from a registry of this broker's own (never prometheus_client's global one, so
  several brokers in one process keep their series apart).
- /healthz: 200 while the process serves HTTP at all (a liveness probe).
- /readyz: 200 once the broker is registered in the cluster, its metadata is loaded and
  so are the partitions it leads (and the consumer groups it coordinates); 503 with the
  reason until then, and again while it shuts down (a readiness probe).

It starts first thing in Broker.start(), before the metadata store connects, so /readyz
answers 503 while a broker waits for ZooKeeper or recovers its logs. HTTP/1.1 with one
request per connection (`Connection: close`), GET and HEAD only: enough for Prometheus,
Kubernetes probes and curl, and no web framework on the broker. Scraping runs on the
broker's loop, like the state it reads, and never blocks it on I/O.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from snakafka.cluster.model import NO_LEADER
from snakafka.server.metrics_collector import BrokerCollector
from snakafka.server.request_metrics import RequestMetrics

if TYPE_CHECKING:
    from snakafka.server.services import BrokerServices

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16 * 1024
READ_TIMEOUT_S = 10.0
TEXT = "text/plain; charset=utf-8"


def readiness(broker: Any) -> str | None:
    """None when the broker is ready for traffic, else why not (one line)."""
    if getattr(broker, "stopping", False):
        return "shutting down"
    if not getattr(broker, "started", False):
        return "starting (metadata store, logs, listeners, registration)"
    me = broker.config.broker_id
    if me not in broker.cache.brokers:
        return f"broker {me} is not registered in the cluster"
    local = broker.replica_manager.partitions
    missing = [(name, p) for name, topic in broker.cache.topics.items() for p, state in topic.partitions.items()
               if state.leader == me and state.leader != NO_LEADER and (name, p) not in local]
    if missing:
        return f"{len(missing)} partitions led here are not loaded yet (e.g. {missing[0][0]}-{missing[0][1]})"
    loading = [p for p in broker.groups.owned_partitions() if broker.groups.is_loading(p)]
    if loading:
        return f"loading the consumer groups of {len(loading)} __consumer_offsets partitions"
    return None


class MetricsHttpServer:
    def __init__(self, broker: BrokerServices, requests: RequestMetrics, host: str, port: int) -> None:
        self.broker = broker
        self.host = host
        self.port = port
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(BrokerCollector(broker, requests))
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host or None, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("broker %d: metrics and health on http://%s:%d (/metrics, /healthz, /readyz)",
                 self.broker.config.broker_id, self.host or "0.0.0.0", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                return
            status, content_type, body, head_only = self.respond(head)
            writer.write(_response_head(status, content_type, len(body)) + (b"" if head_only else body))
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            if task is not None:
                self._handlers.discard(task)
            writer.close()

    def respond(self, head: bytes) -> tuple[HTTPStatus, str, bytes, bool]:
        """(status, content type, body, HEAD?) for a request head: the routing, free of I/O."""
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = request_line.split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return HTTPStatus.BAD_REQUEST, TEXT, b"bad request\n", False
        method, target = parts[0], parts[1]
        if method not in ("GET", "HEAD"):
            return HTTPStatus.METHOD_NOT_ALLOWED, TEXT, b"only GET and HEAD\n", False
        head_only = method == "HEAD"
        path = target.split("?", 1)[0]
        if path == "/metrics":
            # Prometheus' text format, or OpenMetrics when the scraper's Accept header asks for it
            encode, content_type = choose_encoder(_header(header_lines, "accept"))
            return HTTPStatus.OK, content_type, encode(self.registry), head_only
        if path == "/healthz":
            return HTTPStatus.OK, TEXT, b"ok\n", head_only
        if path == "/readyz":
            reason = readiness(self.broker)
            if reason is None:
                return HTTPStatus.OK, TEXT, b"ready\n", head_only
            return HTTPStatus.SERVICE_UNAVAILABLE, TEXT, f"not ready: {reason}\n".encode(), head_only
        return HTTPStatus.NOT_FOUND, TEXT, b"not found: try /metrics, /healthz or /readyz\n", head_only


def _header(lines: list[str], name: str) -> str:
    """A request header's value ("" if absent): names are case-insensitive."""
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name:
            return value.strip()
    return ""


def _response_head(status: HTTPStatus, content_type: str, length: int) -> bytes:
    return (f"HTTP/1.1 {status.value} {status.phrase}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n").encode("latin-1")

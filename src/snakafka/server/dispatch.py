"""From a request frame to a response frame: version checks, decoding, the handler table.

Kafka's rules for bad requests: an ApiVersions request of a version we lack gets a v0
answer with UNSUPPORTED_VERSION and our version ranges (so the client can retry with one
we have); any other unknown api key or version, or a body that does not parse, closes
the connection (one log line, other clients unaffected).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from snakafka.protocol import codec
from snakafka.protocol.framing import Frame
from snakafka.server.context import RequestContext

if TYPE_CHECKING:
    from snakafka.server.request_metrics import RequestMetrics

log = logging.getLogger(__name__)

Handler = Callable[[RequestContext, Any], Awaitable[Any]]


class CloseConnection(Exception):
    """The connection must be closed after this request (Kafka's answer to bad frames)."""


class LazyHandler:
    """The handler `function` of module snakafka.server.handlers.`module`, named as
    "module:function" and imported on the first request that calls it.

    The handler modules and the kio schemas they import are a good part of a broker's
    import time; loading each on first use keeps them out of the start (an EmbeddedBroker
    in a test session) and costs nothing for the APIs no client calls. `resolve` loads it
    at once (tests check that every name in the table resolves).
    """

    __slots__ = ("_handler", "target")

    def __init__(self, target: str) -> None:
        self.target = target
        self._handler: Handler | None = None

    def resolve(self) -> Handler:
        handler = self._handler
        if handler is None:  # two threads may both import: the import system makes that safe
            module, _, name = self.target.partition(":")
            handler = self._handler = getattr(importlib.import_module(f"snakafka.server.handlers.{module}"), name)
        return handler

    def __call__(self, ctx: RequestContext, request: Any) -> Awaitable[Any]:
        return (self._handler or self.resolve())(ctx, request)

    def __repr__(self) -> str:
        return f"LazyHandler({self.target!r})"


@dataclass(frozen=True, slots=True)
class Api:
    key: int
    min_version: int
    max_version: int
    handler: Handler
    # False: served but not listed by ApiVersions (broker-to-controller requests, which
    # Kafka offers on its controller listener only, never to clients).
    advertised: bool = True

    def supports(self, version: int) -> bool:
        return self.min_version <= version <= self.max_version


class Dispatcher:
    def __init__(self, apis: list[Api], metrics: RequestMetrics | None = None) -> None:
        """With `metrics`, every handler is wrapped to be timed and counted: the request
        path's only metrics hook (none at all without it)."""
        if metrics is not None:
            apis = [replace(api, handler=metrics.wrap(api.key, api.handler)) for api in apis]
        self.apis = {api.key: api for api in apis}

    def lookup(self, frame: Frame) -> Api | None:
        """The Api of a frame, None for an ApiVersions of a version we lack; raises
        CloseConnection for an unknown key or version."""
        try:
            api_key, api_version = codec.peek_api(frame)
        except codec.RequestDecodeError as exc:
            raise CloseConnection(str(exc)) from exc
        api = self.apis.get(api_key)
        if api is None:
            raise CloseConnection(f"unknown api key {api_key}")
        if not api.supports(api_version):
            if api_key == codec.API_VERSIONS_KEY:
                return None
            raise CloseConnection(
                f"unsupported version {api_version} of api key {api_key} (we have {api.min_version}-{api.max_version})"
            )
        return api

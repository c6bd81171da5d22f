"""From a request frame to a response frame: version checks, decoding, the handler table.

Kafka's rules for bad requests: an ApiVersions request of a version we lack gets a v0
answer with UNSUPPORTED_VERSION and our version ranges (so the client can retry with one
we have); any other unknown api key or version, or a body that does not parse, closes
the connection (one log line, other clients unaffected).
"""

from __future__ import annotations

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

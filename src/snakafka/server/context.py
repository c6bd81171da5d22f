"""What a request handler gets besides its request: who asked, which version, the broker.

`build` (re-exported from protocol.codec) fills a kio response class of whatever version the client asked for from one set
of keyword arguments, dropping fields that version lacks, so one handler serves all the
versions it advertises.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from functools import cache
from types import ModuleType

from kio.index import load_payload_module
from kio.static.constants import EntityType

from snakafka.protocol.codec import RequestHeader, build, has_field
from snakafka.security.principal import ANONYMOUS, KafkaPrincipal
from snakafka.server.services import BrokerServices

__all__ = ["ZERO", "RequestContext", "build", "has_field", "response_module"]

ZERO = datetime.timedelta(0)


@dataclass(slots=True)
class RequestContext:
    header: RequestHeader
    broker: BrokerServices
    client_host: str
    connection_id: str
    listener: str  # the listener the request came in on: answers name brokers by its endpoints
    principal: KafkaPrincipal = ANONYMOUS  # who the connection authenticated as (authorization checks it)

    @property
    def version(self) -> int:
        return self.header.api_version

    @property
    def schema(self) -> ModuleType:
        """The kio response module of this request's api key and version."""
        return response_module(self.header.api_key, self.header.api_version)


@cache
def response_module(api_key: int, api_version: int) -> ModuleType:
    return load_payload_module(api_key, api_version, EntityType.response)



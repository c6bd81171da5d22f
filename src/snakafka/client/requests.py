"""Building kio requests for our client: one place for what `snakafka groups` and the
console tools share.

kio's generated classes differ per version; `request()` fills one from keyword
arguments and drops the fields that version lacks (snakafka.protocol.codec.build, the
same helper the broker's handlers use for responses), so callers name fields once.
"""

from __future__ import annotations

import datetime
import importlib
from types import ModuleType
from typing import Any

from kio.static.primitive import i32Timedelta

from snakafka.protocol.codec import build, request_type

__all__ = ["build", "millis", "parse_bootstrap", "request", "schema"]


def request(api_key: int, version: int, **values: Any) -> Any:
    """A kio request of `api_key` at `version` with the given field values."""
    return build(request_type(api_key, version), **values)


def schema(api_key: int, version: int) -> ModuleType:
    """kio's request module of `api_key` at `version`, for its nested entity classes."""
    return importlib.import_module(request_type(api_key, version).__module__)


def millis(ms: int) -> i32Timedelta:
    """A duration field (timeouts, max wait) as kio wants it."""
    return i32Timedelta.parse(datetime.timedelta(milliseconds=ms))


def parse_bootstrap(servers: str) -> list[tuple[str, int]]:
    """`host:port[,host:port...]` as bootstrap.servers takes it; ValueError if malformed.

    A missing host means 127.0.0.1 (as `snakafka groups` always accepted ":9092")."""
    result = []
    for item in servers.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"bootstrap server {item!r} is not HOST:PORT")
        result.append((host.strip("[]") or "127.0.0.1", int(port)))
    if not result:
        raise ValueError("no bootstrap server given")
    return result

"""Per-request metrics (Kafka's kafka.network RequestMetrics): how many requests of each
api and version, how long they took, and which error codes their responses carried.

The one hook on the request path: `RequestMetrics.wrap` wraps an api's handler when the
Dispatcher is built with metrics, so handlers and the connection code know nothing of
metrics, and a broker without `metrics.http.listener` pays nothing. Recording is plain
int arithmetic on slotted objects (a clock read, a bisect, a few increments, and a walk
of the response's error codes), cheap next to decoding the request; the collector
(metrics_collector.py) turns the counts into Prometheus families at scrape time.

Names follow Kafka: the `request` label is the api's name (Produce, Fetch, ...), and a
Fetch also counts as FetchConsumer or FetchFollower, as Kafka's RequestChannel does.
"""

from __future__ import annotations

import dataclasses
import typing
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from time import perf_counter
from typing import Any

from kio.index import api_key_map

from snakafka.server.context import RequestContext
from snakafka.server.response import Deferred, Response

Handler = Callable[[RequestContext, Any], Awaitable[Any]]

# Upper bounds (ms) of the request time histogram's buckets; +Inf is implied.
TIME_BUCKETS_MS: tuple[float, ...] = (0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)
FETCH_KEY = 1


def api_name(key: int) -> str:
    """Kafka's ApiKeys name of an api key: 'list_offsets' -> 'ListOffsets'."""
    snake = api_key_map.get(key)
    return "".join(part.capitalize() for part in snake.split("_")) if snake else f"Api{key}"


@dataclass(slots=True)
class RequestStats:
    """One `request` label's counts."""

    name: str
    by_version: dict[int, int] = field(default_factory=dict)
    buckets: list[int] = field(default_factory=lambda: [0] * (len(TIME_BUCKETS_MS) + 1))
    time_sum_ms: float = 0.0
    errors: dict[Enum, int] = field(default_factory=dict)

    def observe(self, version: int, elapsed_ms: float) -> None:
        by_version = self.by_version
        by_version[version] = by_version.get(version, 0) + 1
        self.buckets[bisect_left(TIME_BUCKETS_MS, elapsed_ms)] += 1
        self.time_sum_ms += elapsed_ms

    @property
    def count(self) -> int:
        return sum(self.by_version.values())


class RequestMetrics:
    def __init__(self) -> None:
        self.stats: dict[str, RequestStats] = {}

    def _stats(self, name: str) -> RequestStats:
        stats = self.stats.get(name)
        if stats is None:
            stats = self.stats[name] = RequestStats(name)
        return stats

    def wrap(self, key: int, handler: Handler) -> Handler:
        """The handler, timed and counted (one coroutine layer: this is every request's path)."""
        main = self._stats(api_name(key))
        consumer = follower = None
        if key == FETCH_KEY:
            consumer, follower = self._stats("FetchConsumer"), self._stats("FetchFollower")

        def observe(ctx: RequestContext, request: Any, start: float, body: Any) -> None:
            elapsed = (perf_counter() - start) * 1000
            version = ctx.header.api_version
            main.observe(version, elapsed)
            if consumer is not None and follower is not None:
                (follower if request.replica_id >= 0 else consumer).observe(version, elapsed)
            if body is not None:
                count_errors(body, main.errors)

        async def metered(ctx: RequestContext, request: Any) -> Any:
            start = perf_counter()
            body = None
            try:
                body = await handler(ctx, request)
                return body
            finally:
                if isinstance(body, Deferred):  # acks=all produce, long-poll fetch: timed until answered
                    deferred = body
                    deferred.op.add_done_callback(lambda: observe(ctx, request, start, deferred.body()))
                else:
                    observe(ctx, request, start, body)

        return metered


def count_errors(body: Any, errors: dict[Enum, int]) -> None:
    """Count every error code a response carries (Kafka's AbstractResponse.errorCounts:
    the top-level one and those of its topics and partitions). A Fetch response, sent as
    file slices, brings its codes along (Response.error_codes)."""
    if isinstance(body, Response):
        for code in body.error_codes:
            errors[code] = errors.get(code, 0) + 1
        return
    plan = _PLANS.get(type(body))
    if plan is None:
        plan = _PLANS[type(body)] = _walk_plan(type(body))
    error_fields, nested = plan
    for name in error_fields:
        code = getattr(body, name)
        if code is not None:
            errors[code] = errors.get(code, 0) + 1
    for name in nested:
        value = getattr(body, name)
        if isinstance(value, tuple):
            for item in value:
                count_errors(item, errors)
        elif value is not None:
            count_errors(value, errors)


_PLANS: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _walk_plan(cls: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A kio message class's error-code fields and its fields holding nested messages,
    worked out once per class from its type hints (bytes and others: nothing)."""
    if not dataclasses.is_dataclass(cls):
        return (), ()
    hints = typing.get_type_hints(cls)
    errors, nested = [], []
    for f in dataclasses.fields(cls):
        hint = hints.get(f.name)
        if f.name.endswith("error_code"):
            errors.append(f.name)
        elif _holds_messages(hint):
            nested.append(f.name)
    return tuple(errors), tuple(nested)


def _holds_messages(hint: Any) -> bool:
    """True for a message class, a tuple of them or an optional one."""
    if isinstance(hint, type):
        return dataclasses.is_dataclass(hint)
    return any(_holds_messages(arg) for arg in typing.get_args(hint) if arg is not Ellipsis)

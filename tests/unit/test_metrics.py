"""The metrics pieces that need no broker: api names, error counting over kio responses,
the dispatch wrapper's counts, the HTTP routing, readiness rules, the listener key and
the JSON log formatter."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode
from kio.schema.metadata.v12 import response as metadata
from kio.schema.types import BrokerId, TopicName
from kio.static.primitive import i32, i32Timedelta
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from snakafka.cli.options import log_formatter
from snakafka.cluster.model import PartitionState
from snakafka.config.broker import BrokerConfig, ConfigError, parse_http_listener
from snakafka.server.dispatch import Api, Dispatcher
from snakafka.server.metrics_http import MetricsHttpServer, readiness
from snakafka.server.request_metrics import (
    TIME_BUCKETS_MS,
    RequestMetrics,
    api_name,
    count_errors,
)
from snakafka.server.response import Response


def test_api_names_are_kafkas() -> None:
    assert [api_name(k) for k in (0, 1, 2, 18, 22, 23, 60)] == [
        "Produce", "Fetch", "ListOffsets", "ApiVersions", "InitProducerId", "OffsetForLeaderEpoch", "DescribeCluster"]


def _partition(error: ErrorCode, index: int) -> metadata.MetadataResponsePartition:
    return metadata.MetadataResponsePartition(error_code=error, partition_index=i32(index), leader_id=BrokerId(0),
                                              leader_epoch=i32(0), replica_nodes=(), isr_nodes=(), offline_replicas=())


def _topic(error: ErrorCode, partitions: tuple[metadata.MetadataResponsePartition, ...]) -> metadata.MetadataResponseTopic:
    return metadata.MetadataResponseTopic(error_code=error, name=TopicName("t"), topic_id=uuid.uuid4(), is_internal=False,
                                          partitions=partitions, topic_authorized_operations=i32(0))


def test_error_codes_are_counted_at_every_level() -> None:
    body = metadata.MetadataResponse(
        throttle_time=i32Timedelta.parse(datetime.timedelta(0)), brokers=(), cluster_id=None, controller_id=BrokerId(0),
        topics=(_topic(ErrorCode.none, (_partition(ErrorCode.none, 0), _partition(ErrorCode.leader_not_available, 1))),
                _topic(ErrorCode.unknown_topic_or_partition, ())),
    )
    errors: dict[Any, int] = {}
    count_errors(body, errors)
    assert errors == {ErrorCode.none: 2, ErrorCode.leader_not_available: 1, ErrorCode.unknown_topic_or_partition: 1}
    fetch: dict[Any, int] = {}
    count_errors(Response([b"x"], error_codes=[ErrorCode.none, ErrorCode.offset_out_of_range]), fetch)
    assert fetch == {ErrorCode.none: 1, ErrorCode.offset_out_of_range: 1}


@dataclass
class FakeRequest:
    replica_id: int = -1


@dataclass
class FakeContext:
    header: Any = field(default_factory=lambda: SimpleNamespace(api_version=11))


def test_the_dispatcher_wraps_handlers_only_with_metrics() -> None:
    async def fetch(ctx: Any, request: Any) -> Response:
        return Response([], error_codes=[ErrorCode.none])

    api = Api(1, 4, 12, fetch)
    assert Dispatcher([api]).apis[1].handler is fetch  # no metrics: nothing on the request path
    metrics = RequestMetrics()
    wrapped = Dispatcher([api], metrics).apis[1].handler
    asyncio.run(wrapped(FakeContext(), FakeRequest(replica_id=-1)))  # type: ignore[arg-type]
    asyncio.run(wrapped(FakeContext(), FakeRequest(replica_id=2)))  # type: ignore[arg-type]
    stats = metrics.stats
    assert stats["Fetch"].by_version == {11: 2} and stats["Fetch"].errors == {ErrorCode.none: 2}
    assert stats["FetchConsumer"].count == 1 and stats["FetchFollower"].count == 1
    assert sum(stats["Fetch"].buckets) == 2


def test_a_failing_handler_is_still_counted_and_timed() -> None:
    async def broken(ctx: Any, request: Any) -> Any:
        raise RuntimeError("boom")

    metrics = RequestMetrics()
    wrapped = metrics.wrap(3, broken)
    with pytest.raises(RuntimeError):
        asyncio.run(wrapped(FakeContext(), FakeRequest()))  # type: ignore[arg-type]
    assert metrics.stats["Metadata"].count == 1 and metrics.stats["Metadata"].errors == {}


@given(st.lists(st.floats(min_value=0, max_value=100_000, allow_nan=False), max_size=50))
def test_every_time_lands_in_the_first_bucket_that_holds_it(times: list[float]) -> None:
    metrics = RequestMetrics()
    stats = metrics._stats("Produce")
    for t in times:
        stats.observe(9, t)
    bounds = (*TIME_BUCKETS_MS, float("inf"))
    expected = [sum(1 for t in times if (bounds[i - 1] if i else -1) < t <= bounds[i]) for i in range(len(bounds))]
    assert stats.buckets == expected


def _broker(*, started: bool = True, stopping: bool = False, registered: bool = True, loaded: bool = True,
            loading_groups: bool = False) -> Any:
    state = PartitionState((0,), 0, 0, (0,))
    return SimpleNamespace(
        started=started, stopping=stopping, config=SimpleNamespace(broker_id=0),
        cache=SimpleNamespace(brokers={0: object()} if registered else {},
                              topics={"t": SimpleNamespace(partitions={0: state, 1: PartitionState((1,), 1, 0, (1,))})}),
        replica_manager=SimpleNamespace(partitions={("t", 0): object()} if loaded else {}),
        groups=SimpleNamespace(owned_partitions=lambda: {3}, is_loading=lambda p: loading_groups),
    )


def test_readiness_rules() -> None:
    assert readiness(_broker()) is None
    assert readiness(_broker(started=False)) == "starting (metadata store, logs, listeners, registration)"
    assert readiness(_broker(stopping=True)) == "shutting down"
    assert readiness(_broker(registered=False)) == "broker 0 is not registered in the cluster"
    assert readiness(_broker(loaded=False)) == "1 partitions led here are not loaded yet (e.g. t-0)"
    assert readiness(_broker(loading_groups=True)) == "loading the consumer groups of 1 __consumer_offsets partitions"


@pytest.mark.parametrize(("head", "status"), [
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200),
    (b"HEAD /readyz HTTP/1.1\r\n\r\n", 503),
    (b"GET /metrics?x=1 HTTP/1.0\r\n\r\n", 200),
    (b"GET /other HTTP/1.1\r\n\r\n", 404),
    (b"DELETE /metrics HTTP/1.1\r\n\r\n", 405),
    (b"garbage\r\n\r\n", 400),
])
def test_http_routing(head: bytes, status: int) -> None:
    server = MetricsHttpServer(_broker(started=False), RequestMetrics(), "127.0.0.1", 0)  # type: ignore[arg-type]
    got, _, body, head_only = server.respond(head)
    assert got == status
    assert head_only == head.startswith(b"HEAD")
    if head.startswith(b"GET /metrics"):
        assert b"# TYPE kafka_network_requestmetrics_requests_total counter" in body


def test_openmetrics_when_the_scraper_asks_for_it() -> None:
    server = MetricsHttpServer(_broker(started=False), RequestMetrics(), "127.0.0.1", 0)  # type: ignore[arg-type]
    head = (b"GET /metrics HTTP/1.1\r\nHost: x\r\nACCEPT: application/openmetrics-text; version=1.0.0,"
            b"text/plain;version=0.0.4;q=0.5\r\n\r\n")
    status, content_type, body, _ = server.respond(head)
    assert status == 200 and content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")
    families = {f.name for f in text_string_to_metric_families(body.decode())}
    assert "kafka_network_requestmetrics_requests" in families


def test_metrics_listener_key() -> None:
    assert parse_http_listener("http://127.0.0.1:9404") == ("127.0.0.1", 9404)
    assert parse_http_listener("http://:0") == ("", 0)
    assert BrokerConfig.load(None, {}).metrics_http_listener is None
    for bad in ("127.0.0.1:9404", "https://h:1", "http://h:99999", "http://h"):
        with pytest.raises(ConfigError, match="configuration metrics.http.listener"):
            BrokerConfig.load(None, {"metrics.http.listener": bad})


def test_json_log_lines() -> None:
    record = logging.LogRecord("snakafka.server.broker", logging.WARNING, __file__, 1, "broker %d: %s", (3, "x\ny"), None)
    line = log_formatter("json", broker_id=3).format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert {k: parsed[k] for k in ("level", "logger", "message", "broker_id")} == {
        "level": "WARNING", "logger": "snakafka.server.broker", "message": "broker 3: x\ny", "broker_id": 3}
    assert parsed["time"].endswith("+00:00")
    assert log_formatter("text").format(record).endswith("WARNING snakafka.server.broker: broker 3: x\ny")
    with pytest.raises(ConfigError, match="logging.format"):
        BrokerConfig.load(None, {"logging.format": "xml"})

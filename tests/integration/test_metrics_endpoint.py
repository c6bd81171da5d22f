"""metrics.http.listener: /metrics scraped and parsed with prometheus-client's own parser
after a load from a real client (confluent-kafka), the counters checked against exactly
what was produced and consumed; /healthz and /readyz on a running broker; two brokers in
one process keep their series apart (each has its own registry).

The waiting-for-ZooKeeper 503 of /readyz and the JSON log lines are in
tests/cluster/test_readiness.py (they need broker processes and a ZooKeeper).
"""

from __future__ import annotations

import asyncio
import datetime
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from kio.schema.errors import ErrorCode
from kio.schema.produce.v9 import request as produce_v9
from kio.schema.types import TopicName
from kio.static.primitive import Records, i16, i32, i32Timedelta
from prometheus_client.parser import text_string_to_metric_families
from support.batches import make_batch

from integration.helpers import Send, confluent_create_topic, confluent_produce
from snakafka.client.connection import BrokerConnection
from snakafka.testing import EmbeddedBroker, EmbeddedBrokerError

RECORDS = 1000
VALUE = b"v" * 100
OFFSETS_PARTITIONS = 3

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    overrides = {"metrics.http.listener": "http://127.0.0.1:0", "offsets.topic.num.partitions": str(OFFSETS_PARTITIONS)}
    with EmbeddedBroker(overrides=overrides) as b:
        yield b


def get(url: str) -> tuple[int, str, str]:
    """(status, content type, body) of a GET, 503s included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def scrape(broker: EmbeddedBroker) -> Samples:
    """Every sample of /metrics, parsed by prometheus-client: (name, labels) -> value."""
    assert broker.metrics_url is not None
    status, content_type, text = get(f"{broker.metrics_url}/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` (other labels summed over)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return total(after, name, **labels) - total(before, name, **labels)


def consume_all(bootstrap: str, topic: str, group: str, count: int, timeout: float = 30.0) -> int:
    """Read up to `count` records of partition 0 from offset 0 (assigned, committing
    nothing); returns how many were read."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "fetch.wait.max.ms": 100, "socket.timeout.ms": 5000})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        read = 0
        deadline = time.monotonic() + timeout
        while read < count and time.monotonic() < deadline:
            for message in consumer.consume(count - read, timeout=0.5):
                assert message.error() is None, message.error()
                read += 1
        return read
    finally:
        consumer.close()


def commit(bootstrap: str, topic: str, group: str, offset: int) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
    finally:
        consumer.close()


def raw_produce(bootstrap: str, topic: str, partition: int) -> ErrorCode:
    """One Produce request (acks=1) of one record to `partition`: its error code."""
    host, port = bootstrap.rsplit(":", 1)
    request = produce_v9.ProduceRequest(
        transactional_id=None, acks=i16(1), timeout=i32Timedelta.parse(datetime.timedelta(seconds=10)),
        topic_data=(produce_v9.TopicProduceData(name=TopicName(topic), partition_data=(
            produce_v9.PartitionProduceData(index=i32(partition), records=Records(make_batch(1))),)),),
    )

    async def send() -> Any:
        async with BrokerConnection(host, int(port), client_id="metrics-test") as conn:
            return await conn.send(request, timeout=10)

    response = asyncio.run(asyncio.wait_for(send(), 20))
    return ErrorCode(response.responses[0].partition_responses[0].error_code)


def test_counters_move_by_what_was_produced_and_consumed(broker: EmbeddedBroker) -> None:
    topic, group = f"metrics-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    confluent_create_topic(broker.bootstrap, topic)
    before = scrape(broker)

    confluent_produce(broker.bootstrap, topic, [Send(None, VALUE) for _ in range(RECORDS)], conf={"acks": "1"})
    assert consume_all(broker.bootstrap, topic, group, RECORDS) == RECORDS
    after = scrape(broker)

    # Records in: exactly those produced; bytes in: exactly the batches the log holds
    # (the producer's batching decides their size); bytes out: the one consumer read every
    # batch once.
    log_size = value(after, "kafka_log_log_size", topic=topic, partition="0")
    assert value(after, "kafka_log_log_logendoffset", topic=topic, partition="0") == RECORDS
    assert log_size > RECORDS * len(VALUE)
    assert delta(before, after, "kafka_server_brokertopicmetrics_messagesin_total", topic=topic) == RECORDS
    assert delta(before, after, "kafka_server_brokertopicmetrics_bytesin_total", topic=topic) == log_size
    assert delta(before, after, "kafka_server_brokertopicmetrics_bytesout_total", topic=topic) == log_size
    # The all-topics series (no topic label) is the sum of the per-topic ones.
    for name in ("messagesin", "bytesin", "bytesout"):
        family = f"kafka_server_brokertopicmetrics_{name}_total"
        per_topic = sum(v for (n, labels), v in after.items() if n == family and labels)
        assert value(after, family) == per_topic

    # Requests: every Produce answered one partition without error; a Fetch is a FetchConsumer.
    produces = delta(before, after, "kafka_network_requestmetrics_requests_total", request="Produce")
    assert produces >= 1
    assert delta(before, after, "kafka_network_requestmetrics_errors_total", request="Produce", error="NONE") == produces
    assert total(after, "kafka_network_requestmetrics_totaltimems_count", request="Produce") == total(
        after, "kafka_network_requestmetrics_requests_total", request="Produce")
    fetches = delta(before, after, "kafka_network_requestmetrics_requests_total", request="Fetch")
    assert fetches >= 1
    assert delta(before, after, "kafka_network_requestmetrics_requests_total", request="FetchConsumer") == fetches
    assert total(after, "kafka_network_requestmetrics_requests_total", request="FetchFollower") == 0
    assert value(after, "kafka_network_requestmetrics_totaltimems_bucket", request="Produce", le="+Inf") == total(
        after, "kafka_network_requestmetrics_requests_total", request="Produce")

    # One more Produce, to a partition the topic lacks: counted once, with its error.
    before_error = scrape(broker)
    assert raw_produce(broker.bootstrap, topic, 7) == ErrorCode.unknown_topic_or_partition
    after_error = scrape(broker)
    assert delta(before_error, after_error, "kafka_network_requestmetrics_requests_total", request="Produce",
                 version="9") == 1
    assert delta(before_error, after_error, "kafka_network_requestmetrics_errors_total", request="Produce",
                 error="UNKNOWN_TOPIC_OR_PARTITION") == 1
    assert delta(before_error, after_error, "kafka_server_brokertopicmetrics_messagesin_total") == 0

    # Lag as kafka_exporter names it: high watermark minus the group's committed offset.
    commit(broker.bootstrap, topic, group, 400)
    lagging = scrape(broker)
    assert value(lagging, "kafka_consumergroup_current_offset", consumergroup=group, topic=topic, partition="0") == 400
    assert value(lagging, "kafka_consumergroup_lag", consumergroup=group, topic=topic, partition="0") == RECORDS - 400
    assert value(lagging, "kafka_consumergroup_lag_sum", consumergroup=group, topic=topic) == RECORDS - 400
    commit(broker.bootstrap, topic, group, RECORDS)
    assert value(scrape(broker), "kafka_consumergroup_lag", consumergroup=group, topic=topic, partition="0") == 0


def test_partition_and_controller_gauges(broker: EmbeddedBroker) -> None:
    topic = f"gauges-{uuid.uuid4().hex[:8]}"
    confluent_create_topic(broker.bootstrap, topic, partitions=4)
    # A group commit makes sure __consumer_offsets exists, so the count below is known.
    commit(broker.bootstrap, topic, f"g-{uuid.uuid4().hex[:8]}", 0)
    samples = scrape(broker)
    topics = {dict(labels)["topic"] for (name, labels), _ in samples.items() if name == "kafka_log_log_size"}
    partitions = sum(1 for (name, _), _ in samples.items() if name == "kafka_log_log_size")
    assert {topic, "__consumer_offsets"} <= topics
    assert value(samples, "kafka_server_replicamanager_partitioncount") == partitions
    assert value(samples, "kafka_server_replicamanager_leadercount") == partitions  # a single broker leads all
    assert value(samples, "kafka_server_replicamanager_underreplicatedpartitions") == 0
    assert value(samples, "kafka_controller_kafkacontroller_activecontrollercount") == 1
    assert value(samples, "kafka_controller_kafkacontroller_offlinepartitionscount") == 0
    assert value(samples, "kafka_controller_kafkacontroller_globalpartitioncount") == partitions
    assert sum(1 for (name, labels), _ in samples.items()
               if name == "kafka_log_log_size" and dict(labels)["topic"] == topic) == 4
    assert sum(1 for (name, labels), _ in samples.items()
               if name == "kafka_log_log_size" and dict(labels)["topic"] == "__consumer_offsets") == OFFSETS_PARTITIONS


def test_health_endpoints(broker: EmbeddedBroker) -> None:
    assert broker.metrics_url is not None
    assert get(f"{broker.metrics_url}/healthz")[0] == 200
    status, _, body = get(f"{broker.metrics_url}/readyz")
    assert (status, body) == (200, "ready\n")
    assert get(f"{broker.metrics_url}/nothing-here")[0] == 404
    request = urllib.request.Request(f"{broker.metrics_url}/metrics", method="POST", data=b"")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 405


def test_two_brokers_in_one_process_keep_their_own_series(broker: EmbeddedBroker) -> None:
    topic = f"own-{uuid.uuid4().hex[:8]}"
    with EmbeddedBroker(overrides={"metrics.http.listener": "http://127.0.0.1:0"}) as other:
        confluent_produce(other.bootstrap, topic, [Send(None, VALUE) for _ in range(10)], conf={"acks": "1"})
        assert value(scrape(other), "kafka_server_brokertopicmetrics_messagesin_total", topic=topic) == 10
        assert ("kafka_server_brokertopicmetrics_messagesin_total", frozenset({("topic", topic)})) not in scrape(broker)


def test_no_listener_no_endpoint() -> None:
    with EmbeddedBroker() as plain:
        assert plain.metrics_url is None


def test_a_taken_metrics_port_fails_the_start_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EmbeddedBrokerError, match=f"cannot start the broker: .*{port}.*address already in use"):
            EmbeddedBroker(overrides={"metrics.http.listener": f"http://127.0.0.1:{port}"}).start()

"""The broker's Prometheus metrics, read from its state at scrape time.

Names are the ones the Prometheus JMX exporter's Kafka rules (example_configs/
kafka-2_0_0.yml: lowercased `kafka_<domain>_<type>_<name>`, `_total` for the *PerSec
meters, MBean keys as labels) give Kafka's MBeans, so Kafka dashboards and alerts work
unchanged; consumer lag uses kafka_exporter's names. One exception, said in the README:
request times are a real Prometheus histogram (`..._totaltimems_bucket`, `_sum`,
`_count`; the `_count` is the JMX exporter's name) instead of the exporter's quantile
gauges.

Gauges (partition counts, log sizes, lag) are computed here from the live objects; the
counters were bumped on the hot paths as plain ints (replication/stats.py,
request_metrics.py). Everything runs on the broker's loop, like the state it reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from snakafka.cluster.model import NO_LEADER
from snakafka.server.request_metrics import TIME_BUCKETS_MS, RequestMetrics

if TYPE_CHECKING:
    from snakafka.server.services import BrokerServices


class BrokerCollector(Collector):
    """Collects one broker's families (each broker its own registry: several brokers in
    one process, EmbeddedBrokers, never share series)."""

    def __init__(self, broker: BrokerServices, requests: RequestMetrics) -> None:
        self.broker = broker
        self.requests = requests

    def collect(self) -> Iterable[Metric]:
        yield from self._request_families()
        if not getattr(self.broker, "started", False):
            return  # the replica manager and coordinators do not exist yet
        yield from self._topic_families()
        yield from self._replica_manager_families()
        yield from self._controller_families()
        yield from self._log_families()
        yield from self._consumer_group_families()

    # -- kafka.network RequestMetrics ------------------------------------------------------

    def _request_families(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("kafka_network_requestmetrics_requests", "Requests received (Kafka's RequestsPerSec)",
                                       labels=["request", "version"])
        errors = CounterMetricFamily("kafka_network_requestmetrics_errors",
                                     "Error codes in responses, NONE included (Kafka's ErrorsPerSec)",
                                     labels=["request", "error"])
        times = HistogramMetricFamily("kafka_network_requestmetrics_totaltimems",
                                      "Time from a request's arrival to its response, in ms (Kafka's TotalTimeMs)",
                                      labels=["request"])
        bounds = [_bound(b) for b in TIME_BUCKETS_MS] + ["+Inf"]
        for name, stats in sorted(self.requests.stats.items()):
            if not stats.by_version:
                continue
            for version, count in sorted(stats.by_version.items()):
                requests.add_metric([name, str(version)], count)
            for code, count in sorted(stats.errors.items(), key=lambda item: item[0].name):
                errors.add_metric([name, code.name.upper()], count)
            cumulative, buckets = 0, []
            for bound, count in zip(bounds, stats.buckets, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            times.add_metric([name], buckets, stats.time_sum_ms)
        yield from (requests, errors, times)

    # -- kafka.server BrokerTopicMetrics ---------------------------------------------------

    def _topic_families(self) -> Iterator[Metric]:
        stats = self.broker.replica_manager.topic_stats
        for name, doc, counts in (
            ("messagesin", "Records appended (Kafka's MessagesInPerSec)", stats.messages_in),
            ("bytesin", "Record batch bytes appended (Kafka's BytesInPerSec)", stats.bytes_in),
            ("bytesout", "Record batch bytes sent to consumers (Kafka's BytesOutPerSec)", stats.bytes_out),
        ):
            family = CounterMetricFamily(f"kafka_server_brokertopicmetrics_{name}", doc)
            # The all-topics meter has no topic label, as the MBean without a topic key.
            family.add_sample(family.name + "_total", {}, float(sum(counts.values())))
            for topic, value in sorted(counts.items()):
                family.add_sample(family.name + "_total", {"topic": topic}, float(value))
            yield family

    # -- kafka.server ReplicaManager -------------------------------------------------------

    def _replica_manager_families(self) -> Iterator[Metric]:
        rm = self.broker.replica_manager
        leaders = [p for p in rm.partitions.values() if p.is_leader]
        under_replicated = sum(1 for p in leaders if len(p.state.isr) < len(p.state.replicas))
        under_min_isr = sum(1 for p in leaders if len(p.state.isr) < p.log.config.min_insync_replicas)
        yield _gauge("kafka_server_replicamanager_partitioncount", "Partitions on this broker", len(rm.partitions))
        yield _gauge("kafka_server_replicamanager_leadercount", "Partitions this broker leads", len(leaders))
        yield _gauge("kafka_server_replicamanager_underreplicatedpartitions",
                     "Partitions led here whose ISR is smaller than their replicas", under_replicated)
        yield _gauge("kafka_server_replicamanager_underminisrpartitioncount",
                     "Partitions led here whose ISR is below min.insync.replicas", under_min_isr)
        shrinks = CounterMetricFamily("kafka_server_replicamanager_isrshrinks", "ISR shrinks written by this leader")
        shrinks.add_metric([], rm.topic_stats.isr_shrinks)
        expands = CounterMetricFamily("kafka_server_replicamanager_isrexpands", "ISR expands written by this leader")
        expands.add_metric([], rm.topic_stats.isr_expands)
        yield from (shrinks, expands)

    # -- kafka.controller KafkaController ---------------------------------------------------

    def _controller_families(self) -> Iterator[Metric]:
        broker = self.broker
        active = broker.controller_id == broker.config.broker_id
        topics = broker.cache.topics
        live = broker.cache.brokers
        offline = sum(1 for topic in topics.values() for state in topic.partitions.values()
                      if state.leader == NO_LEADER or state.leader not in live)
        yield _gauge("kafka_controller_kafkacontroller_activecontrollercount",
                     "1 on the active controller, 0 elsewhere", 1 if active else 0)
        # Kafka reports these on the active controller only (0 elsewhere), so sums over brokers hold.
        yield _gauge("kafka_controller_kafkacontroller_offlinepartitionscount",
                     "Partitions without a live leader (active controller only)", offline if active else 0)
        yield _gauge("kafka_controller_kafkacontroller_globaltopiccount", "Topics in the cluster (active controller only)",
                     len(topics) if active else 0)
        yield _gauge("kafka_controller_kafkacontroller_globalpartitioncount",
                     "Partitions in the cluster (active controller only)",
                     sum(len(t.partitions) for t in topics.values()) if active else 0)

    # -- kafka.log Log ----------------------------------------------------------------------

    def _log_families(self) -> Iterator[Metric]:
        labels = ["topic", "partition"]
        size = GaugeMetricFamily("kafka_log_log_size", "Bytes of a partition's log on this broker", labels=labels)
        end = GaugeMetricFamily("kafka_log_log_logendoffset", "Log end offset", labels=labels)
        start = GaugeMetricFamily("kafka_log_log_logstartoffset", "Log start offset", labels=labels)
        segments = GaugeMetricFamily("kafka_log_log_numlogsegments", "Segments of the log", labels=labels)
        for (topic, partition), part in sorted(self.broker.replica_manager.partitions.items()):
            key = [topic, str(partition)]
            log_ = part.log
            size.add_metric(key, log_.size_in_bytes)
            end.add_metric(key, log_.log_end_offset)
            start.add_metric(key, log_.log_start_offset)
            segments.add_metric(key, len(log_.segments))
        yield from (size, end, start, segments)

    # -- consumer groups (kafka_exporter) ---------------------------------------------------

    def _consumer_group_families(self) -> Iterator[Metric]:
        """The groups this broker coordinates, for the partitions whose high watermark it
        knows (a replica here): lag = high watermark - committed offset, as
        kafka_exporter computes it from the newest offset a consumer can read."""
        partitions = self.broker.replica_manager.partitions
        labels = ["consumergroup", "topic", "partition"]
        current = GaugeMetricFamily("kafka_consumergroup_current_offset", "Committed offset of a group",
                                    labels=labels)
        lag = GaugeMetricFamily("kafka_consumergroup_lag", "High watermark minus committed offset", labels=labels)
        lag_sum = GaugeMetricFamily("kafka_consumergroup_lag_sum", "Lag of a group summed over a topic's partitions",
                                    labels=["consumergroup", "topic"])
        members = GaugeMetricFamily("kafka_consumergroup_members", "Members of a group", labels=["consumergroup"])
        for group_id, group in sorted(self.broker.groups.runtime.groups.items()):
            members.add_metric([group_id], len(group.members))
            sums: dict[str, int] = {}
            for (topic, partition), committed in sorted(group.offsets.items()):
                key = [group_id, topic, str(partition)]
                current.add_metric(key, committed.offset)
                part = partitions.get((topic, partition))
                if part is None:
                    continue
                behind = part.high_watermark - committed.offset
                lag.add_metric(key, behind)
                sums[topic] = sums.get(topic, 0) + behind
            for topic, total in sorted(sums.items()):
                lag_sum.add_metric([group_id, topic], total)
        yield from (current, lag, lag_sum, members)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _bound(ms: float) -> str:
    return str(float(ms))

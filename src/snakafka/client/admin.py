"""An admin client over the Kafka protocol, for the `snakafka` admin commands: the
requests kafka-topics.sh, kafka-configs.sh, kafka-leader-election.sh,
kafka-delete-records.sh and kafka-log-dirs.sh send, each to the broker Kafka's
AdminClient sends it to (any broker, the controller, a partition's leader, a given
broker), answered as plain data.

Built on `Cluster` (connections, bootstrap); it reads full metadata itself (replicas,
ISR, offline replicas), which the producer and consumer do not need. Failures to reach a
broker are ClientError (one line); Kafka error codes come back in the results for the
command to report.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import Any, Self

from kio.schema.errors import ErrorCode
from kio.static.primitive import i8, i16, i32, i64

from snakafka.client.cluster import REQUEST_TIMEOUT, ClientError, Cluster
from snakafka.client.connection import BrokerConnection, ConnectionClosed
from snakafka.client.requests import build, millis, request, schema

METADATA, CREATE_TOPICS, DELETE_TOPICS, CREATE_PARTITIONS = 3, 19, 20, 37
DESCRIBE_CONFIGS, INCREMENTAL_ALTER_CONFIGS = 32, 44
DELETE_RECORDS, DESCRIBE_LOG_DIRS, ELECT_LEADERS, DESCRIBE_CLUSTER, DESCRIBE_PRODUCERS = 21, 35, 43, 60, 61
API_VERSIONS = 18
ALTER_PARTITION_REASSIGNMENTS, LIST_PARTITION_REASSIGNMENTS = 45, 46
TOPIC_RESOURCE, BROKER_RESOURCE = 2, 4
ADMIN_TIMEOUT_MS = 30000

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    offline_replicas: tuple[int, ...]


@dataclass(slots=True)
class TopicDescription:
    name: str
    topic_id: str
    internal: bool
    partitions: list[PartitionInfo] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class BrokerNode:
    broker_id: int
    host: str
    port: int
    rack: str | None


@dataclass(frozen=True, slots=True)
class ClusterDescription:
    cluster_id: str | None
    controller: int
    brokers: tuple[BrokerNode, ...]


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    name: str
    value: str | None
    source: int
    read_only: bool
    sensitive: bool
    synonyms: tuple[tuple[str, str | None, int], ...] = ()


class AdminError(Exception):
    """A request the broker refused: Kafka's error name and message, as one line."""

    def __init__(self, code: ErrorCode, message: str | None = None) -> None:
        self.code = code
        super().__init__(f"{code.name.upper()}: {message}" if message else code.name.upper())


class AdminClient:
    """One admin session: open with `async with AdminClient(bootstrap) as admin`."""

    def __init__(self, bootstrap: list[tuple[str, int]], client_id: str = "snakafka-admin") -> None:
        self.cluster = Cluster(bootstrap, client_id=client_id)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cluster.close()

    # -- sending ---------------------------------------------------------------------

    async def _send(self, conn: BrokerConnection, req: Any) -> Any:
        try:
            return await conn.send(req, timeout=REQUEST_TIMEOUT + ADMIN_TIMEOUT_MS / 1000)
        except (ConnectionClosed, TimeoutError) as exc:
            raise ClientError(f"request to {conn.host}:{conn.port} failed: {exc or type(exc).__name__}") from None

    async def send_any(self, req: Any) -> Any:
        return await self._send(await self.cluster.any_connection(), req)

    async def send_to(self, broker_id: int, req: Any) -> Any:
        if broker_id not in self.cluster.brokers:
            await self.describe_cluster()
        return await self._send(await self.cluster.connection(broker_id), req)

    async def api_versions(self) -> dict[int, tuple[int, int]]:
        resp = await self.send_any(request(API_VERSIONS, 3, client_software_name="snakafka-admin",
                                           client_software_version="0"))
        return {int(a.api_key): (int(a.min_version), int(a.max_version)) for a in resp.api_keys}

    # -- cluster and topics ------------------------------------------------------------

    async def describe_cluster(self) -> ClusterDescription:
        resp = await self.send_any(request(DESCRIBE_CLUSTER, 0, include_cluster_authorized_operations=False))
        if resp.error_code != ErrorCode.none:
            raise AdminError(resp.error_code, resp.error_message)
        brokers = tuple(BrokerNode(int(b.broker_id), b.host, int(b.port), b.rack) for b in resp.brokers)
        self.cluster.brokers = {b.broker_id: (b.host, b.port) for b in brokers}
        return ClusterDescription(resp.cluster_id, int(resp.controller_id), brokers)

    async def metadata(self, topics: list[str] | None) -> tuple[dict[str, TopicDescription], dict[str, ErrorCode], int]:
        """Full metadata of `topics` (None: all): the topics found, the errors of the
        others, and the controller id."""
        s = schema(METADATA, 12)
        req = request(METADATA, 12, topics=None if topics is None else tuple(
            build(s.MetadataRequestTopic, topic_id=None, name=t) for t in topics),
            allow_auto_topic_creation=False, include_topic_authorized_operations=False)
        resp = await self.send_any(req)
        self.cluster.brokers = {int(b.node_id): (b.host, int(b.port)) for b in resp.brokers}
        found: dict[str, TopicDescription] = {}
        errors: dict[str, ErrorCode] = {}
        for t in resp.topics:
            if t.error_code != ErrorCode.none:
                errors[t.name] = t.error_code
                continue
            topic_id = base64.urlsafe_b64encode(t.topic_id.bytes).decode().rstrip("=")  # Kafka's Uuid.toString
            found[t.name] = TopicDescription(t.name, topic_id, bool(t.is_internal), sorted(
                (PartitionInfo(int(p.partition_index), int(p.leader_id), tuple(int(r) for r in p.replica_nodes),
                               tuple(int(r) for r in p.isr_nodes), tuple(int(r) for r in p.offline_replicas))
                 for p in t.partitions), key=lambda p: p.partition))
        return found, errors, int(resp.controller_id)

    async def create_topic(self, name: str, partitions: int, replication_factor: int,
                           assignment: dict[int, list[int]] | None, configs: dict[str, str]) -> None:
        s = schema(CREATE_TOPICS, 7)
        topic = build(s.CreatableTopic, name=name, num_partitions=i32(partitions),
                      replication_factor=i16(replication_factor),
                      assignments=tuple(build(s.CreatableReplicaAssignment, partition_index=i32(p),
                                              broker_ids=tuple(i32(b) for b in brokers))
                                        for p, brokers in sorted((assignment or {}).items())),
                      configs=tuple(build(s.CreatableTopicConfig, name=k, value=v) for k, v in configs.items()))
        resp = await self.send_any(request(CREATE_TOPICS, 7, topics=(topic,), timeout=millis(ADMIN_TIMEOUT_MS),
                                           validate_only=False))
        result = resp.topics[0]
        if result.error_code != ErrorCode.none:
            raise AdminError(result.error_code, result.error_message)

    async def delete_topic(self, name: str) -> None:
        s = schema(DELETE_TOPICS, 6)
        resp = await self.send_any(request(DELETE_TOPICS, 6, topics=(build(s.DeleteTopicState, name=name, topic_id=None),),
                                           timeout=millis(ADMIN_TIMEOUT_MS)))
        result = resp.responses[0]
        if result.error_code != ErrorCode.none:
            raise AdminError(result.error_code, result.error_message)

    async def create_partitions(self, name: str, count: int, assignment: list[list[int]] | None) -> None:
        s = schema(CREATE_PARTITIONS, 3)
        topic = build(s.CreatePartitionsTopic, name=name, count=i32(count), assignments=None if assignment is None else tuple(
            build(s.CreatePartitionsAssignment, broker_ids=tuple(i32(b) for b in brokers)) for brokers in assignment))
        resp = await self.send_any(request(CREATE_PARTITIONS, 3, topics=(topic,), timeout=millis(ADMIN_TIMEOUT_MS),
                                           validate_only=False))
        result = resp.results[0]
        if result.error_code != ErrorCode.none:
            raise AdminError(result.error_code, result.error_message)

    # -- configs -----------------------------------------------------------------------

    async def describe_configs(self, resource_type: int, name: str, broker_id: int | None = None) -> list[ConfigEntry]:
        """DescribeConfigs v4 of one resource (with synonyms), to `broker_id` if given."""
        s = schema(DESCRIBE_CONFIGS, 4)
        req = request(DESCRIBE_CONFIGS, 4, resources=(build(s.DescribeConfigsResource, resource_type=i8(resource_type),
                                                           resource_name=name, configuration_keys=None),),
                      include_synonyms=True, include_documentation=False)
        resp = await (self.send_to(broker_id, req) if broker_id is not None else self.send_any(req))
        result = resp.results[0]
        if result.error_code != ErrorCode.none:
            raise AdminError(result.error_code, result.error_message)
        return [ConfigEntry(c.name, c.value, int(c.config_source), bool(c.read_only), bool(c.is_sensitive),
                            tuple((y.name, y.value, int(y.source)) for y in c.synonyms)) for c in result.configs]

    async def alter_configs(self, resource_type: int, name: str, ops: list[tuple[str, int, str | None]],
                            broker_id: int | None = None) -> None:
        """IncrementalAlterConfigs v1 of one resource: (key, operation, value) triples."""
        s = schema(INCREMENTAL_ALTER_CONFIGS, 1)
        resource = build(s.AlterConfigsResource, resource_type=i8(resource_type), resource_name=name, configs=tuple(
            build(s.AlterableConfig, name=k, config_operation=i8(op), value=v) for k, op, v in ops))
        req = request(INCREMENTAL_ALTER_CONFIGS, 1, resources=(resource,), validate_only=False)
        resp = await (self.send_to(broker_id, req) if broker_id is not None else self.send_any(req))
        result = resp.responses[0]
        if result.error_code != ErrorCode.none:
            raise AdminError(result.error_code, result.error_message)

    # -- partitions ----------------------------------------------------------------------

    async def elect_leaders(self, election_type: int, partitions: list[TopicPartition] | None
                            ) -> dict[TopicPartition, tuple[ErrorCode, str | None]]:
        """ElectLeaders v2 to the controller (found anew and asked again while a broker
        answers NOT_CONTROLLER, e.g. just after the controller moved)."""
        s = schema(ELECT_LEADERS, 2)
        by_topic: dict[str, list[int]] = {}
        for t, p in partitions or []:
            by_topic.setdefault(t, []).append(p)
        req = request(ELECT_LEADERS, 2, election_type=i8(election_type), timeout=millis(ADMIN_TIMEOUT_MS),
                      topic_partitions=None if partitions is None else tuple(
                          build(s.TopicPartitions, topic=t, partitions=tuple(i32(p) for p in ps))
                          for t, ps in by_topic.items()))
        results: dict[TopicPartition, tuple[ErrorCode, str | None]] = {}
        for attempt in range(10):
            controller = (await self.describe_cluster()).controller
            if controller < 0:
                await asyncio.sleep(0.5)
                continue
            resp = await self.send_to(controller, req)
            if resp.error_code != ErrorCode.none:
                raise AdminError(resp.error_code)
            results = {(r.topic, int(p.partition_id)): (p.error_code, p.error_message)
                       for r in resp.replica_election_results for p in r.partition_result}
            if not any(e == ErrorCode.not_controller for e, _ in results.values()):
                return results
            await asyncio.sleep(0.2 * (attempt + 1))
        return results

    async def _send_controller(self, req: Any) -> Any:
        """Send to the active controller, again while the answer is NOT_CONTROLLER (the
        controller just moved)."""
        resp = None
        for attempt in range(3):  # a single broker answers NOT_CONTROLLER for good: give up soon
            controller = (await self.describe_cluster()).controller
            if controller >= 0:
                resp = await self.send_to(controller, req)
                if resp.error_code != ErrorCode.not_controller:
                    return resp
            await asyncio.sleep(0.2 * (attempt + 1))
        if resp is None:
            raise ClientError("the cluster has no controller")
        return resp

    async def alter_partition_reassignments(self, targets: dict[TopicPartition, list[int] | None]
                                            ) -> dict[TopicPartition, tuple[ErrorCode, str | None]]:
        """AlterPartitionReassignments v0 to the controller: a target replica list per
        partition, None to cancel its reassignment."""
        s = schema(ALTER_PARTITION_REASSIGNMENTS, 0)
        by_topic: dict[str, list[tuple[int, list[int] | None]]] = {}
        for (t, p), replicas in sorted(targets.items()):
            by_topic.setdefault(t, []).append((p, replicas))
        resp = await self._send_controller(request(ALTER_PARTITION_REASSIGNMENTS, 0, timeout=millis(ADMIN_TIMEOUT_MS),
                                                   topics=tuple(build(s.ReassignableTopic, name=t, partitions=tuple(
                                                       build(s.ReassignablePartition, partition_index=i32(p),
                                                             replicas=None if r is None else tuple(i32(b) for b in r))
                                                       for p, r in ps)) for t, ps in by_topic.items())))
        if resp.error_code != ErrorCode.none:
            raise AdminError(resp.error_code, resp.error_message)
        return {(t.name, int(p.partition_index)): (p.error_code, p.error_message)
                for t in resp.responses for p in t.partitions}

    async def list_partition_reassignments(self, partitions: list[TopicPartition] | None
                                           ) -> dict[TopicPartition, tuple[list[int], list[int], list[int]]]:
        """ListPartitionReassignments v0 to the controller: (replicas, adding, removing)
        of each ongoing reassignment (of `partitions`, or all)."""
        s = schema(LIST_PARTITION_REASSIGNMENTS, 0)
        by_topic: dict[str, list[int]] = {}
        for t, p in partitions or []:
            by_topic.setdefault(t, []).append(p)
        resp = await self._send_controller(request(
            LIST_PARTITION_REASSIGNMENTS, 0, timeout=millis(ADMIN_TIMEOUT_MS), topics=None if partitions is None else tuple(
                build(s.ListPartitionReassignmentsTopics, name=t, partition_indexes=tuple(i32(p) for p in ps))
                for t, ps in by_topic.items())))
        if resp.error_code != ErrorCode.none:
            raise AdminError(resp.error_code, resp.error_message)
        return {(t.name, int(p.partition_index)): ([int(r) for r in p.replicas], [int(r) for r in p.adding_replicas],
                                                   [int(r) for r in p.removing_replicas])
                for t in resp.topics for p in t.partitions}

    async def delete_records(self, offsets: dict[TopicPartition, int]
                             ) -> dict[TopicPartition, tuple[ErrorCode, int]]:
        """DeleteRecords v2 to each partition's leader: (error, low watermark) per partition."""
        topics, errors, _ = await self.metadata(sorted({t for t, _ in offsets}))
        results: dict[TopicPartition, tuple[ErrorCode, int]] = {}
        by_leader: dict[int, dict[TopicPartition, int]] = {}
        for (t, p), offset in offsets.items():
            info = topics.get(t)
            leader = next((x.leader for x in info.partitions if x.partition == p), None) if info else None
            if leader is None:
                results[(t, p)] = (errors.get(t, ErrorCode.unknown_topic_or_partition), -1)
            elif leader < 0:
                results[(t, p)] = (ErrorCode.leader_not_available, -1)
            else:
                by_leader.setdefault(leader, {})[(t, p)] = offset
        s = schema(DELETE_RECORDS, 2)
        for leader, tps in by_leader.items():
            grouped: dict[str, list[tuple[int, int]]] = {}
            for (t, p), offset in tps.items():
                grouped.setdefault(t, []).append((p, offset))
            req = request(DELETE_RECORDS, 2, timeout=millis(ADMIN_TIMEOUT_MS), topics=tuple(
                build(s.DeleteRecordsTopic, name=t, partitions=tuple(
                    build(s.DeleteRecordsPartition, partition_index=i32(p), offset=i64(o)) for p, o in ps))
                for t, ps in grouped.items()))
            resp = await self.send_to(leader, req)
            for t in resp.topics:
                for p in t.partitions:
                    results[(t.name, int(p.partition_index))] = (p.error_code, int(p.low_watermark))
        return results

    async def describe_log_dirs(self, broker_id: int, topics: list[str] | None) -> Any:
        """DescribeLogDirs v4 of one broker (all its partitions, or those of `topics`)."""
        s = schema(DESCRIBE_LOG_DIRS, 4)
        wanted = None
        if topics is not None:
            found, _, _ = await self.metadata(topics)
            wanted = tuple(build(s.DescribableLogDirTopic, topic=t.name, partitions=tuple(
                i32(p.partition) for p in t.partitions)) for t in found.values())
        resp = await self.send_to(broker_id, request(DESCRIBE_LOG_DIRS, 4, topics=wanted))
        if resp.error_code != ErrorCode.none:
            raise AdminError(resp.error_code)
        return resp.results

    async def describe_producers(self, tp: TopicPartition, broker_id: int | None = None) -> list[Any]:
        """DescribeProducers v0 of one partition, to its leader (or `broker_id`)."""
        if broker_id is None:
            topics, errors, _ = await self.metadata([tp[0]])
            info = topics.get(tp[0])
            if info is None:
                raise AdminError(errors.get(tp[0], ErrorCode.unknown_topic_or_partition))
            broker_id = next((p.leader for p in info.partitions if p.partition == tp[1]), None)
            if broker_id is None:
                raise AdminError(ErrorCode.unknown_topic_or_partition, f"{tp[0]}-{tp[1]} does not exist")
        s = schema(DESCRIBE_PRODUCERS, 0)
        resp = await self.send_to(broker_id, request(DESCRIBE_PRODUCERS, 0, topics=(
            build(s.TopicRequest, name=tp[0], partition_indexes=(i32(tp[1]),)),)))
        result = resp.topics[0].partitions[0]
        if result.error_code != ErrorCode.none:
            raise AdminError(result.error_code, result.error_message)
        return list(result.active_producers)

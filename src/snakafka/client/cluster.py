"""What a client knows of the cluster: brokers, partition leaders, one connection per broker.

Like the Java client's Metadata and NetworkClient, reduced to what our tools need:
Metadata v12 through any reachable broker (bootstrap servers first, then known
brokers), leaders and leader epochs per partition, connections opened on demand and
dropped when they fail, and ListOffsets to partition leaders. Errors a user must see
become ClientError, whose message is one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from kio.schema.errors import ErrorCode
from kio.static.primitive import i8, i32, i64

from snakafka.client.connection import BrokerConnection, ConnectionClosed
from snakafka.client.requests import build, request, schema

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]
METADATA, LIST_OFFSETS = 3, 2
EARLIEST, LATEST = -2, -1
CONNECT_TIMEOUT = 10.0
REQUEST_TIMEOUT = 30.0
# Partition errors after which the client refreshes metadata and tries again, as the
# Java client's retriable (InvalidMetadataException) errors.
STALE_METADATA = frozenset({
    ErrorCode.not_leader_or_follower, ErrorCode.leader_not_available, ErrorCode.unknown_topic_or_partition,
    ErrorCode.fenced_leader_epoch, ErrorCode.unknown_leader_epoch, ErrorCode.replica_not_available,
    ErrorCode.kafka_storage_error, ErrorCode.offset_not_available,
})


class ClientError(Exception):
    """A failure to report to the user as one line (no traceback)."""


def backoff(attempt: int, base_ms: int = 100, max_ms: int = 1000) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): exponential from
    retry.backoff.ms up to retry.backoff.max.ms, as Kafka's clients do (KIP-580)."""
    return min(base_ms * 2 ** max(attempt - 1, 0), max_ms) / 1000


@dataclass(frozen=True, slots=True)
class PartitionLeader:
    leader: int  # broker id, -1 while there is none
    epoch: int


@dataclass(slots=True)
class TopicInfo:
    error: ErrorCode
    partitions: dict[int, PartitionLeader] = field(default_factory=dict)


@dataclass
class Cluster:
    """Brokers and leaders as last seen, plus the connections to brokers. Not thread-safe:
    one event loop uses it."""

    bootstrap: list[tuple[str, int]]
    client_id: str = "snakafka-console"
    brokers: dict[int, tuple[str, int]] = field(default_factory=dict)
    topics: dict[str, TopicInfo] = field(default_factory=dict)
    _conns: dict[int, BrokerConnection] = field(default_factory=dict)
    _any: BrokerConnection | None = None  # the connection metadata requests go through

    # -- connections -----------------------------------------------------------------

    async def _open(self, host: str, port: int) -> BrokerConnection:
        try:
            return await BrokerConnection(host, port, client_id=self.client_id).connect(CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise ClientError(f"cannot connect to {host}:{port}: {exc or type(exc).__name__}") from None

    async def any_connection(self) -> BrokerConnection:
        """A connection to some broker: known brokers first, then the bootstrap list."""
        if self._any is not None and not self._any.broken:
            return self._any
        errors = []
        candidates = list(self.brokers.values()) + self.bootstrap
        for host, port in dict.fromkeys(candidates):
            try:
                self._any = await self._open(host, port)
                return self._any
            except ClientError as exc:
                errors.append(str(exc))
        raise ClientError("; ".join(errors) if errors else "no broker to connect to")

    async def connection(self, broker_id: int) -> BrokerConnection:
        conn = self._conns.get(broker_id)
        if conn is not None and not conn.broken:
            return conn
        if broker_id not in self.brokers:
            raise ClientError(f"broker {broker_id} is not in the cluster metadata")
        host, port = self.brokers[broker_id]
        self._conns[broker_id] = conn = await self._open(host, port)
        return conn

    async def drop(self, broker_id: int) -> None:
        """Forget a connection that failed; the next use reconnects."""
        conn = self._conns.pop(broker_id, None)
        if conn is not None:
            await conn.close()

    async def close(self) -> None:
        conns = list(self._conns.values()) + ([self._any] if self._any is not None else [])
        self._conns.clear()
        self._any = None
        for conn in conns:
            await conn.close()

    # -- metadata --------------------------------------------------------------------

    async def refresh(self, topics: list[str], *, auto_create: bool = False) -> dict[str, TopicInfo]:
        """Metadata v12 for `topics`: updates brokers and leaders, returns the topics' info."""
        s = schema(METADATA, 12)
        req = request(METADATA, 12, topics=tuple(build(s.MetadataRequestTopic, topic_id=None, name=t) for t in topics),
                      allow_auto_topic_creation=auto_create, include_topic_authorized_operations=False)
        conn = await self.any_connection()
        try:
            resp = await conn.send(req, timeout=REQUEST_TIMEOUT)
        except (ConnectionClosed, TimeoutError) as exc:
            self._any = None
            raise ClientError(f"metadata request to {conn.host}:{conn.port} failed: {exc}") from None
        self.brokers = {int(b.node_id): (b.host, int(b.port)) for b in resp.brokers}
        for t in resp.topics:
            info = TopicInfo(t.error_code, {int(p.partition_index): PartitionLeader(int(p.leader_id), int(p.leader_epoch))
                                            for p in t.partitions})
            self.topics[t.name] = info
        return {t: self.topics[t] for t in topics if t in self.topics}

    async def wait_for_topic(self, topic: str, *, auto_create: bool, timeout: float,
                             backoff: float = 0.2) -> TopicInfo:
        """Metadata for `topic` until it exists and every partition has a leader (a topic
        just created, by us or auto-creation, takes a moment); ClientError past `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        warned = False
        while True:
            info = (await self.refresh([topic], auto_create=auto_create)).get(topic)
            if info is not None and info.error == ErrorCode.none and info.partitions \
                    and all(p.leader >= 0 for p in info.partitions.values()):
                return info
            error = info.error if info is not None else ErrorCode.unknown_topic_or_partition
            if error not in STALE_METADATA and error != ErrorCode.none:
                raise ClientError(f"topic {topic}: {error.name.upper()}")
            if loop.time() >= deadline:
                raise ClientError(f"topic {topic} not available after {timeout:g} s: {error.name.upper()}")
            if not warned:
                log.info("topic %s not available yet (%s), waiting", topic, error.name.upper())
                warned = True
            await asyncio.sleep(backoff)

    def leader(self, tp: TopicPartition) -> PartitionLeader | None:
        info = self.topics.get(tp[0])
        return None if info is None else info.partitions.get(tp[1])

    def partition_count(self, topic: str) -> int:
        info = self.topics.get(topic)
        return 0 if info is None else len(info.partitions)

    # -- offsets ---------------------------------------------------------------------

    async def list_offsets(self, partitions: dict[TopicPartition, int], isolation_level: int = 0) -> dict[TopicPartition, int]:
        """Offsets for a timestamp (EARLIEST, LATEST, or ms) per partition, asking each
        partition's leader. Partitions whose leader moved are retried after a refresh."""
        result: dict[TopicPartition, int] = {}
        todo = dict(partitions)
        for attempt in range(1, 11):
            by_leader: dict[int, dict[TopicPartition, int]] = {}
            for tp, ts in todo.items():
                leader = self.leader(tp)
                by_leader.setdefault(leader.leader if leader else -1, {})[tp] = ts
            stale = False
            for broker_id, tps in by_leader.items():
                try:
                    if broker_id < 0:
                        raise ClientError("no leader")
                    found = await self._list_offsets_at(broker_id, tps, isolation_level)
                except (ClientError, ConnectionClosed, TimeoutError) as exc:
                    log.info("ListOffsets via broker %d failed (%s); refreshing metadata", broker_id, exc)
                    await self.drop(broker_id)
                    stale = True
                    continue
                for tp, (error, offset) in found.items():
                    if error == ErrorCode.none:
                        result[tp] = offset
                        todo.pop(tp, None)
                    elif error in STALE_METADATA:
                        stale = True
                    else:
                        raise ClientError(f"ListOffsets for {tp[0]}-{tp[1]} failed: {error.name.upper()}")
            if not todo:
                return result
            if stale:
                await asyncio.sleep(backoff(attempt))
                with contextlib.suppress(ClientError):  # all brokers unreachable: try again
                    await self.refresh(sorted({t for t, _ in todo}))
        raise ClientError(f"cannot list offsets of {sorted(todo)}")

    async def _list_offsets_at(self, broker_id: int, tps: dict[TopicPartition, int],
                               isolation_level: int) -> dict[TopicPartition, tuple[ErrorCode, int]]:
        s = schema(LIST_OFFSETS, 7)
        topics: dict[str, list[tuple[int, int]]] = {}
        for (t, p), ts in tps.items():
            topics.setdefault(t, []).append((p, ts))
        req = request(LIST_OFFSETS, 7, replica_id=i32(-1), isolation_level=i8(isolation_level), topics=tuple(
            build(s.ListOffsetsTopic, name=t, partitions=tuple(
                build(s.ListOffsetsPartition, partition_index=i32(p), current_leader_epoch=i32(-1), timestamp=i64(ts))
                for p, ts in ps)) for t, ps in topics.items()))
        conn = await self.connection(broker_id)
        resp = await conn.send(req, timeout=REQUEST_TIMEOUT)
        return {(t.name, int(p.partition_index)): (p.error_code, int(p.offset)) for t in resp.topics for p in t.partitions}

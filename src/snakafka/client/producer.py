"""A small producer: records batched per partition into v2 record batches, sent with
Produce v9 to each partition's leader.

Like the Java producer, reduced: keyed records go where the default partitioner puts
them (murmur2, protocol/partitioner.py), keyless ones stick to one partition per batch
and then move on (Kafka 3.3's built-in partitioner, KIP-794, without its load
weighting); a batch is sent when it holds batch.size bytes, when linger.ms has passed
since its first record, or on flush. One request in flight at a time, so records of a
partition keep their order. Errors that mean stale metadata (the leader moved, the
topic is still being created) refresh metadata and retry, up to `retries` times;
anything else is a ClientError.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field

from kio.schema.errors import ErrorCode
from kio.static.primitive import i16, i32

from snakafka.client.cluster import STALE_METADATA, ClientError, Cluster, backoff
from snakafka.client.connection import ConnectionClosed
from snakafka.client.requests import build, millis, request, schema
from snakafka.protocol.partitioner import partition_for_key
from snakafka.protocol.records import NewRecord, encode_batch

log = logging.getLogger(__name__)

PRODUCE = 0
# Also retried by the Java producer: the broker could not complete in time or lacks
# replicas for acks=all right now.
RETRIABLE = STALE_METADATA | {ErrorCode.request_timed_out, ErrorCode.not_enough_replicas,
                              ErrorCode.not_enough_replicas_after_append, ErrorCode.network_exception}
RECORD_OVERHEAD = 16  # rough per-record bytes beyond key and value, for batch.size


@dataclass(frozen=True, slots=True)
class ProducerSettings:
    """The producer configs we honour, with the console producer's defaults."""

    acks: int = -1  # acks: -1 (all), 1 or 0
    compression: int = 0  # compression.type as a batch codec id
    linger_ms: int = 1000  # the console producer's --timeout
    batch_size: int = 16384  # batch.size, bytes
    retries: int = 3  # message.send.max.retries
    retry_backoff_ms: int = 100
    request_timeout_ms: int = 1500  # the console producer's --request-timeout-ms
    max_block_ms: int = 60000  # how long to wait for the topic's metadata
    delivery_timeout_ms: int = 120000  # how long a batch may wait for a leader to take it


@dataclass
class StickyPartitioner:
    """Which partition a record goes to. Keyed: murmur2. Keyless: the current sticky
    partition, which moves round-robin each time a batch of it is completed."""

    _sticky: int | None = None

    def choose(self, key: bytes | None, partitions: int) -> int:
        if key is not None:
            return partition_for_key(key, partitions)
        if self._sticky is None or self._sticky >= partitions:
            self._sticky = random.randrange(partitions)
        return self._sticky

    def batch_completed(self, partition: int, partitions: int) -> None:
        """A batch of `partition` is being sent: keyless records move to the next one."""
        if self._sticky == partition and partitions > 0:
            self._sticky = (partition + 1) % partitions


@dataclass
class _Batch:
    records: list[NewRecord] = field(default_factory=list)
    size: int = 0
    created: float = 0.0  # monotonic time of the first record


class Producer:
    """Records for one topic; `append` buffers, `send_ready` / `flush` send."""

    def __init__(self, cluster: Cluster, topic: str, settings: ProducerSettings) -> None:
        self.cluster = cluster
        self.topic = topic
        self.settings = settings
        self.partitioner = StickyPartitioner()
        self._batches: dict[int, _Batch] = {}
        self.sent = 0  # records acknowledged (or written, with acks=0)

    async def start(self) -> None:
        """Wait for the topic's metadata (the broker may create it on this request)."""
        await self.cluster.wait_for_topic(self.topic, auto_create=True, timeout=self.settings.max_block_ms / 1000)
        log.info("producing to %s (%d partitions)", self.topic, self.partitions)

    @property
    def partitions(self) -> int:
        return self.cluster.partition_count(self.topic)

    def append(self, key: bytes | None, value: bytes | None, timestamp: int | None = None) -> None:
        n = self.partitions
        partition = self.partitioner.choose(key, n)
        batch = self._batches.get(partition)
        if batch is None:
            batch = self._batches[partition] = _Batch(created=time.monotonic())
        ts = int(time.time() * 1000) if timestamp is None else timestamp
        batch.records.append(NewRecord(key, value, timestamp=ts))
        batch.size += len(key or b"") + len(value or b"") + RECORD_OVERHEAD
        if key is None and batch.size >= self.settings.batch_size:
            self.partitioner.batch_completed(partition, n)

    def next_deadline(self) -> float | None:
        """Monotonic time at which the oldest buffered batch's linger ends (None: empty)."""
        if not self._batches:
            return None
        return min(b.created for b in self._batches.values()) + self.settings.linger_ms / 1000

    def _ready(self, everything: bool) -> dict[int, list[NewRecord]]:
        now = time.monotonic()
        linger = self.settings.linger_ms / 1000
        taken = {p: b for p, b in self._batches.items()
                 if everything or b.size >= self.settings.batch_size or now - b.created >= linger}
        for p in taken:
            del self._batches[p]
            self.partitioner.batch_completed(p, self.partitions)
        return {p: b.records for p, b in taken.items()}

    async def send_ready(self) -> None:
        """Send the batches that are full or have lingered long enough."""
        ready = self._ready(everything=False)
        if ready:
            await self._send(ready)

    async def flush(self) -> None:
        """Send everything buffered and wait for the acknowledgements."""
        ready = self._ready(everything=True)
        if ready:
            await self._send(ready)

    async def _send(self, batches: dict[int, list[NewRecord]]) -> None:
        """Send until acknowledged. Like the Java producer, `retries` counts requests the
        broker failed (or that were lost in flight); batches that could not even be sent
        (no leader, broker unreachable) wait for delivery.timeout.ms instead."""
        encoded = {p: encode_batch(records, compression=self.settings.compression) for p, records in batches.items()}
        counts = {p: len(records) for p, records in batches.items()}
        deadline = time.monotonic() + self.settings.delivery_timeout_ms / 1000
        retries = attempt = 0
        while True:
            if attempt:
                await asyncio.sleep(backoff(attempt, self.settings.retry_backoff_ms))
            attempt += 1
            try:
                if attempt > 1:
                    await self.cluster.refresh([self.topic])
            except ClientError as exc:  # no broker answers metadata requests right now
                failed = {p: (str(exc), False) for p in encoded}
            else:
                failed = await self._send_once(encoded)
            for p in set(encoded) - set(failed):
                self.sent += counts[p]
            if not failed:
                return
            why = "; ".join(f"{self.topic}-{p}: {reason}" for p, (reason, _) in sorted(failed.items()))
            if any(sent for _, sent in failed.values()):
                retries += 1
            if retries > self.settings.retries:
                raise ClientError(f"produce failed after {self.settings.retries} retries: {why}")
            if time.monotonic() > deadline:
                raise ClientError(f"produce failed within delivery.timeout.ms {self.settings.delivery_timeout_ms}: {why}")
            log.warning("produce attempt %d failed (%s), retrying after a metadata refresh", attempt, why)
            encoded = {p: encoded[p] for p in failed}

    async def _send_once(self, encoded: dict[int, bytes]) -> dict[int, tuple[str, bool]]:
        """One Produce per leader; the partitions to try again, with the reason and
        whether the request was sent (which counts against `retries`). Errors that no
        retry fixes raise ClientError."""
        by_leader: dict[int, dict[int, bytes]] = {}
        failed: dict[int, tuple[str, bool]] = {}
        for p, data in encoded.items():
            leader = self.cluster.leader((self.topic, p))
            if leader is None or leader.leader < 0:
                failed[p] = ("no leader", False)
            else:
                by_leader.setdefault(leader.leader, {})[p] = data
        results = await asyncio.gather(*(self._produce(b, parts) for b, parts in by_leader.items()))
        for result in results:
            failed.update(result)
        return failed

    async def _produce(self, broker_id: int, parts: dict[int, bytes]) -> dict[int, tuple[str, bool]]:
        s = schema(PRODUCE, 9)
        req = request(PRODUCE, 9, transactional_id=None, acks=i16(self.settings.acks),
                      timeout=millis(self.settings.request_timeout_ms), topic_data=(
                          build(s.TopicProduceData, name=self.topic, partition_data=tuple(
                              build(s.PartitionProduceData, index=i32(p), records=data) for p, data in parts.items())),))
        try:
            conn = await self.cluster.connection(broker_id)
        except ClientError as exc:
            return {p: (str(exc), False) for p in parts}
        try:
            if self.settings.acks == 0:
                await conn.send_no_response(req)
                return {}
            resp = await conn.send(req, timeout=self.settings.request_timeout_ms / 1000 + 30)
        except (ConnectionClosed, TimeoutError, OSError) as exc:
            await self.cluster.drop(broker_id)
            return {p: (f"broker {broker_id}: {exc or type(exc).__name__}", True) for p in parts}
        failed: dict[int, tuple[str, bool]] = {}
        answered: set[int] = set()
        for t in resp.responses:
            for pr in t.partition_responses:
                p = int(pr.index)
                answered.add(p)
                if pr.error_code == ErrorCode.none:
                    continue
                if pr.error_code in RETRIABLE:
                    failed[p] = (pr.error_code.name.upper(), True)
                else:
                    detail = f" ({pr.error_message})" if pr.error_message else ""
                    raise ClientError(f"produce to {self.topic}-{p} failed: {pr.error_code.name.upper()}{detail}")
        for p in set(parts) - answered:
            failed[p] = ("no answer for the partition", True)
        return failed


"""The consumer's data path: Fetch v12 long polls to partition leaders, batches decoded
into records, a position per assigned partition.

As Kafka's Fetcher, reduced: one Fetch per leader broker covering all of the
partitions it leads (sent side by side), max_wait 500 ms so an idle topic costs two
requests a second. Batches are decoded with protocol/records.py (which decompresses);
records before the fetch position (inside a compressed batch that starts earlier) are
dropped; control batches never reach the caller; with read_committed, aborted
transactions are skipped (client/aborted.py). Stale-metadata errors and lost
connections refresh metadata, so the fetcher follows a leader that moved; an offset out
of range resets the position with the auto.offset.reset policy.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from kio.schema.errors import ErrorCode
from kio.static.primitive import i8, i32, i64

from snakafka.client.aborted import AbortedTransactions
from snakafka.client.cluster import (
    EARLIEST,
    LATEST,
    STALE_METADATA,
    ClientError,
    Cluster,
    TopicPartition,
    backoff,
)
from snakafka.client.connection import ConnectionClosed
from snakafka.client.requests import build, millis, request, schema
from snakafka.protocol.batch import BatchError, iter_batches
from snakafka.protocol.control import decode_marker
from snakafka.protocol.records import Headers, decode_batch

log = logging.getLogger(__name__)

FETCH = 1
READ_UNCOMMITTED, READ_COMMITTED = 0, 1
RESET_POLICIES = {"earliest": EARLIEST, "latest": LATEST}


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """fetch.* and related consumer configs, with the Java consumer's defaults."""

    max_wait_ms: int = 500  # fetch.max.wait.ms
    min_bytes: int = 1  # fetch.min.bytes
    max_bytes: int = 52428800  # fetch.max.bytes
    partition_max_bytes: int = 1048576  # max.partition.fetch.bytes
    isolation_level: int = READ_UNCOMMITTED
    auto_offset_reset: str = "latest"  # earliest | latest | none
    retry_backoff_ms: int = 100


@dataclass(frozen=True, slots=True)
class ConsumedRecord:
    topic: str
    partition: int
    offset: int
    timestamp: int
    log_append_time: bool
    key: bytes | None
    value: bytes | None
    headers: Headers = ()


@dataclass
class Fetcher:
    """Positions of the assigned partitions and the fetches that advance them."""

    cluster: Cluster
    settings: FetchSettings
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    _stale: bool = False
    _failures: int = 0  # consecutive rounds with stale metadata, for the backoff

    async def assign(self, starts: dict[TopicPartition, int | None], default_reset: str | None = None) -> None:
        """Fetch from these partitions only. A None start takes the reset policy
        (`default_reset`, else auto.offset.reset); a negative start is EARLIEST/LATEST."""
        policy = default_reset or self.settings.auto_offset_reset
        to_list: dict[TopicPartition, int] = {}
        self.positions = {}
        for tp, start in starts.items():
            if start is None:
                if policy not in RESET_POLICIES:
                    raise ClientError(f"no committed offset for {tp[0]}-{tp[1]} and auto.offset.reset is {policy}")
                to_list[tp] = RESET_POLICIES[policy]
            elif start < 0:
                to_list[tp] = start
            else:
                self.positions[tp] = start
        if to_list:
            self.positions.update(await self.cluster.list_offsets(to_list, self.settings.isolation_level))
        log.info("fetching from %s", ", ".join(f"{t}-{p}@{o}" for (t, p), o in sorted(self.positions.items())))

    async def poll(self) -> list[ConsumedRecord]:
        """One round of fetches (waiting up to max_wait_ms for data); the new records."""
        if self._stale:
            self._failures += 1
            await asyncio.sleep(backoff(self._failures, self.settings.retry_backoff_ms))
            try:
                await self.cluster.refresh(sorted({t for t, _ in self.positions}))
                self._stale = False
            except ClientError as exc:  # no broker reachable now: the consumer keeps trying
                log.warning("metadata refresh failed: %s", exc)
                return []
        else:
            self._failures = 0
        by_leader: dict[int, list[TopicPartition]] = {}
        for tp in self.positions:
            leader = self.cluster.leader(tp)
            if leader is None or leader.leader < 0:
                self._stale = True
            else:
                by_leader.setdefault(leader.leader, []).append(tp)
        if not by_leader:
            await asyncio.sleep(self.settings.max_wait_ms / 1000)
            return []
        results = await asyncio.gather(*(self._fetch(b, tps) for b, tps in by_leader.items()))
        return [record for batch in results for record in batch]

    async def _fetch(self, broker_id: int, tps: list[TopicPartition]) -> list[ConsumedRecord]:
        s = schema(FETCH, 12)
        topics: dict[str, list[int]] = {}
        for t, p in tps:
            topics.setdefault(t, []).append(p)
        req = request(FETCH, 12, replica_id=i32(-1), max_wait=millis(self.settings.max_wait_ms),
                      min_bytes=i32(self.settings.min_bytes), max_bytes=i32(self.settings.max_bytes),
                      isolation_level=i8(self.settings.isolation_level), session_id=i32(0), session_epoch=i32(-1),
                      topics=tuple(build(s.FetchTopic, topic=t, partitions=tuple(
                          build(s.FetchPartition, partition=i32(p), current_leader_epoch=i32(self._epoch((t, p))),
                                fetch_offset=i64(self.positions[(t, p)]), last_fetched_epoch=i32(-1),
                                log_start_offset=i64(-1), partition_max_bytes=i32(self.settings.partition_max_bytes))
                          for p in ps)) for t, ps in topics.items()),
                      forgotten_topics_data=(), rack_id="")
        try:
            conn = await self.cluster.connection(broker_id)
            resp = await conn.send(req, timeout=self.settings.max_wait_ms / 1000 + 30)
        except (ClientError, ConnectionClosed, TimeoutError, OSError) as exc:
            log.warning("fetch from broker %d failed (%s); refreshing metadata", broker_id, exc)
            await self.cluster.drop(broker_id)
            self._stale = True
            return []
        if resp.error_code != ErrorCode.none:
            log.warning("fetch from broker %d: %s", broker_id, resp.error_code.name.upper())
            self._stale = True
            return []
        out: list[ConsumedRecord] = []
        resets: dict[TopicPartition, int] = {}
        for t in resp.responses:
            for p in t.partitions:
                tp = (t.topic, int(p.partition_index))
                if tp not in self.positions:
                    continue  # unassigned while the fetch was out
                if p.error_code == ErrorCode.none:
                    out += self._records(tp, p)
                elif p.error_code == ErrorCode.offset_out_of_range:
                    policy = self.settings.auto_offset_reset
                    if policy not in RESET_POLICIES:
                        raise ClientError(f"offset {self.positions[tp]} of {tp[0]}-{tp[1]} is out of range")
                    log.warning("offset %d of %s-%d out of range, resetting to %s", self.positions[tp], *tp, policy)
                    resets[tp] = RESET_POLICIES[policy]
                elif p.error_code in STALE_METADATA:
                    log.info("fetch %s-%d: %s; refreshing metadata", *tp, p.error_code.name.upper())
                    self._stale = True
                else:
                    raise ClientError(f"fetch of {tp[0]}-{tp[1]} failed: {p.error_code.name.upper()}")
        if resets:
            self.positions.update(await self.cluster.list_offsets(resets, self.settings.isolation_level))
        return out

    def _epoch(self, tp: TopicPartition) -> int:
        leader = self.cluster.leader(tp)
        return leader.epoch if leader is not None else -1

    def _records(self, tp: TopicPartition, data: Any) -> list[ConsumedRecord]:
        raw = bytes(data.records or b"")
        position = self.positions[tp]
        read_committed = self.settings.isolation_level == READ_COMMITTED
        aborted = AbortedTransactions(((int(a.producer_id), int(a.first_offset)) for a in data.aborted_transactions or ())
                                      if read_committed else None)
        out: list[ConsumedRecord] = []
        for pos, header in iter_batches(raw):
            if header.next_offset <= position:
                continue
            view = memoryview(raw)[pos: pos + header.size]
            try:
                abort_marker = header.is_control and (marker := decode_marker(view)) is not None and not marker.commit
                if read_committed and not aborted.keep(header, abort_marker):
                    position = header.next_offset
                    continue
                if header.is_control:
                    position = header.next_offset
                    continue
                header, records = decode_batch(view)
            except BatchError as exc:
                raise ClientError(f"{tp[0]}-{tp[1]}: corrupt record batch at offset {header.base_offset}: {exc}") from None
            for r in records:
                if r.offset >= position:
                    out.append(ConsumedRecord(tp[0], tp[1], r.offset, r.timestamp, header.is_log_append_time,
                                              r.key, r.value, r.headers))
            position = header.next_offset
        self.positions[tp] = position
        return out

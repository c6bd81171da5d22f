"""The counters the replica manager keeps for the metrics endpoint (BrokerTopicStats):
bytes and records in per topic on appends, bytes out on consumer fetches only (once per
response, however many read passes a long poll took), ISR shrinks and expands on the
leader's own ISR writes, and a deleted topic's counters dropped."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from support.batches import make_batch

from snakafka.clock import ManualClock
from snakafka.cluster.metadata_cache import MetadataCache
from snakafka.cluster.model import PartitionState, TopicInfo
from snakafka.cluster.store.local import LocalMetadataStore
from snakafka.log.log_config import LogConfig
from snakafka.log.log_manager import LogManager
from snakafka.replication.replica_manager import FetchRequestPartition, ReplicaManager

TP = ("t", 0)
LAG_MS = 10_000


class Leader:
    """Broker 0 leads t-0 (replicas 0 and 1, ISR `isr`); time is a number we move."""

    def __init__(self, tmp_path: Path, isr: tuple[int, ...]) -> None:
        self.now = 1_000
        self.tmp_path = tmp_path
        self.store = LocalMetadataStore(tmp_path / "meta")
        self.cache = MetadataCache(self.store)
        self.state = PartitionState((0, 1), 0, 1, isr, 0)

    async def start(self) -> ReplicaManager:
        await self.store.start()
        await self.store.create_topic(TopicInfo("t", uuid.uuid4(), {0: self.state}))
        await self.cache.refresh()
        self.manager = ReplicaManager(0, LogManager([self.tmp_path / "data"], ManualClock(), LogConfig()), self.cache,
                                      lambda _topic: LogConfig(), store=self.store, lag_time_max_ms=LAG_MS,
                                      time_ms=lambda: self.now)
        self.manager.apply_metadata()
        return self.manager

    async def stop(self) -> None:
        await self.manager.close()
        self.manager.log_manager.shutdown()
        await self.store.close()

    async def fetch(self, offset: int, *, replica_id: int = -1, min_bytes: int = 1, max_wait_ms: int = 0) -> int:
        request = FetchRequestPartition("t", 0, offset, 1 << 20, current_leader_epoch=1)
        results = await self.manager.fetch([request], max_wait_ms=max_wait_ms, min_bytes=min_bytes, max_bytes=1 << 20,
                                           committed_only=replica_id < 0, replica_id=replica_id)
        return sum(r.size for r in results)


async def _until(condition: object, attempts: int = 100) -> None:
    for _ in range(attempts):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def test_bytes_and_records_in_and_out(tmp_path: Path) -> None:
    async def run() -> None:
        leader = Leader(tmp_path, isr=(0,))
        manager = await leader.start()
        stats = manager.topic_stats
        first, second = make_batch(3), make_batch(5, value_size=40)
        manager.append_records(1, {TP: first})
        manager.append_records(1, {TP: second})
        assert dict(stats.bytes_in) == {"t": len(first) + len(second)}
        assert dict(stats.messages_in) == {"t": 8}

        assert await leader.fetch(0, replica_id=1) > 0  # a follower's fetch: replication, not BytesOut
        assert dict(stats.bytes_out) == {}
        sent = await leader.fetch(0)
        assert sent == len(first) + len(second) and dict(stats.bytes_out) == {"t": sent}
        # A long poll that reads twice (too few bytes, then again at its deadline) counts what it sent, once.
        again = await leader.fetch(3, min_bytes=1 << 20, max_wait_ms=50)
        assert again == len(second) and stats.bytes_out["t"] == sent + again
        await leader.stop()
    asyncio.run(run())


def test_isr_expands_and_shrinks_are_counted(tmp_path: Path) -> None:
    async def run() -> None:
        leader = Leader(tmp_path, isr=(0,))
        manager = await leader.start()
        part, stats = manager.partitions[TP], manager.topic_stats
        manager.append_records(1, {TP: make_batch(2)})
        await leader.fetch(2, replica_id=1)  # the follower has caught up: it joins the ISR
        await _until(lambda: part.state.isr == (0, 1))
        assert (stats.isr_expands, stats.isr_shrinks) == (1, 0)

        manager.append_records(1, {TP: make_batch(1)})
        leader.now += LAG_MS + 1  # and has not fetched since
        await manager.shrink_isrs()
        await _until(lambda: part.state.isr == (0,))
        assert (stats.isr_expands, stats.isr_shrinks) == (1, 1)
        await leader.stop()
    asyncio.run(run())


def test_a_deleted_topic_loses_its_counters(tmp_path: Path) -> None:
    async def run() -> None:
        leader = Leader(tmp_path, isr=(0,))
        manager = await leader.start()
        manager.append_records(1, {TP: make_batch(1)})
        assert "t" in manager.topic_stats.messages_in
        await leader.store.delete_topic("t")
        await leader.cache.refresh()
        manager.apply_metadata()
        assert "t" not in manager.topic_stats.messages_in and "t" not in manager.topic_stats.bytes_in
        await leader.stop()
    asyncio.run(run())

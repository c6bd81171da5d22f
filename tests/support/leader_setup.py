"""One ReplicaManager leading t-0, without a network, for the leader's side of
replication: tests play the followers by calling fetch with their replica id, and move
time with a ManualScheduler (waiting requests expire only when a test advances it)."""

from __future__ import annotations

import uuid
from pathlib import Path

from snakafka.clock import ManualClock
from snakafka.cluster.metadata_cache import MetadataCache
from snakafka.cluster.model import PartitionState, TopicInfo
from snakafka.cluster.store.local import LocalMetadataStore
from snakafka.log.log_config import LogConfig
from snakafka.log.log_manager import LogManager
from snakafka.replication.replica_manager import (
    FetchRequestPartition,
    FetchResult,
    ReplicaManager,
)
from snakafka.scheduler import ManualScheduler

TP = ("t", 0)
LAG_MS = 10_000


class Setup:
    """Broker 0 leads t-0 (replicas 0, 1 by default) at leader epoch 3; time is a number we move."""

    def __init__(self, tmp_path: Path, isr: tuple[int, ...], replicas: tuple[int, ...] = (0, 1),
                 partitions: int = 1) -> None:
        self.partitions = partitions
        self.scheduler = ManualScheduler(ManualClock(1_000))
        self.store = LocalMetadataStore(tmp_path / "meta")
        self.cache = MetadataCache(self.store)
        self.tmp_path = tmp_path
        self.state = PartitionState(replicas, 0, 3, isr, 5)

    async def start(self) -> ReplicaManager:
        await self.store.start()
        await self.store.create_topic(TopicInfo("t", uuid.uuid4(), dict.fromkeys(range(self.partitions), self.state)))
        await self.cache.refresh()
        self.manager = ReplicaManager(0, LogManager([self.tmp_path / "data"], ManualClock(), LogConfig()), self.cache,
                                      lambda _topic: LogConfig(min_insync_replicas=2), store=self.store,
                                      lag_time_max_ms=LAG_MS, time_ms=self.scheduler.clock.time_ms,
                                      scheduler=self.scheduler)
        self.manager.apply_metadata()
        return self.manager

    async def stop(self) -> None:
        await self.manager.close()
        self.manager.log_manager.shutdown()
        await self.store.close()

    async def follower_fetch(self, offset: int, last_fetched_epoch: int = -1, *, replica: int = 1,
                             max_wait_ms: int = 0, partition: int = 0) -> list[FetchResult]:
        request = FetchRequestPartition("t", partition, offset, 1 << 20, current_leader_epoch=3,
                                        last_fetched_epoch=last_fetched_epoch)
        return list(await self.manager.fetch([request], max_wait_ms=max_wait_ms, min_bytes=1, max_bytes=1 << 20,
                                             committed_only=False, replica_id=replica))

    async def consumer_fetch(self, offset: int, *, max_wait_ms: int = 500, min_bytes: int = 1) -> list[FetchResult]:
        request = FetchRequestPartition("t", 0, offset, 1 << 20)
        return list(await self.manager.fetch([request], max_wait_ms=max_wait_ms, min_bytes=min_bytes,
                                             max_bytes=1 << 20))

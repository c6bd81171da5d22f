"""Replication throttles: the measured rate over Kafka's sliding window, which replicas a
topic's throttled-replica list names, and a leader holding back an out-of-sync follower
of a throttled partition (never an in-sync one) while the rate is over the limit."""

from __future__ import annotations

import asyncio
import time
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
from snakafka.replication.throttle import UNLIMITED, ReplicationQuota, is_throttled


def test_throttled_replica_lists() -> None:
    assert is_throttled("0:1,1:2", 0, 1) and is_throttled("0:1, 1:2", 1, 2) and is_throttled("*", 7, 9)
    assert not is_throttled("0:1,1:2", 0, 2) and not is_throttled("", 0, 1) and not is_throttled(None, 0, 1)


def test_rate_over_the_window_and_the_limit() -> None:
    limit = [1000]
    quota = ReplicationQuota(lambda: limit[0], lambda _t, p: p == 0)
    quota.record(5000, now=100.0)
    assert quota.measured(100.5) == 5000  # at least one sample long
    assert quota.exceeded(100.5) and quota.holds_back("t", 0, in_sync=False, now=100.5)
    assert not quota.holds_back("t", 0, in_sync=True, now=100.5), "in-sync replicas are never held back"
    assert not quota.holds_back("t", 1, in_sync=False, now=100.5), "only throttled partitions"
    assert quota.measured(104.0) == 1250  # 5000 bytes over 4 s
    assert not quota.exceeded(106.0)  # 5000 / 6 s < 1000 B/s
    assert quota.measured(111.0) == 0  # the window (11 samples of 1 s) has passed
    limit[0] = UNLIMITED
    quota.record(10**9, now=120.0)
    assert not quota.exceeded(120.0)


def test_the_leader_holds_back_an_out_of_sync_follower_over_the_limit(tmp_path: Path) -> None:
    async def run() -> None:
        store = LocalMetadataStore(tmp_path / "meta")
        await store.start()
        await store.create_topic(TopicInfo("t", uuid.uuid4(), {0: PartitionState((0, 1, 2), 0, 1, (0, 1), 2)}))
        cache = MetadataCache(store)
        await cache.refresh()
        manager = ReplicaManager(0, LogManager([tmp_path / "data"], ManualClock(), LogConfig()), cache,
                                 lambda _topic: LogConfig(), store=store)
        manager.apply_metadata()
        manager.append_records(1, {("t", 0): make_batch(20)})
        manager.leader_quota = quota = ReplicationQuota(lambda: 100, lambda _t, _p: True)

        def fetched(replica: int) -> int:
            request = FetchRequestPartition("t", 0, 0, 1 << 20, current_leader_epoch=1)
            [result], _, _ = manager.read_once([request], 1 << 20, committed_only=False, replica_id=replica)
            return result.size

        assert fetched(2) > 0  # under the limit: the out-of-sync follower 2 gets data, counted
        assert quota.exceeded(time.monotonic())
        assert fetched(2) == 0  # over the limit: held back
        assert fetched(1) > 0  # the in-sync follower 1 never is
        await manager.close()
        manager.log_manager.shutdown()
        await store.close()

    asyncio.run(run())

"""Transactions in replication: the last stable offset on leaders and followers, control
batches refused from clients, and ReplicaManager.write_txn_markers with READ_COMMITTED
fetches (aborted transactions listed, long polls woken by markers)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from support.txn_batches import marker, txn_batch

from snakafka.clock import ManualClock
from snakafka.cluster.metadata_cache import MetadataCache
from snakafka.cluster.model import PartitionState, TopicInfo
from snakafka.cluster.store.local import LocalMetadataStore
from snakafka.log.log_config import LogConfig
from snakafka.log.log_manager import LogManager
from snakafka.log.partition_log import PartitionLog
from snakafka.protocol.batch import iter_batches
from snakafka.protocol.control import TxnMarker
from snakafka.protocol.errors import ErrorCode, KafkaError
from snakafka.replication.partition import Partition
from snakafka.replication.replica_manager import FetchRequestPartition, ReplicaManager


def make_partition(directory: Path, broker_id: int, state: PartitionState) -> Partition:
    plog = PartitionLog.open(directory / f"b{broker_id}" / "t-0", "t", 0, LogConfig(), ManualClock())
    part = Partition("t", 0, broker_id, plog, state)
    part.update_state(state)
    return part


def test_lso_is_the_open_transaction_capped_by_the_high_watermark(tmp_path: Path) -> None:
    leader = make_partition(tmp_path, 0, PartitionState((0, 1), 0, 1, (0, 1)))
    leader.append_as_leader(txn_batch(1, 0, [b"plain"], transactional=False), 1)  # 0
    leader.append_as_leader(txn_batch(2, 0, [b"a", b"b"]), 1)  # 1-2
    assert leader.high_watermark == 0 and leader.last_stable_offset == 0
    leader.on_follower_fetch(1, 3, now_ms=0)
    assert leader.high_watermark == 3 and leader.last_stable_offset == 1
    leader.append_as_leader(marker(2, commit=True), -1, allow_control=True)  # 3
    assert leader.last_stable_offset == 1, "the marker is not replicated yet"
    leader.on_follower_fetch(1, 4, now_ms=0)
    assert leader.last_stable_offset == 4
    read = leader.read(0, 1 << 20, committed_only=True, min_one_batch=True, read_committed=True)
    assert read.slice is not None


def test_a_follower_tracks_the_leaders_transactions(tmp_path: Path) -> None:
    leader = make_partition(tmp_path, 0, PartitionState((0, 1), 0, 1, (0,)))
    follower = make_partition(tmp_path, 1, PartitionState((0, 1), 0, 1, (0,)))
    leader.append_as_leader(txn_batch(5, 0, [b"a"]), 1)  # 0
    leader.append_as_leader(txn_batch(6, 0, [b"b"]), 1)  # 1
    leader.append_as_leader(marker(5, commit=False), 1, allow_control=True)  # 2
    data = leader.log.read(0, 1 << 20).slice
    assert data is not None
    follower.append_as_follower(data.read_bytes())
    follower.follower_high_watermark(leader.high_watermark)
    assert follower.log.first_unstable_offset == 1 and follower.last_stable_offset == 1
    assert follower.log.aborted_transactions(0, 3) == leader.log.aborted_transactions(0, 3) != []
    follower.log.truncate_to(2)  # as the fetcher does: the log rebuilds its producer state
    assert follower.log.first_unstable_offset == 0 and follower.log.aborted_transactions(0, 2) == []
    # became leader: it knows the open transactions and accepts their markers
    follower.update_state(PartitionState((0, 1), 1, 2, (1,)))
    follower.append_as_leader(marker(5, commit=True), -1, allow_control=True)
    assert follower.last_stable_offset == 1


def test_clients_may_not_write_control_batches(tmp_path: Path) -> None:
    part = make_partition(tmp_path, 0, PartitionState((0,), 0, 1, (0,)))
    with pytest.raises(KafkaError) as refused:
        part.append_as_leader(marker(1, commit=True), 1)
    assert refused.value.code == ErrorCode.invalid_record
    assert part.log.log_end_offset == 0
    part.append_as_leader(txn_batch(1, 0, [b"a"], epoch=4), 1)
    with pytest.raises(KafkaError) as fenced:
        part.append_as_leader(marker(1, commit=True, epoch=3), -1, allow_control=True)
    assert fenced.value.code == ErrorCode.invalid_producer_epoch


# -- ReplicaManager ------------------------------------------------------------------


async def _replica_manager(tmp_path: Path) -> ReplicaManager:
    store = LocalMetadataStore(tmp_path / "meta")
    cache = MetadataCache(store)
    state = PartitionState((0,), 0, 1, (0,))
    cache.topics = {"t": TopicInfo("t", uuid.uuid4(), {0: state})}
    manager = ReplicaManager(0, LogManager([tmp_path / "data"], ManualClock(), LogConfig()), cache,
                             lambda _topic: LogConfig())
    manager.apply_metadata()
    return manager


def _fetch(offset: int = 0) -> list[FetchRequestPartition]:
    return [FetchRequestPartition("t", 0, offset, 1 << 20)]


def test_write_txn_markers_and_read_committed_fetches(tmp_path: Path) -> None:
    async def run() -> None:
        manager = await _replica_manager(tmp_path)
        manager.append_records(-1, {("t", 0): txn_batch(7, 0, [b"x", b"y"])})  # 0-1
        manager.append_records(-1, {("t", 0): txn_batch(8, 0, [b"z"])})  # 2
        [res] = await manager.fetch(_fetch(), max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, read_committed=True)
        assert res.records is None and res.last_stable_offset == 0 and res.high_watermark == 3

        errors = await manager.write_txn_markers(TxnMarker(7, 0, 0, commit=False), [("t", 0), ("nope", 0)], 1_000)
        assert errors == {("t", 0): ErrorCode.none, ("nope", 0): ErrorCode.unknown_topic_or_partition}
        [res] = await manager.fetch(_fetch(), max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, read_committed=True)
        assert res.last_stable_offset == 2 and res.aborted == [(7, 0)]
        assert res.records is not None
        assert [h.base_offset for _, h in iter_batches(res.records.read_bytes())] == [0], "stops at the LSO"

        # a READ_COMMITTED long poll at the LSO wakes when the marker moves it
        waiting = asyncio.ensure_future(manager.fetch(_fetch(2), max_wait_ms=10_000, min_bytes=1,
                                                      max_bytes=1 << 20, read_committed=True))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        manager.append_records(-1, {("t", 0): txn_batch(8, 1, [b"more"])})  # data of the open txn: still blocked
        await asyncio.sleep(0.05)
        assert not waiting.done()
        started = time.monotonic()
        errors = await manager.write_txn_markers(TxnMarker(8, 0, 0, commit=True), [("t", 0)], 1_000)
        assert errors == {("t", 0): ErrorCode.none}
        [res] = await asyncio.wait_for(waiting, 5)
        assert time.monotonic() - started < 2
        assert res.last_stable_offset == 6 and res.aborted == [(7, 0)]  # its marker (3) is in the range

        stale = await manager.write_txn_markers(TxnMarker(8, 0, 0, commit=True), [("t", 0)], 1_000)
        assert stale == {("t", 0): ErrorCode.none}, "a repeated marker (coordinator retry) is accepted"
        fenced = await manager.write_txn_markers(TxnMarker(8, 0, -1, commit=True), [("t", 0)], 1_000)
        assert fenced == {("t", 0): ErrorCode.transaction_coordinator_fenced}
        # READ_UNCOMMITTED is unchanged: up to the high watermark, no aborted list
        [res] = await manager.fetch(_fetch(), max_wait_ms=0, min_bytes=1, max_bytes=1 << 20)
        assert res.aborted == [] and res.records is not None
        await manager.close()
        manager.log_manager.shutdown()

    asyncio.run(run())

"""The high watermark across a restart: a partition created over a log dir with a
replication-offset-checkpoint starts from the checkpointed high watermark (capped at the
log end, never below the log start) when other replicas share its ISR, so a restarted
leader serves what was committed before, neither the records only it had (its recovery
point is its log end after loading) nor less. Alone in the ISR it starts at its log end,
as before. A corrupt file, or no entry, falls back to the recovery point.

Broker 0's ReplicaManager and LogManager over a real log dir, restarted by building new
ones: cleanly (high watermarks and logs written, as Broker.stop does) or not (the logs
closed without the clean-shutdown marker, as after kill -9)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from support.batches import make_batch

from snakafka.clock import ManualClock
from snakafka.cluster.metadata_cache import MetadataCache
from snakafka.cluster.model import PartitionState, TopicInfo
from snakafka.cluster.store.local import LocalMetadataStore
from snakafka.log.checkpoint import read_offsets
from snakafka.log.log_config import LogConfig
from snakafka.log.log_manager import LogManager
from snakafka.replication.partition import Partition, initial_high_watermark
from snakafka.replication.replica_manager import FetchRequestPartition, ReplicaManager

TP = ("t", 0)
HW_FILE = "replication-offset-checkpoint"
LEADS_WITH_FOLLOWER = PartitionState((0, 1), 0, 2, (0, 1), 0)
FOLLOWS = PartitionState((0, 1), 1, 2, (1, 0), 0)
ALONE = PartitionState((0,), 0, 2, (0,), 0)


class Node:
    """Broker 0: a metadata store (local, with topic t in `state`) and a data dir that
    outlive each `start`/`stop` of its log and replica managers."""

    def __init__(self, tmp_path: Path) -> None:
        self.data = tmp_path / "data"
        self.store = LocalMetadataStore(tmp_path / "meta")
        self.cache = MetadataCache(self.store)

    async def create(self, state: PartitionState) -> None:
        await self.store.start()
        await self.store.create_topic(TopicInfo("t", uuid.uuid4(), {0: state}))

    async def start(self) -> ReplicaManager:
        await self.cache.refresh()
        log_manager = LogManager([self.data], ManualClock(), LogConfig())
        log_manager.load(lambda _topic: LogConfig())
        self.rm = ReplicaManager(0, log_manager, self.cache, lambda _topic: LogConfig(), store=self.store)
        self.rm.apply_metadata()
        return self.rm

    @property
    def part(self) -> Partition:
        return self.rm.partitions[TP]

    async def stop(self, *, clean: bool) -> None:
        await self.rm.close()
        if clean:
            self.rm.checkpoint_high_watermarks()  # Broker.stop's order
            self.rm.log_manager.shutdown()
        else:
            for partition_log in self.rm.log_manager.all_logs():
                partition_log.close()  # no marker: the next load recovers

    async def close(self) -> None:
        await self.stop(clean=True)
        await self.store.close()


async def follower_fetch(rm: ReplicaManager, offset: int) -> None:
    await rm.fetch([FetchRequestPartition("t", 0, offset, 1 << 20, current_leader_epoch=2)], max_wait_ms=0,
                   min_bytes=1, max_bytes=1 << 20, committed_only=False, replica_id=1)


async def leader_with_uncommitted_tail(node: Node) -> ReplicaManager:
    """Broker 0 leads t-0 with broker 1 in the ISR: 4 records committed, 2 more (acks=1)
    that broker 1 has not fetched."""
    await node.create(LEADS_WITH_FOLLOWER)
    rm = await node.start()
    rm.append_records(1, {TP: make_batch(4)})
    await follower_fetch(rm, 4)
    rm.append_records(1, {TP: make_batch(2)})
    assert (node.part.high_watermark, node.part.log.log_end_offset) == (4, 6)
    return rm


def test_a_leader_restarted_after_a_crash_serves_only_what_was_committed(tmp_path: Path) -> None:
    async def run() -> None:
        node = Node(tmp_path)
        rm = await leader_with_uncommitted_tail(node)
        rm.checkpoint_high_watermarks()  # the periodic task's write
        assert read_offsets(node.data / HW_FILE) == {TP: 4}
        await node.stop(clean=False)

        rm = await node.start()
        assert node.part.log.log_end_offset == 6 and node.part.log.recovery_point == 6
        assert node.part.high_watermark == 4, "the recovery point would expose records broker 1 never had"
        [res] = rm.read_once([FetchRequestPartition("t", 0, 0, 1 << 20)], 1 << 20, committed_only=True)[0]
        assert res.high_watermark == 4
        await follower_fetch(rm, 6)  # broker 1 catches up: the high watermark moves on from there
        assert node.part.high_watermark == 6
        await node.close()

    asyncio.run(run())


def test_a_clean_restart_keeps_the_high_watermark(tmp_path: Path) -> None:
    async def run() -> None:
        node = Node(tmp_path)
        await leader_with_uncommitted_tail(node)
        await node.stop(clean=True)
        assert read_offsets(node.data / HW_FILE) == {TP: 4}
        await node.start()
        assert node.part.high_watermark == 4
        await node.close()

    asyncio.run(run())


def test_a_follower_restarts_from_its_checkpointed_high_watermark(tmp_path: Path) -> None:
    async def run() -> None:
        node = Node(tmp_path)
        await node.create(FOLLOWS)
        await node.start()
        node.part.append_as_follower(make_batch(5))
        node.part.follower_high_watermark(3)  # the leader's, from its last fetch answer
        await node.stop(clean=True)
        assert read_offsets(node.data / HW_FILE) == {TP: 3}
        await node.start()
        assert (node.part.high_watermark, node.part.log.log_end_offset) == (3, 5)
        await node.close()

    asyncio.run(run())


def test_the_checkpoint_is_capped_at_the_log_end_and_raised_to_the_log_start(tmp_path: Path) -> None:
    async def run() -> None:
        node = Node(tmp_path)
        rm = await leader_with_uncommitted_tail(node)
        node.part.log.delete_records_before(5)
        await node.stop(clean=True)
        (node.data / HW_FILE).write_text("0\n1\nt 0 100\n")  # more than the log holds (a crash cut it)
        await node.start()
        assert node.part.high_watermark == 6
        await node.stop(clean=True)
        (node.data / HW_FILE).write_text("0\n1\nt 0 2\n")  # below the log start offset
        rm = await node.start()
        assert rm.log_manager.get_log(*TP).log_start_offset == 5  # type: ignore[union-attr]
        assert node.part.high_watermark == 5
        await node.close()

    asyncio.run(run())


def test_a_corrupt_checkpoint_falls_back_to_the_recovery_point(tmp_path: Path) -> None:
    async def run() -> None:
        node = Node(tmp_path)
        await leader_with_uncommitted_tail(node)
        await node.stop(clean=True)
        (node.data / HW_FILE).write_text("0\n2\nt 0 4\n")  # torn: one entry of two
        await node.start()
        assert node.part.high_watermark == node.part.log.recovery_point == 6
        await node.close()
        assert read_offsets(node.data / HW_FILE) == {TP: 6}, "rewritten whole at the next write"

    asyncio.run(run())


def test_alone_in_the_isr_the_high_watermark_is_the_log_end(tmp_path: Path) -> None:
    async def run() -> None:
        node = Node(tmp_path)
        await node.create(ALONE)
        rm = await node.start()
        rm.append_records(1, {TP: make_batch(3)})
        assert node.part.high_watermark == 3
        await node.stop(clean=False)
        (node.data / HW_FILE).write_text("0\n1\nt 0 1\n")
        rm = await node.start()
        assert node.part.high_watermark == 3
        rm.checkpoint_high_watermarks()
        assert read_offsets(node.data / HW_FILE) == {TP: 3}, "written on a single broker too, as Kafka does"
        await node.close()

    asyncio.run(run())


def test_a_deleted_topic_leaves_the_checkpoint(tmp_path: Path) -> None:
    async def run() -> None:
        node = Node(tmp_path)
        rm = await leader_with_uncommitted_tail(node)
        await node.store.create_topic(TopicInfo("other", uuid.uuid4(), {0: ALONE}))
        await node.cache.refresh()
        rm.apply_metadata()
        rm.checkpoint_high_watermarks()
        assert read_offsets(node.data / HW_FILE) == {TP: 4, ("other", 0): 0}
        await node.store.delete_topic("t")
        await node.cache.refresh()
        for removal in rm.apply_metadata():
            removal()
        rm.checkpoint_high_watermarks()
        assert read_offsets(node.data / HW_FILE) == {("other", 0): 0}
        await node.close()

    asyncio.run(run())


offsets = st.integers(0, 10_000)


@given(start=offsets, length=offsets, recovered=offsets, checkpointed=st.none() | offsets, alone=st.booleans())
def test_initial_high_watermark_rule(start: int, length: int, recovered: int, checkpointed: int | None,
                                     alone: bool) -> None:
    end = start + length
    recovery_point = min(start + recovered, end)
    hw = initial_high_watermark(log_start_offset=start, log_end_offset=end, recovery_point=recovery_point,
                                checkpointed=checkpointed, alone_in_isr=alone)
    assert start <= hw <= end
    if alone:
        assert hw == end
    elif checkpointed is None:
        assert hw == recovery_point
    elif start <= checkpointed <= end:
        assert hw == checkpointed
    else:
        assert hw == (start if checkpointed < start else end)

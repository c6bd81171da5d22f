"""DelayedProduce and DelayedFetch in one ReplicaManager on a manual clock: what wakes a
waiting request and what does not, expiry without sleeping, and a follower's position
recorded once per fetch however often its waiting fetch is re-checked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.batches import make_batch
from support.leader_setup import TP, Setup

from snakafka.cluster.model import ControllerEpoch, PartitionState
from snakafka.protocol.errors import ErrorCode
from snakafka.replication.delayed import data_key, hw_key
from snakafka.replication.partition import Partition


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def test_a_consumer_fetch_waits_for_the_high_watermark_not_for_appends(tmp_path: Path) -> None:
    async def run() -> None:
        setup = Setup(tmp_path, isr=(0, 1))
        manager = await setup.start()
        waiting = asyncio.ensure_future(setup.consumer_fetch(0, max_wait_ms=500))
        await settle()
        assert manager.fetch_purgatory.watched(hw_key(TP)) == 1
        assert manager.fetch_purgatory.watched(data_key(TP)) == 0, "a consumer does not watch appends"
        manager.append_records(1, {TP: make_batch(3)})  # uncommitted: nothing a consumer may read
        await settle()
        assert not waiting.done()
        await setup.follower_fetch(3)  # the follower has it: the high watermark moves to 3
        [res] = await asyncio.wait_for(waiting, 5)
        assert res.high_watermark == 3 and res.records is not None and res.records.size > 0
        await setup.stop()
    asyncio.run(run())


def test_a_fetch_expires_on_the_manual_clock(tmp_path: Path) -> None:
    async def run() -> None:
        setup = Setup(tmp_path, isr=(0, 1))
        manager = await setup.start()
        waiting = asyncio.ensure_future(setup.consumer_fetch(0, max_wait_ms=500))
        await settle()
        setup.scheduler.advance(499)
        await settle()
        assert not waiting.done()
        setup.scheduler.advance(1)
        [res] = await asyncio.wait_for(waiting, 5)
        assert res.error == ErrorCode.none and res.records is None
        assert manager.fetch_purgatory.delayed == 0
        await setup.stop()
    asyncio.run(run())


def test_a_follower_fetch_is_woken_by_data(tmp_path: Path) -> None:
    async def run() -> None:
        setup = Setup(tmp_path, isr=(0, 1))
        manager = await setup.start()
        waiting = asyncio.ensure_future(setup.follower_fetch(0, max_wait_ms=500))
        await settle()
        assert not waiting.done() and manager.fetch_purgatory.watched(data_key(TP)) == 1
        manager.append_records(1, {TP: make_batch(2)})
        [res] = await asyncio.wait_for(waiting, 5)
        assert res.records is not None and res.records.size > 0
        await setup.stop()
    asyncio.run(run())


def test_a_follower_fetch_is_not_woken_by_the_high_watermark_alone(tmp_path: Path) -> None:
    """Followers 1 and 2 in the ISR. Follower 1 holds offsets 0-3 and waits; follower 2's
    fetch commits them (high watermark 4). As in Kafka (a follower reads to the log end,
    FetchIsolation.LOG_END), that does not answer follower 1: it waits for new records,
    whose answer carries the high watermark, or for its max wait. Answering it at every
    high watermark move would cost each acks=all write one more fetch round per follower."""
    async def run() -> None:
        setup = Setup(tmp_path, isr=(0, 1, 2), replicas=(0, 1, 2))
        manager = await setup.start()
        part = manager.partitions[TP]
        manager.append_records(1, {TP: make_batch(4)})
        holding = asyncio.ensure_future(setup.follower_fetch(4, replica=1, max_wait_ms=500))
        await settle()
        assert not holding.done() and part.high_watermark == 0
        assert manager.fetch_purgatory.watched(hw_key(TP)) == 0, "a follower does not watch the high watermark"
        await setup.follower_fetch(4, replica=2)  # both have everything: high watermark 4
        await settle()
        assert part.high_watermark == 4 and not holding.done()
        manager.append_records(1, {TP: make_batch(1)})  # the next records answer it, with the high watermark
        [res] = await asyncio.wait_for(holding, 5)
        assert res.high_watermark == 4 and res.records is not None and res.records.size > 0

        idle = asyncio.ensure_future(setup.follower_fetch(5, replica=1, max_wait_ms=500))
        await setup.follower_fetch(5, replica=2)  # high watermark 5: still no answer to follower 1
        await settle()
        assert part.high_watermark == 5 and not idle.done()
        setup.scheduler.advance(500)  # ...until its max wait, which tells it the high watermark
        [res] = await asyncio.wait_for(idle, 5)
        assert res.high_watermark == 5 and res.records is None
        await setup.stop()
    asyncio.run(run())


def test_a_follower_position_is_recorded_once_per_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """However often its waiting fetch is re-checked and answered, a follower's fetch moves
    its state once (fails if the bookkeeping runs in the read or the wake-up path)."""
    calls: list[tuple[int, int]] = []
    real = Partition.on_follower_fetch

    def counting(self: Partition, replica: int, fetch_offset: int, now_ms: int) -> tuple[bool, tuple[int, ...] | None]:
        calls.append((replica, fetch_offset))
        return real(self, replica, fetch_offset, now_ms)

    monkeypatch.setattr(Partition, "on_follower_fetch", counting)

    async def run() -> None:
        setup = Setup(tmp_path, isr=(0, 1, 2), replicas=(0, 1, 2))
        manager = await setup.start()
        manager.append_records(1, {TP: make_batch(4)})
        waiting = asyncio.ensure_future(setup.follower_fetch(4, replica=1, max_wait_ms=500))
        await settle()
        for _ in range(5):  # appends and checks the waiting fetch does not complete on... (it does on data)
            manager.fetch_purgatory.check_and_complete(hw_key(TP))
        manager.append_records(1, {TP: make_batch(1)})
        await asyncio.wait_for(waiting, 5)
        assert calls == [(1, 4)]
        await setup.stop()
    asyncio.run(run())


def test_acks_all_answers_not_leader_when_leadership_moves(tmp_path: Path) -> None:
    async def run() -> None:
        setup = Setup(tmp_path, isr=(0, 1))
        manager = await setup.start()
        waiting = asyncio.ensure_future(manager.append_and_wait(-1, {TP: make_batch(2)}, 30_000))
        await settle()
        assert manager.produce_purgatory.watched(hw_key(TP)) == 1
        moved = PartitionState((0, 1), 1, 4, (0, 1), 6)  # broker 1 leads now
        held = (await setup.store.topics())["t"].partitions[0]
        await setup.store.update_partition_states("t", {0: (held, moved)}, ControllerEpoch(1, 0))
        await setup.cache.refresh()
        manager.apply_metadata()
        result = (await asyncio.wait_for(waiting, 5))[TP]
        assert result.error == ErrorCode.not_leader_or_follower
        await setup.stop()
    asyncio.run(run())


def test_a_high_watermark_move_checks_waiting_produces_only_up_to_the_first_still_waiting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With many acks=all produces waiting on one partition, a high watermark move asks
    them in append order and stops at the first that still waits (the later ones need
    more): the work per move does not grow with the backlog."""
    from snakafka.replication.delayed import DelayedProduce

    checks: list[int] = []
    real = DelayedProduce.try_complete

    def counting(self: DelayedProduce) -> bool:
        checks.append(1)
        return real(self)

    monkeypatch.setattr(DelayedProduce, "try_complete", counting)

    async def run() -> None:
        setup = Setup(tmp_path, isr=(0, 1))
        manager = await setup.start()
        waiting = [asyncio.ensure_future(manager.append_and_wait(-1, {TP: make_batch(1)}, 30_000)) for _ in range(50)]
        await settle()
        assert manager.produce_purgatory.watched(hw_key(TP)) == 50
        checks.clear()
        await setup.follower_fetch(3)  # commits the first three
        await settle()
        assert [w.done() for w in waiting[:4]] == [True, True, True, False]
        assert len(checks) == 4, "three complete, the fourth still waits, the other 46 are not asked"
        await setup.follower_fetch(50)
        results = await asyncio.wait_for(asyncio.gather(*waiting), 5)
        assert all(r[TP].error == ErrorCode.none for r in results)
        await setup.stop()
    asyncio.run(run())

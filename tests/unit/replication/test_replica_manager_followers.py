"""The leader's side of replication in one ReplicaManager, without a network: follower
fetches (replica_id >= 0) move the high watermark and grow the ISR (written through the
metadata store's compare-and-set), acks=-1 waits for the ISR, lagging followers are
dropped, and a follower whose last fetched epoch diverged is told where to truncate.
Waiting requests expire on a ManualScheduler: time moves only when a test moves it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from support.batches import make_batch
from support.leader_setup import LAG_MS, TP, Setup

from snakafka.cluster.model import ControllerEpoch, PartitionState
from snakafka.protocol.errors import ErrorCode


def test_acks_all_waits_for_the_follower_and_the_high_watermark_follows_it(tmp_path: Path) -> None:
    async def run() -> None:
        setup = Setup(tmp_path, isr=(0, 1))
        manager = await setup.start()
        part = manager.partitions[TP]
        waiting = asyncio.ensure_future(manager.append_and_wait(-1, {TP: make_batch(4)}, 5_000))
        await asyncio.sleep(0)
        assert not waiting.done(), "acks=all answered before the follower had the records"
        assert part.high_watermark == 0 and part.log.log_end_offset == 4

        [res] = await setup.follower_fetch(0)  # the follower reads past the high watermark
        assert res.records is not None and res.records.size > 0  # type: ignore[attr-defined]
        assert not waiting.done()
        await setup.follower_fetch(4)  # ... and reports it has everything
        result = (await asyncio.wait_for(waiting, 2))[TP]
        assert result.error == ErrorCode.none and result.base_offset == 0
        assert part.high_watermark == 4

        # acks=1 does not wait; acks=all times out if the follower stops fetching
        assert manager.append_records(1, {TP: make_batch(1)})[TP].error == ErrorCode.none
        pending = asyncio.ensure_future(manager.append_and_wait(-1, {TP: make_batch(1)}, 100))
        await asyncio.sleep(0)
        setup.scheduler.advance(99)
        await asyncio.sleep(0)
        assert not pending.done()
        setup.scheduler.advance(1)
        assert (await pending)[TP].error == ErrorCode.request_timed_out
        await setup.stop()
    asyncio.run(run())


def test_the_isr_grows_when_the_follower_catches_up_and_shrinks_when_it_lags(tmp_path: Path) -> None:
    async def run() -> None:
        setup = Setup(tmp_path, isr=(0,))
        manager = await setup.start()
        part = manager.partitions[TP]
        manager.append_records(1, {TP: make_batch(3)})
        assert part.high_watermark == 3, "alone in the ISR, the leader commits at once"
        # min.insync.replicas=2 and an ISR of one: acks=all is refused before the append
        refused = manager.append_records(-1, {TP: make_batch(1)})[TP]
        assert refused.error == ErrorCode.not_enough_replicas and part.log.log_end_offset == 3

        await setup.follower_fetch(1)
        await asyncio.sleep(0.05)
        assert part.state.isr == (0,), "a follower behind the high watermark stays out"
        await setup.follower_fetch(3)
        for _ in range(50):
            await asyncio.sleep(0.01)
            if part.state.isr == (0, 1):
                break
        assert part.state.isr == (0, 1)
        stored = (await setup.store.topics())["t"].partitions[0]
        assert stored.isr == (0, 1) and stored.partition_epoch == 6 and stored.leader_epoch == 3

        manager.append_records(1, {TP: make_batch(2)})
        setup.scheduler.clock.advance(LAG_MS + 1)  # the follower has not caught up since
        await manager.shrink_isrs()
        for _ in range(50):
            await asyncio.sleep(0.01)
            if part.state.isr == (0,):
                break
        assert part.state.isr == (0,)
        assert (await setup.store.topics())["t"].partitions[0].isr == (0,)
        await setup.stop()
    asyncio.run(run())


def test_a_stale_isr_write_loses_to_the_controllers(tmp_path: Path) -> None:
    async def run() -> None:
        setup = Setup(tmp_path, isr=(0,))
        manager = await setup.start()
        part = manager.partitions[TP]
        manager.append_records(1, {TP: make_batch(2)})
        # the controller moved the partition on (new partition epoch) behind this leader's back
        moved = PartitionState((0, 1), 0, 3, (0,), 9)
        held = (await setup.store.topics())["t"].partitions[0]
        await setup.store.update_partition_states("t", {0: (held, moved)}, ControllerEpoch(1, 0))
        await setup.follower_fetch(2)
        await asyncio.sleep(0.1)
        assert (await setup.store.topics())["t"].partitions[0] == moved, "the compare-and-set must fail"
        assert part.state.isr == (0,)
        await setup.stop()
    asyncio.run(run())


def test_a_diverged_follower_is_told_where_the_histories_part(tmp_path: Path) -> None:
    async def run() -> None:
        setup = Setup(tmp_path, isr=(0, 1))
        manager = await setup.start()
        part = manager.partitions[TP]
        manager.append_records(1, {TP: make_batch(5)})  # epoch 3 covers offsets 0-4
        # the follower wrote epoch 2 up to offset 7 as an old leader: epoch 2 ends here at 0
        [res] = await setup.follower_fetch(8, last_fetched_epoch=2)
        assert res.diverging_epoch == (2, 0) and res.records is None  # type: ignore[attr-defined]
        # a follower on the current epoch, behind the end: no divergence, records
        [res] = await setup.follower_fetch(2, last_fetched_epoch=3)
        assert res.diverging_epoch is None and res.records is not None  # type: ignore[attr-defined]
        # on the current epoch but past this leader's end: truncate to the end
        [res] = await setup.follower_fetch(9, last_fetched_epoch=3)
        assert res.diverging_epoch == (3, 5)  # type: ignore[attr-defined]
        assert part.high_watermark <= 5
        await setup.stop()
    asyncio.run(run())

"""The leader's high watermark as Partition keeps it: a follower's fetch from where its
last one was does not recompute it (most partitions of a fetch session stand still), so
every other change that can move it must recompute it itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.batches import make_batch

from snakafka.clock import SystemClock
from snakafka.cluster.model import PartitionState
from snakafka.log.log_config import LogConfig
from snakafka.log.partition_log import PartitionLog
from snakafka.replication import partition as partition_module
from snakafka.replication.partition import Partition


def leader(tmp_path: Path) -> Partition:
    """Broker 0 leads t-0 with replicas 0, 1, 2; 2 is not in the ISR yet."""
    log_ = PartitionLog.open(tmp_path / "t-0", "t", 0, LogConfig(), SystemClock())
    state = PartitionState((0, 1, 2), 0, 1, (0, 1), 1)
    part = Partition("t", 0, 0, log_, state)
    part.update_state(state, 0)
    return part


def append(part: Partition, records: int) -> None:
    part.append_as_leader(make_batch(records), -1)


@pytest.mark.parametrize("broken", [False, True])
def test_a_failed_isr_expansion_releases_the_high_watermark_without_another_fetch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: bool) -> None:
    """While follower 2's expansion is in flight it counts in the ISR (Kafka's maximalIsr)
    and holds the high watermark back; when the write fails, the ISR is (0, 1) again and
    the high watermark moves to follower 1's end at once, although follower 1 fetches
    from the same offset as before. `broken` removes the recompute at the end of the ISR
    write (what the skip of unchanged fetches relies on): the high watermark then stays."""
    part = leader(tmp_path)
    if broken:
        monkeypatch.setattr(partition_module.Partition, "isr_change_done", _isr_change_done_without_recompute)
    append(part, 5)
    assert part.on_follower_fetch(1, 5, 10) == (True, None)
    assert part.high_watermark == 5
    assert part.on_follower_fetch(2, 5, 10) == (False, (0, 1, 2))
    change = part.propose_isr((0, 1, 2))
    append(part, 3)
    assert part.on_follower_fetch(1, 8, 20) == (False, None)  # 2 (joining) is still at 5
    assert part.high_watermark == 5
    assert part.isr_change_done(change, False, 30) is False  # the write lost a race
    assert part.on_follower_fetch(1, 8, 40) == (False, None)  # same offset: no recompute here
    assert part.high_watermark == (5 if broken else 8)


def test_a_fetch_from_the_same_offset_still_counts_as_caught_up(tmp_path: Path) -> None:
    """Skipping the recompute must not skip the follower's caught-up time (ISR shrink)."""
    part = leader(tmp_path)
    append(part, 2)
    part.on_follower_fetch(1, 2, 100)
    part.on_follower_fetch(1, 2, 5_000)
    assert part.followers[1].last_caught_up_ms == 5_000
    assert part.isr_to_shrink(5_000 + 29_000, 30_000) is None


def _isr_change_done_without_recompute(self: Partition, change: partition_module.PendingIsrChange, written: bool,
                                       now_ms: int) -> bool:
    if self.pending_isr is change:
        self.pending_isr = None
    if written and self.state == change.decided_on:
        self.update_state(change.proposed, now_ms)
        return True
    return False

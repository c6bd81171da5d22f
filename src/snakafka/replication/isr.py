"""The leader's bookkeeping of its followers, and the in-sync replica rules, free of I/O.

A partition's leader learns where each follower is from the follower's fetches: a fetch
at offset N says "I have everything below N". From that it decides three things, all as
Kafka's Partition and Replica classes do:

- the high watermark: the smallest log end offset across the ISR; it only moves forward,
  and consumers read below it, so a record they see survives the loss of any ISR member;
- who joins the ISR: a follower that has caught up to the high watermark (and to the
  start of the current leader epoch, so it holds this leader's history);
- who leaves it: a follower that has not been caught up for replica.lag.time.max.ms.

"Caught up" follows Kafka's Replica.updateFetchState: a follower is caught up at the time
of a fetch from the leader's end; one that fetches from where the leader's end was at its
previous fetch was caught up at that previous fetch. A follower that keeps fetching but
never reaches a moving end therefore falls out of the ISR, one that reads everything the
leader had a moment ago stays in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

UNKNOWN_OFFSET = -1


@dataclass(slots=True)
class FollowerState:
    """What the leader knows of one follower (Kafka's Replica)."""

    log_end_offset: int = UNKNOWN_OFFSET  # unknown until its first fetch
    last_caught_up_ms: int = 0
    last_fetch_leader_end_offset: int = 0
    last_fetch_ms: int = 0

    @classmethod
    def new(cls, now_ms: int) -> FollowerState:
        """A follower as the leader first sees it (a new leader, or a new replica): given
        the benefit of the doubt for one lag period, as Kafka resets its replicas'
        caught-up time when it becomes leader."""
        return cls(last_caught_up_ms=now_ms, last_fetch_ms=now_ms)

    def on_fetch(self, fetch_offset: int, leader_end_offset: int, now_ms: int) -> None:
        """Record a fetch at `fetch_offset` when the leader's log ended at `leader_end_offset`."""
        if fetch_offset >= leader_end_offset:
            self.last_caught_up_ms = max(self.last_caught_up_ms, now_ms)
        elif fetch_offset >= self.last_fetch_leader_end_offset:
            self.last_caught_up_ms = max(self.last_caught_up_ms, self.last_fetch_ms)
        self.log_end_offset = fetch_offset
        self.last_fetch_leader_end_offset = leader_end_offset
        self.last_fetch_ms = now_ms


def high_watermark(
    current: int, leader_id: int, leader_end_offset: int, isr: Iterable[int], followers: Mapping[int, FollowerState]
) -> int:
    """The new high watermark: the smallest log end offset across the ISR, never below
    `current` (a follower whose position is unknown holds it where it is)."""
    candidate = leader_end_offset
    for replica in isr:
        if replica == leader_id:
            continue
        follower = followers.get(replica)
        if follower is None or follower.log_end_offset == UNKNOWN_OFFSET:
            return current
        candidate = min(candidate, follower.log_end_offset)
    return max(current, candidate)


def may_join_isr(follower: FollowerState, high_watermark: int, leader_epoch_start_offset: int) -> bool:
    """Kafka's expansion rule: the follower has everything below the high watermark and
    everything this leader wrote before its epoch began."""
    end = follower.log_end_offset
    return end != UNKNOWN_OFFSET and end >= high_watermark and end >= leader_epoch_start_offset


def out_of_sync(
    leader_id: int, isr: Iterable[int], followers: Mapping[int, FollowerState], now_ms: int, lag_time_max_ms: int
) -> list[int]:
    """ISR members (never the leader) not caught up within replica.lag.time.max.ms, in ISR order."""
    lagging = []
    for replica in isr:
        if replica == leader_id:
            continue
        follower = followers.get(replica)
        if follower is None or now_ms - follower.last_caught_up_ms > lag_time_max_ms:
            lagging.append(replica)
    return lagging


@dataclass(frozen=True, slots=True)
class Truncation:
    offset: int
    complete: bool  # False: truncate, then ask the leader again from the new end


def truncation_after_divergence(
    leader_epoch: int, leader_end_offset: int, local_epoch_end: tuple[int, int],
    log_end_offset: int, high_watermark: int,
) -> Truncation:
    """Where a follower truncates when the leader says their logs diverge (Kafka's
    AbstractFetcherThread.getOffsetTruncationState). The leader answered for the follower's
    last epoch with (leader_epoch, leader_end_offset): its largest epoch at or below it and
    where that ended. `local_epoch_end` is the follower's own (epoch, end offset) for the
    largest epoch at or below leader_epoch ((-1, -1) if none).

    - The leader knows no such epoch: keep only what is committed (the high watermark).
    - The follower has no epoch that old: the leader's end offset (nothing to compare).
    - Same epoch on both: the histories agree up to the smaller end of it; done.
    - The follower's epoch is older than the leader's: cut to the end of it and ask again,
      as the histories may part even earlier.
    """
    if leader_end_offset == UNKNOWN_OFFSET:
        return Truncation(min(high_watermark, log_end_offset), True)
    local_epoch, local_end = local_epoch_end
    if leader_epoch == UNKNOWN_OFFSET or local_epoch == UNKNOWN_OFFSET:
        return Truncation(min(leader_end_offset, log_end_offset), True)
    if local_epoch != leader_epoch:
        return Truncation(min(local_end, log_end_offset), False)
    return Truncation(min(local_end, leader_end_offset, log_end_offset), True)

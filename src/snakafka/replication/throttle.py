"""Replication throttles (KIP-73), as Kafka's ReplicationQuotaManager applies them.

An operator (kafka-reassign-partitions.sh --throttle) sets a byte rate per broker
(leader.replication.throttled.rate, follower.replication.throttled.rate: dynamic broker
configs) and, per topic, which replicas are throttled (leader.replication.throttled.replicas,
follower.replication.throttled.replicas: "partition:broker" entries, or "*"). A broker
counts the replication bytes of its throttled partitions over a sliding window and,
while that rate is above the limit, leaves the throttled partitions of replicas that are
not in the ISR out of what it sends (leader side) or asks for (follower side), so a
reassignment's catching-up traffic yields to in-sync replication; in-sync replicas are
never held back, as in Kafka.

Pure: the caller passes the time and supplies the limit and the throttled partitions as
functions (they follow dynamic config changes).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

UNLIMITED = 2**63 - 1  # Kafka's default rate: Long.MaxValue, no throttle
SAMPLES = 11  # Kafka's replication.quota.window.num
SAMPLE_SECONDS = 1.0  # replication.quota.window.size.seconds


def is_throttled(replicas: str | None, partition: int, broker_id: int) -> bool:
    """Whether a topic's throttled-replicas config lists `partition` on `broker_id`."""
    if not replicas:
        return False
    entries = [e.strip() for e in replicas.split(",") if e.strip()]
    return entries == ["*"] or f"{partition}:{broker_id}" in entries


@dataclass
class ReplicationQuota:
    """One direction's throttle on one broker: `rate()` the limit in bytes/s,
    `throttled(topic, partition)` whether the partition is throttled here."""

    rate: Callable[[], int]
    throttled: Callable[[str, int], bool]
    _samples: deque[tuple[float, int]] = field(default_factory=deque)  # (sample start, bytes)

    def record(self, size: int, now: float) -> None:
        """Count `size` bytes replicated for throttled partitions at `now` (seconds)."""
        if self._samples and now - self._samples[-1][0] < SAMPLE_SECONDS:
            start, total = self._samples[-1]
            self._samples[-1] = (start, total + size)
        else:
            self._samples.append((now, size))
        self._expire(now)

    def measured(self, now: float) -> float:
        """The throttled bytes per second over the window (Kafka's Rate: the sum of the
        samples over the time they span, at least one sample long)."""
        self._expire(now)
        if not self._samples:
            return 0.0
        elapsed = max(now - self._samples[0][0], SAMPLE_SECONDS)
        return sum(size for _, size in self._samples) / elapsed

    def exceeded(self, now: float) -> bool:
        limit = self.rate()
        return limit < UNLIMITED and self.measured(now) > limit

    def holds_back(self, topic: str, partition: int, in_sync: bool, now: float) -> bool:
        """Kafka's shouldLeaderThrottle / shouldFollowerThrottle: an out-of-sync replica
        of a throttled partition while the throttled rate is over the limit."""
        return not in_sync and self.throttled(topic, partition) and self.exceeded(now)

    def _expire(self, now: float) -> None:
        while self._samples and now - self._samples[0][0] >= SAMPLES * SAMPLE_SECONDS:
            self._samples.popleft()

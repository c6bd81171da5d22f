"""Counters the replica manager keeps for the broker's metrics (Kafka's BrokerTopicStats
and the ReplicaManager meters): bytes and messages appended per topic, bytes sent to
consumers per topic, ISR shrinks and expands.

Plain ints in dicts, bumped on the produce and fetch paths, because those paths are the
hot ones: a dict increment costs far less than a metrics library's labelled counter
(a label lookup and a lock). The server's metrics collector reads them at scrape time.
Single-threaded like everything on the broker's loop; nothing here does I/O.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass(slots=True)
class BrokerTopicStats:
    """Kafka counts appends by clients and coordinators alike (internal topics included),
    never a follower's appends; bytes out counts consumer fetches only (a follower's
    fetches are Kafka's ReplicationBytesOut, not counted here)."""

    bytes_in: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    messages_in: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    bytes_out: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    isr_shrinks: int = 0
    isr_expands: int = 0

    def forget_topic(self, topic: str) -> None:
        """A deleted topic's series go, as Kafka removes a topic's metrics on deletion."""
        for counters in (self.bytes_in, self.messages_in, self.bytes_out):
            counters.pop(topic, None)

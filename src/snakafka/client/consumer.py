"""A consumer of one topic: the fetcher (client/fetcher.py) over either partitions it
assigns itself or those a consumer group gives it (client/group.py).

Offsets committed are those the caller has *consumed* (printed), not just fetched:
`consumed()` marks a record, `consumed_all()` everything returned so far. With
enable.auto.commit they are committed every auto.commit.interval.ms, before a rejoin
(the Java consumer's onJoinPrepare) and at close, before the member leaves the group.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from snakafka.client.cluster import ClientError, Cluster, TopicPartition
from snakafka.client.fetcher import ConsumedRecord, Fetcher, FetchSettings
from snakafka.client.group import GroupMember, GroupSettings

log = logging.getLogger(__name__)

TOPIC_WAIT_MS = 60000  # how long to wait for the topic to exist (the consumer's --timeout-ms when given)


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    topic: str
    fetch: FetchSettings
    group: GroupSettings | None = None
    partition: int | None = None  # without a group: only this partition (else all)
    start_offset: int | None = None  # without a group: EARLIEST, LATEST or an offset (None: the reset policy)
    enable_auto_commit: bool = True
    auto_commit_interval_ms: int = 5000
    topic_wait_ms: int = TOPIC_WAIT_MS


class Consumer:
    def __init__(self, cluster: Cluster, settings: ConsumerSettings) -> None:
        self.cluster = cluster
        self.settings = settings
        self.fetcher = Fetcher(cluster, settings.fetch)
        self.member = GroupMember(cluster, settings.group, [settings.topic]) if settings.group else None
        self._consumed: dict[TopicPartition, int] = {}
        self._next_commit = 0.0

    async def start(self) -> None:
        s = self.settings
        info = await self.cluster.wait_for_topic(s.topic, auto_create=False, timeout=s.topic_wait_ms / 1000)
        if self.member is not None:
            await self._join()
            return
        if s.partition is not None and s.partition not in info.partitions:
            raise ClientError(f"topic {s.topic} has no partition {s.partition} (it has {len(info.partitions)})")
        parts = [s.partition] if s.partition is not None else sorted(info.partitions)
        await self.fetcher.assign({(s.topic, p): s.start_offset for p in parts})
        self._consumed = dict(self.fetcher.positions)

    async def _join(self) -> None:
        assert self.member is not None
        assigned = await self.member.join()
        committed = await self.member.committed(assigned) if assigned else {}
        await self.fetcher.assign(dict(committed))
        self._consumed = dict(self.fetcher.positions)
        self._next_commit = time.monotonic() + self.settings.auto_commit_interval_ms / 1000

    @property
    def assignment(self) -> list[TopicPartition]:
        return sorted(self.fetcher.positions)

    async def poll(self) -> list[ConsumedRecord]:
        """Records fetched since the last poll (rejoining the group first if needed)."""
        if self.member is not None:
            if self.member.rejoin_needed:
                await self.commit()
                await self._join()
            elif self.settings.enable_auto_commit and time.monotonic() >= self._next_commit:
                await self.commit()
                self._next_commit = time.monotonic() + self.settings.auto_commit_interval_ms / 1000
        return await self.fetcher.poll()

    def consumed(self, record: ConsumedRecord) -> None:
        tp = (record.topic, record.partition)
        if tp in self._consumed:
            self._consumed[tp] = record.offset + 1

    def consumed_all(self) -> None:
        """Everything fetched so far was used: commit fetch positions (which are past
        skipped control batches and aborted transactions too)."""
        self._consumed = dict(self.fetcher.positions)

    async def commit(self) -> None:
        if self.member is not None and self.settings.enable_auto_commit:
            await self.member.commit(dict(self._consumed))

    async def close(self) -> None:
        """Commit what was consumed, leave the group, close connections."""
        try:
            if self.member is not None:
                try:
                    await self.commit()
                finally:
                    await self.member.leave()
        finally:
            await self.cluster.close()

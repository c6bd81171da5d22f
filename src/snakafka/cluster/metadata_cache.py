"""Each broker's read-only view of cluster metadata, refreshed from the metadata store.

Request handlers read this (Metadata, DescribeCluster, leadership checks); only the
controller writes, through the store, after which every broker refreshes its cache.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from snakafka.cluster.model import BrokerInfo, PartitionState, TopicInfo
from snakafka.cluster.store.base import MetadataStore


@dataclass(slots=True)
class MetadataCache:
    store: MetadataStore
    brokers: dict[int, BrokerInfo] = field(default_factory=dict)
    topics: dict[str, TopicInfo] = field(default_factory=dict)
    topic_ids: dict[uuid.UUID, str] = field(default_factory=dict)
    controller_id: int = -1
    broker_configs: dict[str, dict[str, str]] = field(default_factory=dict)  # dynamic, by entity

    @property
    def cluster_id(self) -> str:
        return self.store.cluster_id

    async def refresh(self) -> None:
        """Read everything, then replace the view at once: readers on the event loop never
        see brokers of one read beside topics of another."""
        brokers = await self.store.brokers()
        topics = await self.store.topics()
        controller_id = await self.store.controller_id()
        broker_configs = await self.store.broker_configs()
        self.brokers = {b.broker_id: b for b in brokers}
        self.topics = topics
        self.topic_ids = {t.topic_id: name for name, t in topics.items()}
        self.controller_id = controller_id
        self.broker_configs = broker_configs

    def partition(self, topic: str, partition: int) -> PartitionState | None:
        info = self.topics.get(topic)
        return None if info is None else info.partitions.get(partition)

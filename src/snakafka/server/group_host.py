"""Hosts the group coordinator on this broker: the glue between it and the cluster.

Creates `__consumer_offsets` on first use (as Kafka does on the first FindCoordinator),
loads the groups of every partition of it this broker leads (replaying the partition
through the same code path as live writes) and unloads those it no longer leads, and
answers which broker coordinates a group.
"""

from __future__ import annotations

import logging

from snakafka.cluster.controller import NewTopic
from snakafka.cluster.model import OFFSETS_TOPIC, BrokerInfo
from snakafka.coordinator.group.config import GroupConfig
from snakafka.coordinator.group.coordinator import GroupCoordinator
from snakafka.coordinator.internal_topic_log import InternalTopicLog
from snakafka.coordinator.offsets_schema import partition_for_group
from snakafka.protocol.errors import ErrorCode, KafkaError
from snakafka.server.services import BrokerServices

log = logging.getLogger(__name__)



class GroupHost:
    def __init__(self, broker: BrokerServices) -> None:
        self.broker = broker
        config = broker.config
        self.config = GroupConfig(
            group_min_session_timeout_ms=config.group_min_session_timeout_ms,
            group_max_session_timeout_ms=config.group_max_session_timeout_ms,
            group_initial_rebalance_delay_ms=config.group_initial_rebalance_delay_ms,
            group_max_size=config.group_max_size,
            offsets_topic_num_partitions=config.offsets_topic_num_partitions,
            offsets_retention_minutes=config.offsets_retention_minutes,
            offset_metadata_max_bytes=config.offset_metadata_max_bytes,
            offsets_retention_check_interval_ms=config.offsets_retention_check_interval_ms,
        )
        self.log = InternalTopicLog(OFFSETS_TOPIC, broker.replica_manager, broker.clock.time_ms)
        self.coordinator = GroupCoordinator(self.config, self.log, broker.clock)
        self.loaded: set[int] = set()

    @property
    def num_partitions(self) -> int:
        info = self.broker.cache.topics.get(OFFSETS_TOPIC)
        return len(info.partitions) if info else self.config.offsets_topic_num_partitions

    async def ensure_topic(self) -> None:
        if OFFSETS_TOPIC in self.broker.cache.topics:
            return
        config = self.broker.config
        # Kafka: offsets.topic.replication.factor, or the live brokers if fewer (a young cluster).
        replication = min(config.offsets_topic_replication_factor, max(len(self.broker.cache.brokers), 1))
        try:
            await self.broker.controller.create_topic(NewTopic(
                OFFSETS_TOPIC,
                num_partitions=config.offsets_topic_num_partitions,
                replication_factor=replication,
                configs={
                    "cleanup.policy": "compact",
                    "segment.bytes": str(config.offsets_topic_segment_bytes),
                    "compression.type": "producer",
                },
            ))
        except KafkaError as exc:
            if exc.code != ErrorCode.topic_already_exists:
                raise

    async def coordinator_for(self, group_id: str) -> tuple[ErrorCode, BrokerInfo | None]:
        try:
            await self.ensure_topic()
        except KafkaError as exc:
            log.warning("cannot create %s: %s", OFFSETS_TOPIC, exc)
            return ErrorCode.coordinator_not_available, None
        partition = partition_for_group(group_id, self.num_partitions)
        state = self.broker.cache.partition(OFFSETS_TOPIC, partition)
        node = self.broker.cache.brokers.get(state.leader) if state else None
        if node is None:  # no leader, or the leader's broker is down
            return ErrorCode.coordinator_not_available, None
        return ErrorCode.none, node

    async def on_metadata(self) -> None:
        """Load partitions we now lead; unload those we no longer lead."""
        info = self.broker.cache.topics.get(OFFSETS_TOPIC)
        led = set()
        if info is not None:
            led = {p for p, s in info.partitions.items() if s.leader == self.broker.config.broker_id}
        for p in sorted(led - self.loaded):
            self.loaded.add(p)
            await self.coordinator.load_partition(p)
        for p in sorted(self.loaded - led):
            self.loaded.discard(p)
            await self.coordinator.unload_partition(p)

    async def close(self) -> None:
        await self.coordinator.close()

"""Hosts the group coordinator on this broker (coordinator_host.py: the shared glue),
in `__consumer_offsets`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from snakafka.cluster.controller import NewTopic
from snakafka.cluster.model import OFFSETS_TOPIC
from snakafka.server.coordinator_host import CoordinatorHost

if TYPE_CHECKING:
    from snakafka.coordinator.group.coordinator import GroupCoordinator


class GroupHost(CoordinatorHost["GroupCoordinator"]):
    topic = OFFSETS_TOPIC

    def _create(self) -> GroupCoordinator:
        from snakafka.coordinator.group.config import GroupConfig
        from snakafka.coordinator.group.coordinator import GroupCoordinator
        from snakafka.coordinator.internal_topic_log import InternalTopicLog

        broker, config = self.broker, self.broker.config
        group_config = GroupConfig(
            group_min_session_timeout_ms=config.group_min_session_timeout_ms,
            group_max_session_timeout_ms=config.group_max_session_timeout_ms,
            group_initial_rebalance_delay_ms=config.group_initial_rebalance_delay_ms,
            group_max_size=config.group_max_size,
            offsets_topic_num_partitions=config.offsets_topic_num_partitions,
            offsets_retention_minutes=config.offsets_retention_minutes,
            offset_metadata_max_bytes=config.offset_metadata_max_bytes,
            offsets_retention_check_interval_ms=config.offsets_retention_check_interval_ms,
        )
        return GroupCoordinator(group_config, InternalTopicLog(OFFSETS_TOPIC, broker.replica_manager,
                                                               broker.clock.time_ms), broker.clock)

    @property
    def default_partitions(self) -> int:
        return self.broker.config.offsets_topic_num_partitions

    @property
    def _replication_factor(self) -> int:
        return self.broker.config.offsets_topic_replication_factor

    def _new_topic(self, replication: int) -> NewTopic:
        config = self.broker.config
        return NewTopic(OFFSETS_TOPIC, num_partitions=config.offsets_topic_num_partitions,
                        replication_factor=replication,
                        configs={"cleanup.policy": "compact", "segment.bytes": str(config.offsets_topic_segment_bytes),
                                 "compression.type": "producer"})

    async def _load(self, coordinator: GroupCoordinator, partition: int, leader_epoch: int) -> None:
        await coordinator.load_partition(partition)

    async def _unload(self, coordinator: GroupCoordinator, partition: int) -> None:
        await coordinator.unload_partition(partition)

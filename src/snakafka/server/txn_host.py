"""Hosts the transaction coordinator on this broker, in `__transaction_state`
(coordinator_host.py: the glue shared with the group coordinator; the coordinator epoch
is the partition's leader epoch). Beyond that glue it runs the periodic abort of
timed-out transactions and expiry of idle transactional ids (scheduled by broker.py), and
routes the coordinator's markers: through txn_markers.py for partitions led here, as a
WriteTxnMarkers request (API 27) to the leader for partitions led elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from snakafka.cluster.controller import NewTopic
from snakafka.cluster.model import NO_LEADER, TXN_TOPIC, BrokerInfo
from snakafka.protocol.control import TxnMarker
from snakafka.protocol.errors import ErrorCode, KafkaError
from snakafka.protocol.partitioner import java_string_hash, kafka_abs
from snakafka.server.coordinator_host import CoordinatorHost
from snakafka.server.txn_markers import MARKER_TIMEOUT_MS, write_markers_locally

if TYPE_CHECKING:
    from snakafka.coordinator.transaction import TransactionCoordinator

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


class TxnHost(CoordinatorHost["TransactionCoordinator"]):
    topic = TXN_TOPIC

    def _create(self) -> TransactionCoordinator:
        from snakafka.coordinator.internal_topic_log import InternalTopicLog
        from snakafka.coordinator.transaction import TransactionCoordinator, TxnConfig

        broker, config = self.broker, self.broker.config
        txn_config = TxnConfig(
            num_partitions=config.transaction_state_log_num_partitions,
            max_timeout_ms=config.transaction_max_timeout_ms,
            id_expiration_ms=config.transactional_id_expiration_ms,
            abort_interval_ms=config.transaction_abort_timed_out_transaction_cleanup_interval_ms,
            expiration_interval_ms=config.transaction_remove_expired_transaction_cleanup_interval_ms,
        )
        return TransactionCoordinator(txn_config, InternalTopicLog(TXN_TOPIC, broker.replica_manager,
                                                                   broker.clock.time_ms),
                                      self, broker.producer_ids.generate, broker.clock)

    @property
    def default_partitions(self) -> int:
        return self.broker.config.transaction_state_log_num_partitions

    def partition_for(self, key: str) -> int:
        """abs(javaHashCode(transactional.id)) % transaction.state.log.num.partitions (the
        configured count, as the coordinator itself decides what it owns)."""
        return kafka_abs(java_string_hash(key)) % self.default_partitions

    @property
    def _replication_factor(self) -> int:
        return self.broker.config.transaction_state_log_replication_factor

    def _new_topic(self, replication: int) -> NewTopic:
        config = self.broker.config
        return NewTopic(TXN_TOPIC, num_partitions=config.transaction_state_log_num_partitions,
                        replication_factor=replication,
                        configs={"cleanup.policy": "compact",
                                 "segment.bytes": str(config.transaction_state_log_segment_bytes),
                                 "min.insync.replicas": str(min(config.transaction_state_log_min_isr, replication)),
                                 "unclean.leader.election.enable": "false",
                                 "compression.type": "uncompressed"})

    async def coordinator_for(self, key: str) -> tuple[ErrorCode, BrokerInfo | None]:
        if not key:
            try:  # the topic is still created, as before: FindCoordinator's first effect
                await self.ensure_topic()
            except KafkaError as exc:
                log.warning("cannot create %s: %s", TXN_TOPIC, exc)
                return ErrorCode.coordinator_not_available, None
            return ErrorCode.invalid_request, None
        return await super().coordinator_for(key)

    async def _load(self, coordinator: TransactionCoordinator, partition: int, leader_epoch: int) -> None:
        await coordinator.load_partition(partition, leader_epoch)  # coordinator epoch = leader epoch

    async def _unload(self, coordinator: TransactionCoordinator, partition: int) -> None:
        await coordinator.unload_partition(partition)

    async def abort_timed_out(self) -> None:
        """Kafka's transaction-abort task (scheduled by broker.py): nothing to do before
        any transaction was seen."""
        if self.created:
            await self.coordinator.abort_timed_out()

    async def expire_transactional_ids(self) -> None:
        """Kafka's transactionalId-expiration task."""
        if self.created:
            await self.coordinator.expire_transactional_ids()

    # -- markers (the coordinator's MarkerWriter) --------------------------------------

    async def write_markers(self, marker: TxnMarker, partitions: list[TopicPartition]) -> dict[TopicPartition, ErrorCode]:
        cache = self.broker.cache
        me = self.broker.config.broker_id
        results: dict[TopicPartition, ErrorCode] = {}
        by_leader: dict[int, list[TopicPartition]] = {}
        for tp in partitions:
            if tp[0] not in cache.topics:
                log.info("broker %d: topic %s is gone: no marker for %s-%d", me, tp[0], tp[0], tp[1])
                results[tp] = ErrorCode.none
                continue
            state = cache.partition(*tp)
            if state is None or state.leader == NO_LEADER:
                results[tp] = ErrorCode.not_leader_or_follower
                continue
            by_leader.setdefault(state.leader, []).append(tp)
        sends = [self._send(leader, marker, tps) for leader, tps in by_leader.items()]
        for answer in await asyncio.gather(*sends):
            results.update(answer)
        return results

    async def _send(self, leader: int, marker: TxnMarker, tps: list[TopicPartition]) -> dict[TopicPartition, ErrorCode]:
        if leader == self.broker.config.broker_id:
            return await write_markers_locally(self.broker, marker, tps)
        listener = self.broker.inter_broker.listener
        node = self.broker.cache.brokers.get(leader)
        endpoint = node.endpoint(listener) if node is not None else None
        if endpoint is None:
            return dict.fromkeys(tps, ErrorCode.not_leader_or_follower)
        # imported here: markers go to other brokers only in a cluster, and these schemas weigh on every start
        from kio.schema.types import ProducerId, TopicName
        from kio.schema.write_txn_markers.v1 import request as wtm_request
        from kio.schema.write_txn_markers.v1 import response as wtm_response
        from kio.static.primitive import i16, i32

        by_topic: dict[str, list[int]] = {}
        for topic, p in tps:
            by_topic.setdefault(topic, []).append(p)
        request = wtm_request.WriteTxnMarkersRequest(markers=(wtm_request.WritableTxnMarker(
            producer_id=ProducerId(marker.producer_id), producer_epoch=i16(marker.producer_epoch),
            transaction_result=marker.commit, coordinator_epoch=i32(marker.coordinator_epoch),
            topics=tuple(wtm_request.WritableTxnMarkerTopic(name=TopicName(t), partition_indexes=tuple(i32(p) for p in ps))
                         for t, ps in by_topic.items())),))
        try:
            async with self.broker.inter_broker.connection(
                    endpoint.host, endpoint.port, client_id=f"broker-{self.broker.config.broker_id}-txn-markers") as conn:
                response: wtm_response.WriteTxnMarkersResponse = await conn.send(request, MARKER_TIMEOUT_MS / 1000 + 5)
        except Exception as exc:  # noqa: BLE001 - unreachable, closed, timed out: the caller retries
            log.info("broker %d: WriteTxnMarkers to broker %d failed: %s", self.broker.config.broker_id, leader, exc)
            return dict.fromkeys(tps, ErrorCode.not_leader_or_follower)
        results: dict[TopicPartition, ErrorCode] = dict.fromkeys(tps, ErrorCode.unknown_server_error)
        for m in response.markers:
            for t in m.topics:
                for r in t.partitions:
                    results[(t.name, int(r.partition_index))] = ErrorCode(r.error_code)
        return results

"""Hosts the transaction coordinator on this broker: the glue between it and the cluster.

Like group_host.py for groups: creates `__transaction_state` on first use (the first
FindCoordinator of a transactional id, as Kafka does), loads the partitions of it this
broker leads (coordinator epoch = the partition's leader epoch) and unloads those it no
longer leads, answers which broker coordinates a transactional id, runs the periodic
abort of timed-out transactions and expiry of idle transactional ids (scheduled by
broker.py), and routes the
coordinator's markers: through txn_markers.py for partitions led here, as a
WriteTxnMarkers request (API 27) to the leader for partitions led elsewhere.
"""

from __future__ import annotations

import asyncio
import logging

from snakafka.cluster.controller import NewTopic
from snakafka.cluster.model import NO_LEADER, TXN_TOPIC, BrokerInfo
from snakafka.coordinator.internal_topic_log import InternalTopicLog
from snakafka.coordinator.transaction import TransactionCoordinator, TxnConfig
from snakafka.protocol.control import TxnMarker
from snakafka.protocol.errors import ErrorCode, KafkaError
from snakafka.server.services import BrokerServices
from snakafka.server.txn_markers import MARKER_TIMEOUT_MS, write_markers_locally

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


class TxnHost:
    def __init__(self, broker: BrokerServices) -> None:
        self.broker = broker
        config = broker.config
        self.config = TxnConfig(
            num_partitions=config.transaction_state_log_num_partitions,
            max_timeout_ms=config.transaction_max_timeout_ms,
            id_expiration_ms=config.transactional_id_expiration_ms,
            abort_interval_ms=config.transaction_abort_timed_out_transaction_cleanup_interval_ms,
            expiration_interval_ms=config.transaction_remove_expired_transaction_cleanup_interval_ms,
        )
        self.log = InternalTopicLog(TXN_TOPIC, broker.replica_manager, broker.clock.time_ms)
        self.coordinator = TransactionCoordinator(self.config, self.log, self, broker.producer_ids.generate,
                                                  broker.clock)
        self.loaded: set[int] = set()

    @property
    def num_partitions(self) -> int:
        info = self.broker.cache.topics.get(TXN_TOPIC)
        return len(info.partitions) if info else self.config.num_partitions

    async def ensure_topic(self) -> None:
        if TXN_TOPIC in self.broker.cache.topics:
            return
        config = self.broker.config
        # Kafka: transaction.state.log.replication.factor, or the live brokers if fewer.
        replication = min(config.transaction_state_log_replication_factor, max(len(self.broker.cache.brokers), 1))
        try:
            await self.broker.controller.create_topic(NewTopic(
                TXN_TOPIC,
                num_partitions=config.transaction_state_log_num_partitions,
                replication_factor=replication,
                configs={
                    "cleanup.policy": "compact",
                    "segment.bytes": str(config.transaction_state_log_segment_bytes),
                    "min.insync.replicas": str(min(config.transaction_state_log_min_isr, replication)),
                    "unclean.leader.election.enable": "false",
                    "compression.type": "uncompressed",
                },
            ))
        except KafkaError as exc:
            if exc.code != ErrorCode.topic_already_exists:
                raise

    async def coordinator_for(self, transactional_id: str) -> tuple[ErrorCode, BrokerInfo | None]:
        try:
            await self.ensure_topic()
        except KafkaError as exc:
            log.warning("cannot create %s: %s", TXN_TOPIC, exc)
            return ErrorCode.coordinator_not_available, None
        if not transactional_id:
            return ErrorCode.invalid_request, None
        partition = self.coordinator.partition_for(transactional_id)
        state = self.broker.cache.partition(TXN_TOPIC, partition)
        node = self.broker.cache.brokers.get(state.leader) if state else None
        if node is None:
            return ErrorCode.coordinator_not_available, None
        return ErrorCode.none, node

    async def on_metadata(self) -> None:
        """Load partitions we now lead; unload those we no longer lead."""
        info = self.broker.cache.topics.get(TXN_TOPIC)
        led: dict[int, int] = {}
        if info is not None:
            led = {p: s.leader_epoch for p, s in info.partitions.items() if s.leader == self.broker.config.broker_id}
        for p in sorted(set(led) - self.loaded):
            self.loaded.add(p)
            await self.coordinator.load_partition(p, led[p])
        for p in sorted(self.loaded - set(led)):
            self.loaded.discard(p)
            await self.coordinator.unload_partition(p)

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

    async def close(self) -> None:
        await self.coordinator.close()

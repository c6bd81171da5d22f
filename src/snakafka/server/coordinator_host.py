"""What hosting a coordinator on a broker takes, shared by the group and the transaction
coordinator: the glue between a coordinator and the cluster.

Both coordinators keep their state in an internal compacted topic (`__consumer_offsets`,
`__transaction_state`) that is created on first use (the first FindCoordinator, as Kafka
does), load the partitions of it this broker leads (replaying each through the same code
path as live writes) and unload those it no longer leads, and answer which broker
coordinates a key (the leader of the key's partition).

The coordinator itself is created on first use: a broker whose clients never join a group
or start a transaction (an embedded broker in a test suite, often) never imports the
coordinator's modules, which are a good share of what a start costs. It is created when
FindCoordinator or a coordinator API first needs it, or when this broker leads a
partition of the internal topic (there is state to load).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any, Generic, Protocol, TypeVar

from snakafka.cluster.controller import NewTopic
from snakafka.cluster.model import BrokerInfo
from snakafka.protocol.errors import ErrorCode, KafkaError
from snakafka.protocol.partitioner import java_string_hash, kafka_abs
from snakafka.server.services import BrokerServices

log = logging.getLogger(__name__)


class HostedCoordinator(Protocol):
    async def close(self) -> None: ...


C = TypeVar("C", bound=HostedCoordinator)


class CoordinatorHost(ABC, Generic[C]):
    """One coordinator on this broker and the internal topic it lives in (`topic`)."""

    topic: str

    def __init__(self, broker: BrokerServices) -> None:
        self.broker = broker
        self.loaded: set[int] = set()
        self._coordinator: C | None = None

    # -- what each coordinator says ---------------------------------------------------

    @abstractmethod
    def _create(self) -> C:
        """Build the coordinator (its modules are imported here, not at start)."""

    @property
    @abstractmethod
    def default_partitions(self) -> int:
        """The internal topic's partition count before it exists (its *.num.partitions)."""

    @abstractmethod
    def _new_topic(self, replication: int) -> NewTopic:
        """The internal topic to create, at `replication` copies."""

    @property
    @abstractmethod
    def _replication_factor(self) -> int:
        """The configured replication factor of the internal topic."""

    def partition_for(self, key: str) -> int:
        """The internal topic's partition that holds `key`'s state: Utils.abs(key.hashCode())
        % partitions, as Kafka computes it, so tools that compute it themselves agree."""
        return kafka_abs(java_string_hash(key)) % self.num_partitions

    @abstractmethod
    async def _load(self, coordinator: C, partition: int, leader_epoch: int) -> None: ...

    @abstractmethod
    async def _unload(self, coordinator: C, partition: int) -> None: ...

    # -- shared -------------------------------------------------------------------------

    @property
    def coordinator(self) -> C:
        if self._coordinator is None:
            self._coordinator = self._create()
            log.debug("broker %d: %s coordinator created", self.broker.config.broker_id, self.topic)
        return self._coordinator

    @property
    def created(self) -> bool:
        return self._coordinator is not None

    @property
    def num_partitions(self) -> int:
        info = self.broker.cache.topics.get(self.topic)
        return len(info.partitions) if info else self.default_partitions

    async def ensure_topic(self) -> None:
        if self.topic in self.broker.cache.topics:
            return
        # Kafka: the configured replication factor, or the live brokers if fewer (a young cluster).
        replication = min(self._replication_factor, max(len(self.broker.cache.brokers), 1))
        try:
            await self.broker.controller.create_topic(self._new_topic(replication))
        except KafkaError as exc:
            if exc.code != ErrorCode.topic_already_exists:
                raise

    async def coordinator_for(self, key: str) -> tuple[ErrorCode, BrokerInfo | None]:
        """FindCoordinator of one key: the leader of its partition of the internal topic."""
        try:
            await self.ensure_topic()
        except KafkaError as exc:
            log.warning("cannot create %s: %s", self.topic, exc)
            return ErrorCode.coordinator_not_available, None
        state = self.broker.cache.partition(self.topic, self.partition_for(key))
        node = self.broker.cache.brokers.get(state.leader) if state else None
        if node is None:  # no leader, or the leader's broker is down
            return ErrorCode.coordinator_not_available, None
        return ErrorCode.none, node

    async def on_metadata(self) -> None:
        """Load partitions we now lead; unload those we no longer lead."""
        info = self.broker.cache.topics.get(self.topic)
        led: dict[int, int] = {}
        if info is not None:
            me = self.broker.config.broker_id
            led = {p: s.leader_epoch for p, s in info.partitions.items() if s.leader == me}
        for p in sorted(set(led) - self.loaded):
            self.loaded.add(p)
            await self._load(self.coordinator, p, led[p])
        for p in sorted(self.loaded - set(led)):
            self.loaded.discard(p)
            await self._unload(self.coordinator, p)

    async def close(self) -> None:
        if self._coordinator is not None:
            await self._coordinator.close()

    def __repr__(self) -> str:
        state: Any = "created" if self.created else "not created"
        return f"{type(self).__name__}({self.topic}, {state}, loaded={sorted(self.loaded)})"

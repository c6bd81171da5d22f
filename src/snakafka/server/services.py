"""What the request layer may use of a broker, as an interface.

Handlers, connections and the group host see the broker through `BrokerServices`, not the
`Broker` class, so imports point one way: broker.py wires everything together and imports
the request layer; the request layer imports only this description of what it is given.
(Kafka's KafkaApis is likewise handed its replica manager, coordinators and metadata cache.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from snakafka.clock import Clock
from snakafka.cluster.controller import Controller
from snakafka.cluster.metadata_cache import MetadataCache
from snakafka.cluster.model import BrokerInfo
from snakafka.cluster.store.base import ScramCredentialStore
from snakafka.config.broker import BrokerConfig
from snakafka.coordinator.producer_ids import ProducerIdManager
from snakafka.protocol.errors import ErrorCode
from snakafka.replication.replica_manager import ReplicaManager
from snakafka.server.acl_host import AclHost
from snakafka.server.inter_broker import InterBrokerClient

if TYPE_CHECKING:  # created on first use (coordinator_host.py): not imported at start
    from snakafka.coordinator.group.coordinator import GroupCoordinator
    from snakafka.coordinator.transaction import TransactionCoordinator


class ApiRange(Protocol):
    """One row of the api table, as ApiVersions advertises it."""

    @property
    def key(self) -> int: ...
    @property
    def min_version(self) -> int: ...
    @property
    def max_version(self) -> int: ...
    @property
    def advertised(self) -> bool: ...


class ApiTable(Protocol):
    @property
    def apis(self) -> Mapping[int, ApiRange]: ...


class BrokerServices(Protocol):
    config: BrokerConfig
    static_config: BrokerConfig
    clock: Clock
    cache: MetadataCache
    controller: Controller
    replica_manager: ReplicaManager
    producer_ids: ProducerIdManager
    acls: AclHost  # the authorizer (None without authorizer.class.name) and the ACL store
    inter_broker: InterBrokerClient  # how to reach other brokers (their listener, TLS / SASL)
    users: ScramCredentialStore  # SCRAM credentials (ZooKeeper /config/users or the local store)

    @property
    def groups(self) -> GroupCoordinator: ...
    @property
    def txn(self) -> TransactionCoordinator: ...

    @property
    def dispatcher(self) -> ApiTable: ...
    @property
    def controller_id(self) -> int: ...

    async def group_coordinator_node(self, group_id: str) -> tuple[ErrorCode, BrokerInfo | None]: ...
    async def txn_coordinator_node(self, transactional_id: str) -> tuple[ErrorCode, BrokerInfo | None]: ...
    def describe_topic_configs(self, overrides: dict[str, str]) -> list[Any]: ...
    def describe_broker_configs(self) -> list[Any]: ...
    def describe_default_broker_configs(self) -> list[Any]: ...
    def delete_later(self, segments: list[Any]) -> None: ...
    def topic_config_default(self, name: str) -> str | None: ...

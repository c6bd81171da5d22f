"""The interface every metadata store implements.

The controller writes cluster state through it and brokers read it back; the embedded
file store (one broker, no ZooKeeper) and the ZooKeeper store (a cluster) are the two
backends. Writes return once the state is durable in the store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from snakafka.cluster.model import (
    BrokerInfo,
    ControllerEpoch,
    PartitionState,
    StateChange,
    TopicInfo,
)


class TopicExistsError(Exception):
    pass


# ACLs as the stores keep them, in the names of Kafka's ZooKeeper JSON (the security
# layer converts): a resource (pattern type "LITERAL" | "PREFIXED", resource type "Topic",
# name) -> its entries (principal "User:alice", permissionType "Allow", operation "Read", host).
AclResource = tuple[str, str, str]
AclEntry = tuple[str, str, str, str]
AclChange = Callable[[frozenset[AclEntry]], frozenset[AclEntry]]


class ControllerMovedError(Exception):
    """A controller write under an epoch that is no longer the newest: another controller
    was elected since (Kafka's ControllerMovedException). The writer must resign."""


class StateConflictError(Exception):
    """A conditional write found the stored state changed since its writer decided (a
    leader's ISR change, another broker's partitions): re-read, then decide again."""


class MetadataStore(Protocol):
    cluster_id: str

    async def start(self) -> None:
        """Connect / load; after this, cluster_id and topics are available."""

    async def close(self) -> None: ...

    async def register_broker(self, broker: BrokerInfo) -> None: ...

    async def brokers(self) -> list[BrokerInfo]: ...

    async def controller_id(self) -> int:
        """The active controller's broker id, or -1 while there is none."""

    async def try_become_controller(self, broker_id: int) -> ControllerEpoch | None:
        """Controller election: the new controller epoch if `broker_id` won, None if
        another broker is controller."""

    async def topics(self) -> dict[str, TopicInfo]: ...

    async def create_topic(self, topic: TopicInfo) -> None:
        """Raises TopicExistsError if the name is taken."""

    async def delete_topic(self, name: str) -> None: ...

    async def update_partition_states(self, topic: str, changes: dict[int, StateChange],
                                      controller: ControllerEpoch) -> None:
        """The controller's leader and ISR changes, all or none: each written only if the
        stored state is still the one it was decided on (same version), and only while
        `controller` is the newest controller. Raises ControllerMovedError,
        StateConflictError, or KeyError if the topic is gone."""

    async def add_partitions(self, topic: str, existing: int, states: dict[int, PartitionState]) -> None:
        """New partitions (with their first states), only if the topic still has `existing`
        partitions: StateConflictError otherwise, KeyError if the topic is gone. Existing
        partition states are never touched."""

    async def alter_isr(self, topic: str, partition: int, expected: PartitionState, new: PartitionState) -> bool:
        """A partition leader's ISR change: write `new` only if the stored state is still
        `expected`, the state the leader decided on (same partition epoch); False if
        another writer (the controller) got there first, and the leader must re-read
        before deciding again."""

    async def set_topic_configs(self, topic: str, configs: dict[str, str]) -> None: ...

    async def broker_configs(self) -> dict[str, dict[str, str]]:
        """Dynamic broker configs by entity: a broker id ("0") or "<default>" (cluster-wide)."""

    async def set_broker_configs(self, entity: str, configs: dict[str, str]) -> None:
        """Replace one entity's dynamic broker configs (empty: remove them); brokers are told."""

    async def allocate_producer_ids(self, count: int) -> int:
        """Reserve `count` producer ids cluster-wide; return the first (Kafka's id blocks)."""

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call back when another process changed the metadata (ZooKeeper watches)."""

    async def acls(self) -> dict[AclResource, frozenset[AclEntry]]:
        """Every stored ACL, by resource pattern."""

    async def update_acls(self, resource: AclResource, change: AclChange) -> tuple[frozenset[AclEntry], frozenset[AclEntry]]:
        """Replace one resource's entries by `change(current)` (a pure function, which may
        run again if another broker wrote meanwhile); returns (before, after). An empty
        result removes the resource; every broker is told (on_acl_change)."""

    def on_acl_change(self, callback: Callable[[], None]) -> None:
        """Call back when ACLs changed in the store (Kafka's ACL change notifications)."""

    def on_session_lost(self, callback: Callable[[], None]) -> None:
        """Call back (on the event loop) as soon as the store's session is lost: what this
        broker held through it (the controller role, its registration) is gone."""


class ScramCredentialStore(Protocol):
    """SCRAM credentials per user, as Kafka keeps them: the user's config entity holds one
    "SCRAM-SHA-256" / "SCRAM-SHA-512" key each, valued "salt=...,stored_key=...,server_key=...,
    iterations=N" (ZooKeeper's /config/users/<user>; the local store's users section)."""

    async def user_credentials(self, user: str) -> dict[str, str]:
        """The user's credentials by mechanism name ({} for an unknown user)."""

    async def all_user_credentials(self) -> dict[str, dict[str, str]]:
        """Every user that has a credential."""

    async def alter_user_credentials(self, user: str, upsert: dict[str, str], delete: list[str]) -> None:
        """Set `upsert` (mechanism -> credential text) and remove `delete` mechanisms, at once."""

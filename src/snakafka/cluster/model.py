"""The cluster's metadata as plain data: brokers, topics, partition leadership.

One model for both metadata stores (the embedded file store of a single broker and
ZooKeeper for a cluster), so the controller and the broker never care which is in use.
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass, field

OFFSETS_TOPIC = "__consumer_offsets"  # group offsets and metadata
TXN_TOPIC = "__transaction_state"  # transaction coordinators' state
INTERNAL_TOPICS = frozenset({OFFSETS_TOPIC, TXN_TOPIC})
_LEGAL_TOPIC = re.compile(r"^[a-zA-Z0-9._-]+$")
MAX_TOPIC_NAME_LENGTH = 249
NO_LEADER = -1


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where clients reach a broker through one of its listeners (advertised.listeners)."""

    listener: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class BrokerInfo:
    """A live broker, with one endpoint per listener, as Kafka registers brokers. A request
    that came in on listener L is answered with the brokers' L endpoints."""

    broker_id: int
    endpoints: tuple[Endpoint, ...]
    rack: str | None = None

    def endpoint(self, listener: str) -> Endpoint | None:
        for endpoint in self.endpoints:
            if endpoint.listener == listener:
                return endpoint
        return None


@dataclass(frozen=True, slots=True)
class PartitionState:
    """Leadership of one partition, as the controller last decided it.

    leader_epoch grows on every leader change (fencing stale leaders and followers);
    partition_epoch grows on any change (ISR too), like Kafka's LeaderAndIsr.
    """

    replicas: tuple[int, ...]
    leader: int
    leader_epoch: int = 0
    isr: tuple[int, ...] = ()
    partition_epoch: int = 0
    # A reassignment in progress (KIP-455): `replicas` holds the target and the original
    # replicas together while the added ones catch up; the removed ones go at the end.
    adding: tuple[int, ...] = ()
    removing: tuple[int, ...] = ()

    @property
    def reassigning(self) -> bool:
        return bool(self.adding or self.removing)

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "replicas": list(self.replicas),
            "leader": self.leader,
            "leader_epoch": self.leader_epoch,
            "isr": list(self.isr),
            "partition_epoch": self.partition_epoch,
        }
        if self.reassigning:
            data["adding"], data["removing"] = list(self.adding), list(self.removing)
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> PartitionState:
        return cls(
            replicas=tuple(data["replicas"]),  # type: ignore[arg-type]
            leader=int(data["leader"]),  # type: ignore[call-overload]
            leader_epoch=int(data["leader_epoch"]),  # type: ignore[call-overload]
            isr=tuple(data["isr"]),  # type: ignore[arg-type]
            partition_epoch=int(data.get("partition_epoch", 0)),  # type: ignore[call-overload]
            adding=tuple(data.get("adding", ())),  # type: ignore[arg-type]
            removing=tuple(data.get("removing", ())),  # type: ignore[arg-type]
        )


NO_ZNODE = -1  # the partition_epoch of a state that is not stored yet (assigned, no leader elected)


@dataclass(frozen=True, slots=True)
class ControllerEpoch:
    """What an active controller holds: its epoch and the version of the /controller_epoch
    znode it wrote when it won. Every controller write checks that version (Kafka's
    controllerEpochZkVersion), so once a newer controller has won, an older one's writes
    fail, whatever it believes."""

    epoch: int
    zk_version: int


# A partition-state change as its writer decided it: (the state decided on, the new state).
# The write happens only if the stored state is still the one decided on (its version).
StateChange = tuple[PartitionState, PartitionState]


@dataclass(slots=True)
class TopicInfo:
    name: str
    topic_id: uuid.UUID
    partitions: dict[int, PartitionState]
    configs: dict[str, str] = field(default_factory=dict)

    @property
    def is_internal(self) -> bool:
        return self.name in INTERNAL_TOPICS

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "topic_id": str(self.topic_id),
            "partitions": {str(p): s.to_json() for p, s in self.partitions.items()},
            "configs": dict(self.configs),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> TopicInfo:
        parts = data["partitions"]
        assert isinstance(parts, dict)
        return cls(
            name=str(data["name"]),
            topic_id=uuid.UUID(str(data["topic_id"])),
            partitions={int(p): PartitionState.from_json(s) for p, s in parts.items()},
            configs=dict(data.get("configs", {})),  # type: ignore[call-overload]
        )


def topic_name_error(name: str) -> str | None:
    """Why a topic name is illegal (Kafka's Topic.validate rules), or None if it is fine."""
    if not name:
        return "Topic name is illegal, it can't be empty"
    if name in (".", ".."):
        return "Topic name cannot be \".\" or \"..\""
    if len(name) > MAX_TOPIC_NAME_LENGTH:
        return f"Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME_LENGTH} characters"
    if not _LEGAL_TOPIC.match(name):
        return f"Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
    return None


def kafka_uuid(value: uuid.UUID) -> str:
    """Kafka's Uuid.toString: the 16 bytes as URL-safe base64 without padding (22 chars)."""
    return base64.urlsafe_b64encode(value.bytes).decode().rstrip("=")


def parse_kafka_uuid(text: str) -> uuid.UUID:
    return uuid.UUID(bytes=base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


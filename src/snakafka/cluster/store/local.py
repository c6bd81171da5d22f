"""The embedded metadata store of a single broker: one JSON file, rewritten atomically.

A single broker runs with no ZooKeeper at all; its controller keeps topics, partition
states and topic configs here, under the first log dir, so they survive restarts, and its
authorizer its ACLs (in the JSON of Kafka's /kafka-acl znodes, one object per resource).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from snakafka.cluster.model import (
    BrokerInfo,
    ControllerEpoch,
    PartitionState,
    StateChange,
    TopicInfo,
    kafka_uuid,
)
from snakafka.cluster.store.base import (
    AclChange,
    AclEntry,
    AclResource,
    StateConflictError,
    TopicExistsError,
)

log = logging.getLogger(__name__)

FILE_NAME = "snakafka-metadata.json"


class LocalMetadataStore:
    def __init__(self, directory: Path) -> None:
        self._path = directory / FILE_NAME
        self._topics: dict[str, TopicInfo] = {}
        self._brokers: dict[int, BrokerInfo] = {}
        self.cluster_id = ""
        self._next_producer_id = 0
        self._broker_configs: dict[str, dict[str, str]] = {}  # dynamic broker configs by entity
        self._acls: dict[AclResource, frozenset[AclEntry]] = {}
        self._users: dict[str, dict[str, str]] = {}  # SCRAM credentials: user -> mechanism -> text

    async def start(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        if self._path.exists():
            data = json.loads(self._path.read_text())
            self.cluster_id = data["cluster_id"]
            self._topics = {t["name"]: TopicInfo.from_json(t) for t in data["topics"]}
            self._next_producer_id = int(data.get("next_producer_id", 0))
            self._broker_configs = {str(k): dict(v) for k, v in data.get("broker_configs", {}).items()}
            self._acls = {(r["patternType"], r["resourceType"], r["name"]): frozenset(
                (a["principal"], a["permissionType"], a["operation"], a["host"]) for a in r["acls"])
                for r in data.get("acls", ())}
            self._users = {str(u): dict(c) for u, c in data.get("users", {}).items()}
            log.info("loaded metadata of %d topics from %s", len(self._topics), self._path)
        else:
            self.cluster_id = _new_cluster_id()
            self._write()

    async def close(self) -> None:
        pass

    async def register_broker(self, broker: BrokerInfo) -> None:
        self._brokers[broker.broker_id] = broker

    async def controller_id(self) -> int:
        """The single broker is always the controller."""
        return next(iter(self._brokers), -1)

    async def try_become_controller(self, broker_id: int) -> ControllerEpoch | None:
        return ControllerEpoch(1, 0)  # the only broker, the only controller there will be

    async def brokers(self) -> list[BrokerInfo]:
        return list(self._brokers.values())

    async def topics(self) -> dict[str, TopicInfo]:
        return {name: _copy(t) for name, t in self._topics.items()}

    async def create_topic(self, topic: TopicInfo) -> None:
        if topic.name in self._topics:
            raise TopicExistsError(f"Topic '{topic.name}' already exists.")
        self._topics[topic.name] = _copy(topic)
        self._write()

    async def delete_topic(self, name: str) -> None:
        if self._topics.pop(name, None) is not None:
            self._write()

    async def update_partition_states(self, topic: str, changes: dict[int, StateChange],
                                      controller: ControllerEpoch) -> None:
        """The ZooKeeper store's contract: all or none, each state still the one decided
        on (only this broker writes here, so only a stale decision fails)."""
        partitions = self._topics[topic].partitions
        stale = [p for p, (decided_on, _) in changes.items() if partitions.get(p) != decided_on]
        if stale:
            raise StateConflictError(f"{topic}: partitions {sorted(stale)} changed since they were decided on")
        partitions.update({p: new for p, (_, new) in changes.items()})
        self._write()

    async def add_partitions(self, topic: str, existing: int, states: dict[int, PartitionState]) -> None:
        partitions = self._topics[topic].partitions
        if len(partitions) != existing or any(p in partitions for p in states):
            raise StateConflictError(f"topic {topic} has {len(partitions)} partitions, not {existing}")
        partitions.update(states)
        self._write()

    async def alter_isr(self, topic: str, partition: int, expected: PartitionState, new: PartitionState) -> bool:
        """Compare-and-set of one partition state (the ZooKeeper store's contract; here only
        this broker writes, so it fails only for a stale `expected`)."""
        info = self._topics.get(topic)
        if info is None or info.partitions.get(partition) != expected:
            return False
        info.partitions[partition] = new
        self._write()
        return True

    async def set_topic_configs(self, topic: str, configs: dict[str, str]) -> None:
        self._topics[topic].configs = dict(configs)
        self._write()

    async def broker_configs(self) -> dict[str, dict[str, str]]:
        return {entity: dict(configs) for entity, configs in self._broker_configs.items()}

    async def set_broker_configs(self, entity: str, configs: dict[str, str]) -> None:
        if configs:
            self._broker_configs[entity] = dict(configs)
        else:
            self._broker_configs.pop(entity, None)
        self._write()

    async def allocate_producer_ids(self, count: int) -> int:
        first = self._next_producer_id
        self._next_producer_id += count
        self._write()
        return first

    async def user_credentials(self, user: str) -> dict[str, str]:
        return dict(self._users.get(user, {}))

    async def all_user_credentials(self) -> dict[str, dict[str, str]]:
        return {user: dict(creds) for user, creds in self._users.items() if creds}

    async def alter_user_credentials(self, user: str, upsert: dict[str, str], delete: list[str]) -> None:
        creds = self._users.setdefault(user, {})
        for mechanism in delete:
            creds.pop(mechanism, None)
        creds.update(upsert)
        if not creds:
            del self._users[user]
        self._write()

    def on_change(self, callback: Callable[[], None]) -> None:
        """Nobody else writes this file: there is never an outside change to report."""

    async def acls(self) -> dict[AclResource, frozenset[AclEntry]]:
        return dict(self._acls)

    async def update_acls(self, resource: AclResource, change: AclChange) -> tuple[frozenset[AclEntry], frozenset[AclEntry]]:
        before = self._acls.get(resource, frozenset())
        after = frozenset(change(before))
        if after != before:
            if after:
                self._acls[resource] = after
            else:
                del self._acls[resource]
            self._write()
        return before, after

    def on_acl_change(self, callback: Callable[[], None]) -> None:
        """Only this broker changes its ACLs, and it applies its own changes."""

    def on_session_lost(self, callback: Callable[[], None]) -> None:
        """No session to lose."""

    def _write(self) -> None:
        data = {"version": 1, "cluster_id": self.cluster_id, "topics": [t.to_json() for t in self._topics.values()],
                "next_producer_id": self._next_producer_id, "broker_configs": self._broker_configs,
                "users": self._users,
                "acls": [{"patternType": p, "resourceType": t, "name": n, "acls": [
                    {"principal": a[0], "permissionType": a[1], "operation": a[2], "host": a[3]} for a in sorted(entries)]}
                    for (p, t, n), entries in sorted(self._acls.items())]}
        tmp = self._path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._path)
        dir_fd = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _copy(topic: TopicInfo) -> TopicInfo:
    return TopicInfo(topic.name, topic.topic_id, dict(topic.partitions), dict(topic.configs))


def _new_cluster_id() -> str:
    """Kafka's cluster ids are 22-character URL-safe base64 UUIDs."""
    return kafka_uuid(uuid.uuid4())

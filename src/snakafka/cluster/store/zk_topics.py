"""Topics over ZooKeeper, in Kafka's znodes: read every topic (assignment, partition
states, reassignments in progress, configs), create one atomically, delete one, set its
configs with a change notification. Partition-state writes, which are fenced, are in
zk_partitions.py.

Synchronous functions over a started kazoo client, called from the store's worker thread.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import replace
from typing import Any

# kazoo ships no type information.
from kazoo.client import KazooClient  # type: ignore[import-untyped]
from kazoo.exceptions import NodeExistsError, NoNodeError, NotEmptyError  # type: ignore[import-untyped]

from snakafka.cluster.model import NO_LEADER, NO_ZNODE, PartitionState, TopicInfo
from snakafka.cluster.store.base import TopicExistsError
from snakafka.cluster.store.zk_data import (
    CONFIG_CHANGE_PREFIX,
    CONFIG_CHANGES_PATH,
    DELETE_TOPICS_PATH,
    MAX_CAS_ATTEMPTS,
    TOPIC_CONFIGS_PATH,
    TOPICS_PATH,
    config_json,
    encode_json,
    first_failure,
    parse_reassignments,
    parse_state,
    parse_topic,
    state_json,
    state_path,
    topic_json,
)

log = logging.getLogger(__name__)


def read_topics(client: KazooClient) -> dict[str, TopicInfo]:
    """Read every topic: its assignment, partition states and config, pipelining the
    reads (one round trip per level rather than one per znode)."""
    names = sorted(client.get_children(TOPICS_PATH))
    assignments = {n: client.get_async(f"{TOPICS_PATH}/{n}") for n in names}
    configs = {n: client.get_async(f"{TOPIC_CONFIGS_PATH}/{n}") for n in names}
    parsed: dict[str, tuple[uuid.UUID, dict[int, tuple[int, ...]]]] = {}
    reassigning: dict[str, dict[int, tuple[tuple[int, ...], tuple[int, ...]]]] = {}
    for name, request in assignments.items():
        try:
            data, _ = request.get()
        except NoNodeError:
            continue
        parsed[name] = parse_topic(name, data)
        reassigning[name] = parse_reassignments(data)
    states = {
        (name, p): client.get_async(state_path(name, p)) for name, (_, parts) in parsed.items() for p in parts
    }
    result: dict[str, TopicInfo] = {}
    for name, (topic_id, parts) in parsed.items():
        partitions: dict[int, PartitionState] = {}
        for p, replicas in sorted(parts.items()):
            try:
                data, stat = states[(name, p)].get()
            except NoNodeError:  # assigned, but no leader elected yet
                partitions[p] = PartitionState(replicas=replicas, leader=NO_LEADER, partition_epoch=NO_ZNODE)
                continue
            partitions[p] = parse_state(replicas, data, stat.version)
            if p in reassigning[name]:
                adding, removing = reassigning[name][p]
                partitions[p] = replace(partitions[p], adding=adding, removing=removing)
        result[name] = TopicInfo(name, topic_id, partitions, _read_config(configs[name]))
    return result


def create_topic(client: KazooClient, topic: TopicInfo, controller_epoch: int) -> None:
    """The topic znode, its partition states and its config in one transaction (nobody
    ever sees half a topic); TopicExistsError if /brokers/topics/<name> exists."""
    topic_path = f"{TOPICS_PATH}/{topic.name}"
    config_path = f"{TOPIC_CONFIGS_PATH}/{topic.name}"
    assignment = {p: s.replicas for p, s in topic.partitions.items()}
    for _ in range(MAX_CAS_ATTEMPTS):
        if client.exists(topic_path) is not None:
            if parse_topic(topic.name, client.get(topic_path)[0])[0] == topic.topic_id:
                return  # ours: run again after its answer was lost with the connection
            raise TopicExistsError(f"Topic '{topic.name}' already exists.")
        # Kafka writes the config before the topic znode and never removes a leftover
        # one on create, so an existing config znode is overwritten, not an error.
        config_stat = client.exists(config_path)
        tx = client.transaction()
        if config_stat is None:
            tx.create(config_path, config_json(topic.configs))
        else:
            tx.set_data(config_path, config_json(topic.configs), version=config_stat.version)
        tx.create(topic_path, topic_json(topic.topic_id, assignment))
        tx.create(f"{topic_path}/partitions", b"")
        for p, state in sorted(topic.partitions.items()):
            tx.create(f"{topic_path}/partitions/{p}", b"")
            tx.create(state_path(topic.name, p), state_json(state, controller_epoch))
        results = tx.commit()
        failure = first_failure(results)
        if failure is None:
            return
        if isinstance(failure, NodeExistsError) and results[1] is failure:
            raise TopicExistsError(f"Topic '{topic.name}' already exists.")
        # The config znode changed under us (another writer): read again and retry.
        log.debug("create of topic %s raced with another writer (%r); retrying", topic.name, failure)
    raise RuntimeError(f"could not create topic {topic.name}: too much contention")


def delete_topic(client: KazooClient, name: str) -> None:
    """The topic's znodes (bottom-up, in one transaction), its config and any pending
    deletion marker."""
    paths = [f"{DELETE_TOPICS_PATH}/{name}", f"{TOPIC_CONFIGS_PATH}/{name}"]
    for _ in range(MAX_CAS_ATTEMPTS):
        tree = _subtree(client, f"{TOPICS_PATH}/{name}")
        existing = [p for p in paths if client.exists(p) is not None]
        if not tree and not existing:
            return
        tx = client.transaction()
        for path in reversed(tree):  # children before parents
            tx.delete(path)
        for path in existing:
            tx.delete(path)
        failure = first_failure(tx.commit())
        if failure is None:
            return
        if not isinstance(failure, (NoNodeError, NotEmptyError)):
            raise failure
        log.debug("delete of topic %s raced with another writer (%r); retrying", name, failure)
    raise RuntimeError(f"could not delete topic {name}: too much contention")


def set_topic_configs(client: KazooClient, topic: str, configs: dict[str, str]) -> None:
    """The topic's config overrides and a change notification; KeyError if no such topic."""
    config_path = f"{TOPIC_CONFIGS_PATH}/{topic}"
    for _ in range(MAX_CAS_ATTEMPTS):
        if client.exists(f"{TOPICS_PATH}/{topic}") is None:
            raise KeyError(topic)
        config_stat = client.exists(config_path)
        tx = client.transaction()
        tx.check(f"{TOPICS_PATH}/{topic}", -1)
        if config_stat is None:
            tx.create(config_path, config_json(configs))
        else:
            tx.set_data(config_path, config_json(configs), version=config_stat.version)
        tx.create(f"{CONFIG_CHANGES_PATH}/{CONFIG_CHANGE_PREFIX}",
                  encode_json({"version": 2, "entity_path": f"topics/{topic}"}), sequence=True)
        failure = first_failure(tx.commit())
        if failure is None:
            return
        log.debug("config update of %s raced with another writer (%r); retrying", topic, failure)
    raise RuntimeError(f"could not set configs of {topic}: too much contention")


def _read_config(request: Any) -> dict[str, str]:
    try:
        data, _ = request.get()
    except NoNodeError:
        return {}
    if not data:
        return {}
    return {str(k): str(v) for k, v in (json.loads(data).get("config") or {}).items()}


def _subtree(client: KazooClient, path: str) -> list[str]:
    """Every znode under and including `path`, parents before children; [] if missing."""
    try:
        children = client.get_children(path)
    except NoNodeError:
        return []
    result = [path]
    for child in sorted(children):
        result.extend(_subtree(client, f"{path}/{child}"))
    return result


__all__ = ["create_topic", "delete_topic", "read_topics", "set_topic_configs"]

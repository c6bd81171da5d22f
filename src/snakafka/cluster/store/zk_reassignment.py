"""Partition reassignments (KIP-455) in ZooKeeper, where Kafka's ZooKeeper mode keeps
them: the topic znode's assignment with "adding_replicas" and "removing_replicas" per
partition being moved. The controller writes the assignment and the partitions' states
in one transaction, fenced like its other writes (the /controller_epoch version it won
with, each state at the version it was decided on, the topic znode at the version read).

Synchronous functions over a started kazoo client, called from the store's worker thread.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

# kazoo ships no type information.
from kazoo.client import KazooClient  # type: ignore[import-untyped]
from kazoo.exceptions import BadVersionError, NoNodeError  # type: ignore[import-untyped]

from snakafka.cluster.model import (
    ControllerEpoch,
    Reassignment,
    StateChange,
    kafka_uuid,
)
from snakafka.cluster.store.base import ControllerMovedError, StateConflictError
from snakafka.cluster.store.zk_data import (
    CONTROLLER_EPOCH_PATH,
    TOPIC_ZNODE_VERSION,
    TOPICS_PATH,
    encode_json,
    first_failure,
    parse_topic,
    state_json,
    state_path,
)

ReassignmentChange = tuple[StateChange, Reassignment | None]


def parse_reassignments(data: bytes) -> dict[int, Reassignment]:
    """The partitions being moved, from a topic znode (TopicZNode.decode)."""
    decoded = json.loads(data)
    adding = decoded.get("adding_replicas") or {}
    removing = decoded.get("removing_replicas") or {}
    return {int(p): Reassignment(tuple(int(b) for b in adding.get(p, ())), tuple(int(b) for b in removing.get(p, ())))
            for p in sorted(set(adding) | set(removing), key=int)}


def write_reassignment(client: KazooClient, topic: str, changes: Mapping[int, ReassignmentChange],
                       controller: ControllerEpoch) -> None:
    """Set the replicas and ongoing reassignments of `changes` partitions in the topic
    znode and their states, all or none (see the module doc)."""
    topic_path = f"{TOPICS_PATH}/{topic}"
    try:
        data, stat = client.get(topic_path)
    except NoNodeError:
        raise KeyError(topic) from None
    topic_id, assignment = parse_topic(topic, data)
    ongoing = parse_reassignments(data)
    for p, ((_, new), reassignment) in changes.items():
        assignment[p] = new.replicas
        if reassignment is None:
            ongoing.pop(p, None)
        else:
            ongoing[p] = reassignment
    tx = client.transaction()
    tx.check(CONTROLLER_EPOCH_PATH, controller.zk_version)
    tx.set_data(topic_path, encode_json({
        "version": TOPIC_ZNODE_VERSION,
        "partitions": {str(p): list(r) for p, r in sorted(assignment.items())},
        "topic_id": kafka_uuid(topic_id),
        "adding_replicas": {str(p): list(r.adding) for p, r in sorted(ongoing.items()) if r.adding},
        "removing_replicas": {str(p): list(r.removing) for p, r in sorted(ongoing.items()) if r.removing},
    }), version=stat.version)
    for p, ((decided_on, new), _) in sorted(changes.items()):
        tx.set_data(state_path(topic, p), state_json(new, controller.epoch), version=decided_on.partition_epoch)
    results = tx.commit()
    failure = first_failure(results)
    if failure is None:
        return
    if results[0] is failure:
        raise ControllerMovedError(f"controller epoch {controller.epoch} is no longer current")
    if isinstance(failure, (BadVersionError, NoNodeError)):
        raise StateConflictError(f"topic {topic} changed since the reassignment was decided ({failure!r})")
    raise failure

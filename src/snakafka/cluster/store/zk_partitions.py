"""Partition-state writes over ZooKeeper, each fenced as in Kafka's ZooKeeper mode.

Three writers touch /brokers/topics/<t>/partitions/<p>/state, and each write is
conditional, so none can undo a newer decision it has not seen:

- the controller (leader elections, dead ISR members, controlled shutdown, preferred
  leaders): one transaction per topic that checks the /controller_epoch version the
  controller won with and sets each state at the version its decision was based on
  (KafkaZkClient.updateLeaderAndIsr, with its controllerEpochZkVersion check);
- a partition's leader (ISR expansion and shrink): a compare-and-set at the version it
  decided on (the ZooKeeper-mode leader's own ISR writes);
- any broker adding partitions: creates only (a state that exists makes the write
  fail), checked against the topic znode it read.

Synchronous functions over a started kazoo client, called from the store's worker thread.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

# kazoo ships no type information.
from kazoo.client import KazooClient  # type: ignore[import-untyped]
from kazoo.exceptions import (  # type: ignore[import-untyped]
    BadVersionError,
    NodeExistsError,
    NoNodeError,
)

from snakafka.cluster.model import (
    NO_ZNODE,
    ControllerEpoch,
    PartitionState,
    StateChange,
)
from snakafka.cluster.store.base import ControllerMovedError, StateConflictError
from snakafka.cluster.store.zk_data import (
    CONTROLLER_EPOCH_PATH,
    TOPICS_PATH,
    first_failure,
    parse_topic,
    state_json,
    state_path,
    topic_json,
)

log = logging.getLogger(__name__)


def update_states(client: KazooClient, topic: str, changes: Mapping[int, StateChange],
                  controller: ControllerEpoch) -> None:
    """The controller's write: all of `changes` or none. ControllerMovedError if a newer
    controller exists, StateConflictError if a state moved since it was decided on,
    KeyError if the topic is gone."""
    topic_path = f"{TOPICS_PATH}/{topic}"
    try:
        topic_data, topic_stat = client.get(topic_path)
    except NoNodeError:
        raise KeyError(topic) from None
    tx = client.transaction()
    tx.check(CONTROLLER_EPOCH_PATH, controller.zk_version)
    ops: list[int] = []  # the partition of each op after the check (-1: the topic znode)
    moved = {p: new for p, (decided_on, new) in changes.items()
             if (new.replicas, new.adding, new.removing) != (decided_on.replicas, decided_on.adding, decided_on.removing)}
    if moved:  # a reassignment step: the replica sets live in the topic znode
        topic_id, assignment = parse_topic(topic, topic_data)
        assignment.update({p: new.replicas for p, new in moved.items()})
        tx.set_data(topic_path, topic_json(topic_id, assignment, topic_data,
                                           {p: (new.adding, new.removing) for p, new in moved.items()}),
                    version=topic_stat.version)
        ops.append(-1)
    for p, (decided_on, new) in sorted(changes.items()):
        data = state_json(new, controller.epoch)
        if decided_on.partition_epoch == NO_ZNODE:  # assigned, never elected: the first state
            partition_path = f"{TOPICS_PATH}/{topic}/partitions/{p}"
            if client.exists(partition_path) is None:
                tx.create(partition_path, b"")
                ops.append(p)
            tx.create(state_path(topic, p), data)
        else:
            tx.set_data(state_path(topic, p), data, version=decided_on.partition_epoch)
        ops.append(p)
    results = tx.commit()
    failure = first_failure(results)
    if failure is None:
        return
    if results[0] is failure:
        raise ControllerMovedError(
            f"controller epoch {controller.epoch} is no longer current (/controller_epoch moved past version "
            f"{controller.zk_version})")
    partition = ops[results.index(failure) - 1]
    if isinstance(failure, (BadVersionError, NoNodeError, NodeExistsError)):
        what = f"topic {topic}'s assignment" if partition < 0 else f"{topic}-{partition}"
        raise StateConflictError(f"{what} changed since it was decided on ({failure!r})")
    raise failure


def add_partitions(client: KazooClient, topic: str, existing: int, states: Mapping[int, PartitionState],
                   controller_epoch: int) -> None:
    """New partitions of `topic`, only while it has `existing` partitions (checked on the
    topic znode's version, read here) and never over a state that exists."""
    topic_path = f"{TOPICS_PATH}/{topic}"
    try:
        data, stat = client.get(topic_path)
    except NoNodeError:
        raise KeyError(topic) from None
    topic_id, assignment = parse_topic(topic, data)
    if len(assignment) == existing + len(states) and all(assignment.get(p) == s.replicas for p, s in states.items()):
        return  # ours, run again after its answer was lost with the connection
    if len(assignment) != existing or any(p in assignment for p in states):
        raise StateConflictError(f"topic {topic} has {len(assignment)} partitions, not {existing}")
    updated = {**assignment, **{p: s.replicas for p, s in states.items()}}
    tx = client.transaction()
    tx.set_data(topic_path, topic_json(topic_id, updated, data), version=stat.version)
    if client.exists(f"{topic_path}/partitions") is None:
        tx.create(f"{topic_path}/partitions", b"")
    for p, state in sorted(states.items()):
        tx.create(f"{topic_path}/partitions/{p}", b"")
        tx.create(state_path(topic, p), state_json(state, controller_epoch))
    failure = first_failure(tx.commit())
    if failure is None:
        return
    if isinstance(failure, (BadVersionError, NodeExistsError, NoNodeError)):
        raise StateConflictError(f"topic {topic} changed while adding partitions ({failure!r})")
    raise failure


def alter_isr(client: KazooClient, topic: str, partition: int, decided_on: PartitionState, new: PartitionState,
              default_controller_epoch: int) -> bool:
    """The leader's ISR change, at the version it decided on; False if the state moved."""
    path = state_path(topic, partition)
    try:
        data, stat = client.get(path)
    except NoNodeError:
        return False
    if stat.version != decided_on.partition_epoch:
        return False
    # Keep the controller epoch of the controller that last wrote the leader, as Kafka's
    # leaders did for their ZooKeeper ISR updates.
    controller_epoch = int(json.loads(data).get("controller_epoch", default_controller_epoch))
    try:
        client.set(path, state_json(new, controller_epoch), version=decided_on.partition_epoch)
    except (BadVersionError, NoNodeError):
        return False
    return True



__all__ = ["add_partitions", "alter_isr", "update_states"]

"""The controller's side of partition reassignment (KIP-455): start, replace or cancel
reassignments an admin asks for (AlterPartitionReassignments), and complete them as the
new replicas join the ISR, on every controller pass. The rules are reassignment.py's;
this module reads the metadata cache and writes through the store, fenced by the
controller's lease like every other controller write.
"""

from __future__ import annotations

import logging

from snakafka.cluster.metadata_cache import MetadataCache
from snakafka.cluster.model import NO_ZNODE, ControllerEpoch, Reassignment, StateChange
from snakafka.cluster.reassignment import ReassignmentRefused, complete, start
from snakafka.cluster.store.base import MetadataStore, StateConflictError
from snakafka.protocol.errors import ErrorCode

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]
Outcome = tuple[ErrorCode, str | None]
Changes = dict[str, dict[int, tuple[StateChange, Reassignment | None]]]


def decide(cache: MetadataCache, requests: dict[TopicPartition, tuple[int, ...] | None]
           ) -> tuple[dict[TopicPartition, Outcome], Changes]:
    """Kafka's answer per requested partition (a target, or None to cancel) and the
    writes that start the accepted ones."""
    live = cache.brokers
    results: dict[TopicPartition, Outcome] = {}
    changes: Changes = {}
    for (name, p), target in sorted(requests.items()):
        info = cache.topics.get(name)
        state = info.partitions.get(p) if info is not None else None
        if info is None or state is None:
            results[(name, p)] = (ErrorCode.unknown_topic_or_partition, "The partition does not exist.")
            continue
        ongoing = info.reassignments.get(p)
        if target is None:
            if ongoing is None:
                results[(name, p)] = (ErrorCode.no_reassignment_in_progress,
                                      f"No ongoing reassignment for partition {name}-{p}.")
                continue
            target = ongoing.original(state.replicas)
        elif not target:
            results[(name, p)] = (ErrorCode.invalid_replica_assignment, "The replica list is empty.")
            continue
        elif len(set(target)) != len(target):
            results[(name, p)] = (ErrorCode.invalid_replica_assignment,
                                  f"The proposed assignment contains duplicate replicas: {list(target)}.")
            continue
        elif any(b not in live for b in target):
            results[(name, p)] = (ErrorCode.invalid_replica_assignment,
                                  f"The proposed assignment contains non-live brokers: {list(target)}.")
            continue
        if state.partition_epoch == NO_ZNODE:
            results[(name, p)] = (ErrorCode.leader_not_available, f"Partition {name}-{p} has no state yet.")
            continue
        try:
            step = start(state, ongoing, target)
        except ReassignmentRefused as exc:
            results[(name, p)] = (ErrorCode.invalid_replica_assignment, str(exc))
            continue
        results[(name, p)] = (ErrorCode.none, None)
        if step is not None:
            new, reassignment = step
            changes.setdefault(name, {})[p] = ((state, new), reassignment)
    return results, changes


async def write(store: MetadataStore, lease: ControllerEpoch, changes: Changes, reason: str, broker_id: int) -> bool:
    """Write each topic's reassignment changes; False if one lost a race (decide again
    on a fresh view). ControllerMovedError and KeyError (topic deleted) propagate."""
    for name, topic_changes in sorted(changes.items()):
        try:
            await store.write_reassignment(name, topic_changes, lease)
        except StateConflictError as exc:
            log.info("broker %d (controller, %s): %s; deciding again", broker_id, reason, exc)
            return False
        for p, ((old, new), reassignment) in sorted(topic_changes.items()):
            log.info("broker %d (controller, %s): %s-%d replicas %s -> %s, leader %d -> %d, isr %s%s", broker_id,
                     reason, name, p, list(old.replicas), list(new.replicas), old.leader, new.leader, list(new.isr),
                     f" (adding {list(reassignment.adding)}, removing {list(reassignment.removing)})"
                     if reassignment else "")
    return True


def completions(cache: MetadataCache) -> Changes:
    """The reassignments whose target replicas are all in the ISR now, completed."""
    live = frozenset(cache.brokers)
    changes: Changes = {}
    for name, info in sorted(cache.topics.items()):
        for p, reassignment in sorted(info.reassignments.items()):
            state = info.partitions.get(p)
            if state is None:
                continue
            new = complete(state, reassignment, live)
            if new is not None:
                changes.setdefault(name, {})[p] = ((state, new), None)
    return changes

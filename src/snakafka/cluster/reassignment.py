"""Partition reassignment (KIP-455) as the controller decides it, in pure functions.

Moving a partition from its original replicas (OR) to target replicas (TR) goes through
two controller writes, as in Kafka's ZooKeeper mode:

1. Start: the partition's replicas become TR followed by the original replicas not in TR
   (so every replica that has the data keeps it while the new ones catch up), with
   adding = TR - OR and removing = OR - TR recorded beside the assignment (Kafka's
   adding_replicas / removing_replicas in the topic znode), and a new leader epoch, so
   the leader starts tracking the new followers. The new replicas fetch from the leader
   and join the ISR when caught up (the leader's own ISR change).
2. Complete, once every target replica is in the ISR: the replicas become TR, the removed
   replicas leave the ISR (and stop, their logs deleted), and if the leader is not a
   target replica (or is dead) leadership moves to the first live in-sync target replica
   (Kafka's ReassignPartitionLeaderElectionStrategy); a new leader epoch fences the rest.

A new reassignment of a partition already moving replaces the old one (from the same
original replicas); cancelling is reassigning to the original replicas, in the order the
full list keeps them (target replicas first), as Kafka's originReplicas are.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet

from snakafka.cluster.model import NO_LEADER, PartitionState, Reassignment

__all__ = ["Reassignment", "ReassignmentRefused", "complete", "start"]


class ReassignmentRefused(Exception):
    """A target that cannot be started (the message says why)."""


def start(state: PartitionState, ongoing: Reassignment | None, target: tuple[int, ...]
          ) -> tuple[PartitionState, Reassignment | None] | None:
    """The state and reassignment to write when a reassignment to `target` starts (or
    replaces `ongoing`, or cancels it when `target` is the original replicas); None when
    there is nothing to do (already there, nothing ongoing)."""
    original = ongoing.original(state.replicas) if ongoing is not None else state.replicas
    full = target + tuple(r for r in original if r not in target)
    adding = tuple(r for r in target if r not in original)
    removing = tuple(r for r in original if r not in target)
    reassignment = Reassignment(adding, removing) if adding or removing else None
    if full == state.replicas and reassignment == ongoing:
        return None
    isr = tuple(r for r in state.isr if r in full)
    leader = state.leader
    if leader != NO_LEADER and leader not in full:  # a replica being added led; it leaves with the cancellation
        leader = next((r for r in full if r in isr), NO_LEADER)
        if leader == NO_LEADER:
            raise ReassignmentRefused(f"no replica of {list(full)} is in the ISR {list(state.isr)} to lead")
    if not isr:
        isr = state.isr[:1] if leader == NO_LEADER else (leader,)
    new = PartitionState(full, leader, state.leader_epoch + 1, isr, state.partition_epoch + 1)
    return new, reassignment


def complete(state: PartitionState, reassignment: Reassignment, live: AbstractSet[int]) -> PartitionState | None:
    """The state that ends a reassignment once every target replica is in the ISR; None
    while one is not (or no in-sync target replica is alive to lead)."""
    target = reassignment.target(state.replicas)
    if not target or any(r not in state.isr for r in target):
        return None
    isr = tuple(r for r in state.isr if r in target)
    leader = state.leader
    if leader not in target or leader not in live:
        leader = next((r for r in target if r in isr and r in live), NO_LEADER)
        if leader == NO_LEADER:
            return None
    return PartitionState(target, leader, state.leader_epoch + 1, isr, state.partition_epoch + 1)

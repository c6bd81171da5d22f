"""Partition reassignment (KIP-455) as the controller runs it, as pure functions.

A reassignment moves a partition from its original replicas (ORS) to target replicas
(TRS) without a moment of reduced durability, in Kafka's ZooKeeper-mode steps:

1. start: the replica set becomes TRS followed by the rest of ORS, with `adding`
   (TRS - ORS) and `removing` (ORS - TRS) recorded beside it, under a new leader epoch.
   The added replicas start fetching like any follower; the ISR rules let them in once
   they have caught up.
2. complete, once every target replica is in the ISR: the replica set becomes TRS, the
   removed replicas leave the ISR (and then drop their copies), and the leader moves to
   the first live in-sync target replica if it was among the removed ones; a new leader
   epoch again. Until then acks=all still waits for the whole ISR, old members included.

A new request for a partition being reassigned replaces its target, keeping the
original replicas as they were; a cancellation (target None) goes back to them, dropping
the replicas that were being added. Every change bumps the leader and partition epochs,
and the controller writes it fenced like its other writes.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import replace

from snakafka.cluster.model import NO_LEADER, PartitionState


class ReassignmentError(ValueError):
    """A target the controller refuses (Kafka's INVALID_REPLICA_ASSIGNMENT)."""


def original_replicas(state: PartitionState) -> tuple[int, ...]:
    return tuple(r for r in state.replicas if r not in state.adding)


def target_replicas(state: PartitionState) -> tuple[int, ...]:
    return tuple(r for r in state.replicas if r not in state.removing)


def start(state: PartitionState, target: tuple[int, ...], live: AbstractSet[int]) -> PartitionState | None:
    """The state that starts (or redirects) a reassignment to `target`; None when the
    partition already has exactly those replicas and nothing is in progress."""
    if not target:
        raise ReassignmentError("Empty replica list specified in partition reassignment.")
    if len(set(target)) != len(target):
        raise ReassignmentError(f"Duplicate replica ids in partition reassignment replica list: {list(target)}")
    if any(r < 0 for r in target):
        raise ReassignmentError(f"Invalid broker id in replica assignment: {list(target)}")
    if not set(target) <= live:
        raise ReassignmentError(f"Replica assignment has brokers that are not alive. Replica list: {list(target)}, "
                                f"live broker list: {sorted(live)}")
    original = original_replicas(state)
    if target == original and not state.reassigning:
        return None
    replicas = (*target, *(r for r in original if r not in target))
    isr = tuple(r for r in state.isr if r in replicas)
    if not isr:
        raise ReassignmentError(f"None of the in-sync replicas {list(state.isr)} would stay: cannot reassign to "
                                f"{list(target)} now")
    moved = _with_replicas(state, replicas, isr, adding=tuple(r for r in target if r not in original),
                           removing=tuple(r for r in original if r not in target))
    if moved.leader not in replicas:  # the leader was only being added: lead from the originals
        moved = replace(moved, leader=_first_eligible(original, isr, live))
    return moved


def cancel(state: PartitionState, live: AbstractSet[int]) -> PartitionState:
    """Back to the original replicas: those being added leave the replica set and the ISR."""
    original = original_replicas(state)
    isr = tuple(r for r in state.isr if r in original)
    if not isr:  # going back would lose what only the added replicas have
        raise ReassignmentError(f"None of the original replicas {list(original)} is in sync: cannot cancel now")
    moved = _with_replicas(state, original, isr, adding=(), removing=())
    if moved.leader not in original:
        moved = replace(moved, leader=_first_eligible(original, isr, live))
    return moved


def progress(state: PartitionState, live: AbstractSet[int]) -> PartitionState | None:
    """The completing step once every target replica is in the ISR, else None."""
    if not state.reassigning:
        return None
    target = target_replicas(state)
    if not all(r in state.isr for r in target):
        return None
    isr = tuple(r for r in state.isr if r in target)
    done = _with_replicas(state, target, isr, adding=(), removing=())
    if done.leader not in target or done.leader not in live:
        done = replace(done, leader=_first_eligible(target, isr, live))
    return done


def _first_eligible(replicas: tuple[int, ...], isr: tuple[int, ...], live: AbstractSet[int]) -> int:
    for r in replicas:
        if r in isr and r in live:
            return r
    return NO_LEADER


def _with_replicas(state: PartitionState, replicas: tuple[int, ...], isr: tuple[int, ...], *,
                   adding: tuple[int, ...], removing: tuple[int, ...]) -> PartitionState:
    return replace(state, replicas=replicas, isr=isr, adding=adding, removing=removing,
                   leader_epoch=state.leader_epoch + 1, partition_epoch=state.partition_epoch + 1)


__all__ = ["ReassignmentError", "cancel", "original_replicas", "progress", "start", "target_replicas"]

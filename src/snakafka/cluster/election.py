"""Leader election rules of the controller, as pure functions over partition states.

When brokers come or go, Kafka's (ZooKeeper-mode) controller moves each partition it
touches through the same few rules, which live here free of I/O so they can be tested
exhaustively:

- The leader died, or the partition is offline: the new leader is the first replica,
  in assignment order, that is alive and in the ISR (so no acknowledged write is lost).
  If none is, the partition stays (or goes) offline: leader NO_LEADER, keeping the last
  ISR member, because that is the replica that must lead again when it returns. Only
  with unclean.leader.election.enable may an out-of-sync live replica lead instead,
  losing what it missed.
- The leader lives but other ISR members died: they leave the ISR, which never becomes
  empty.

Every change bumps the leader epoch (fencing stale leaders and followers, as Kafka's
controller does for its own ISR changes) and the partition epoch.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet

from snakafka.cluster.model import NO_LEADER, PartitionState


def partition_after_brokers_change(
    state: PartitionState, live: AbstractSet[int], *, unclean: bool = False
) -> PartitionState | None:
    """The state the controller writes after the set of live brokers changed, or None if
    this partition needs no change."""
    if state.leader != NO_LEADER and state.leader in live:
        isr = tuple(r for r in state.isr if r in live)
        if state.leader not in isr:  # cannot happen in a consistent state; keep the leader in
            isr = (state.leader, *isr)
        return None if isr == state.isr else _changed(state, state.leader, isr)
    leader = elect_leader(state, live, unclean=unclean)
    if leader is not None:
        in_sync = tuple(r for r in state.isr if r in live)
        isr = in_sync if leader in in_sync else (leader,)
        return _changed(state, leader, isr)
    if state.leader == NO_LEADER:
        return None  # still offline: nothing to write until a replica that may lead returns
    return _changed(state, NO_LEADER, _offline_isr(state))


def elect_leader(state: PartitionState, live: AbstractSet[int], *, unclean: bool = False) -> int | None:
    """Kafka's offline-partition election: the first live replica in the ISR, else (only
    if unclean) the first live replica; None when no replica may lead."""
    for replica in state.replicas:
        if replica in live and replica in state.isr:
            return replica
    if unclean:
        for replica in state.replicas:
            if replica in live:
                return replica
    return None


def _offline_isr(state: PartitionState) -> tuple[int, ...]:
    """The ISR of a partition going offline: one member, the replica that must lead when
    it returns. Kafka's controller removes dead replicas from the ISR one by one but never
    the last, so that is the old leader when it was in the ISR."""
    return (state.leader,) if state.leader in state.isr else state.isr[-1:]


def _changed(state: PartitionState, leader: int, isr: tuple[int, ...]) -> PartitionState:
    return PartitionState(
        replicas=state.replicas,
        leader=leader,
        leader_epoch=state.leader_epoch + 1,
        isr=isr,
        partition_epoch=state.partition_epoch + 1,
    )

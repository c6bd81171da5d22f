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

- Controlled shutdown: a broker about to stop cleanly asks the controller to move the
  leadership of every partition it leads to the first replica, in assignment order, that
  is alive, in the ISR and not shutting down itself (Kafka's
  ControlledShutdownPartitionLeaderElectionStrategy), and it leaves every ISR. A partition
  with no such replica keeps its leader (nothing else may lead without losing writes);
  the broker then retries and finally stops anyway. Shutting-down brokers are not
  eligible in any election, as in Kafka (its liveBrokerIds exclude them).
- Preferred replica election (auto.leader.rebalance.enable): the first replica of the
  assignment is the preferred leader, spreading leadership evenly when topics are
  created. When the share of a broker's preferred partitions led elsewhere exceeds
  leader.imbalance.per.broker.percentage, each of them moves back to it if it is alive
  and in the ISR.

Every change bumps the leader epoch (fencing stale leaders and followers, as Kafka's
controller does for its own ISR changes) and the partition epoch.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import replace
from typing import TypeVar

from snakafka.cluster.model import NO_LEADER, PartitionState
from snakafka.protocol.errors import ErrorCode

K = TypeVar("K")


def partition_after_brokers_change(
    state: PartitionState, live: AbstractSet[int], *, unclean: bool = False,
    shutting_down: AbstractSet[int] = frozenset(),
) -> PartitionState | None:
    """The state the controller writes after the set of live brokers (or of brokers in
    controlled shutdown, which are live but may not lead or stay in the ISR) changed, or
    None if this partition needs no change."""
    eligible = live - shutting_down
    if state.leader != NO_LEADER and state.leader in live:
        if state.leader in shutting_down:
            leader = controlled_shutdown_leader(state, live, shutting_down)
            if leader is not None:
                return _changed(state, leader, tuple(r for r in state.isr if r in eligible))
            # no other replica may lead: the shutting-down leader keeps it, alone if need be
        isr = tuple(r for r in state.isr if r in eligible or r == state.leader)
        if state.leader not in isr:  # cannot happen in a consistent state; keep the leader in
            isr = (state.leader, *isr)
        return None if isr == state.isr else _changed(state, state.leader, isr)
    leader = elect_leader(state, eligible, unclean=unclean)
    if leader is not None:
        in_sync = tuple(r for r in state.isr if r in eligible)
        isr = in_sync if leader in in_sync else (leader,)
        return _changed(state, leader, isr)
    if state.leader == NO_LEADER:
        return None  # still offline: nothing to write until a replica that may lead returns
    return _changed(state, NO_LEADER, _offline_isr(state))


def controlled_shutdown_leader(
    state: PartitionState, live: AbstractSet[int], shutting_down: AbstractSet[int]
) -> int | None:
    """Kafka's ControlledShutdownPartitionLeaderElectionStrategy: the first replica, in
    assignment order, that is alive, in the ISR and not shutting down; None if none is."""
    for replica in state.replicas:
        if replica in live and replica in state.isr and replica not in shutting_down:
            return replica
    return None


def blocks_controlled_shutdown(
    state: PartitionState, broker_id: int, live: AbstractSet[int], shutting_down: AbstractSet[int]
) -> bool:
    """Whether this partition keeps a broker in controlled shutdown waiting (and retrying):
    it still leads it while another replica, live and not shutting down, could take over
    once in the ISR. Kafka leaves out single-replica partitions; snakafka also leaves out
    partitions whose other replicas are all dead or shutting down, which Kafka retries
    for nothing (no retry can find them a leader): so stopping a whole cluster at once
    takes no retry backoffs."""
    return state.leader == broker_id and any(
        r != broker_id and r in live and r not in shutting_down for r in state.replicas)


def preferred_leader_elections(
    partitions: Mapping[K, PartitionState], live: AbstractSet[int], imbalance_percentage: int,
    *, shutting_down: AbstractSet[int] = frozenset(),
) -> dict[K, PartitionState]:
    """Kafka's auto leader rebalance (checkAndTriggerAutoLeaderRebalance), over every
    partition of the cluster: for each broker, the share of the partitions it is the
    preferred replica of (first in the assignment) but does not lead; above
    `imbalance_percentage` percent, those partitions move back to it, each only if it
    is alive, not shutting down and in the ISR (PreferredReplicaPartitionLeaderElection-
    Strategy). Returns the new states, keyed as `partitions`."""
    by_preferred: dict[int, list[K]] = {}
    for key, state in partitions.items():
        if state.replicas:
            by_preferred.setdefault(state.replicas[0], []).append(key)
    moves: dict[K, PartitionState] = {}
    for broker, keys in by_preferred.items():
        elsewhere = [key for key in keys if partitions[key].leader != broker]
        # elsewhere / keys > percentage / 100, in integers
        if len(elsewhere) * 100 <= imbalance_percentage * len(keys):
            continue
        if broker not in live or broker in shutting_down:
            continue
        for key in elsewhere:
            state = partitions[key]
            if broker in state.isr:
                moves[key] = _changed(state, broker, state.isr)
    return moves


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
    """A leader or ISR change (a reassignment in progress is kept)."""
    return replace(state, leader=leader, leader_epoch=state.leader_epoch + 1, isr=isr,
                   partition_epoch=state.partition_epoch + 1)


# -- elections an admin asks for (ElectLeaders, kafka-leader-election.sh) -----------------

PREFERRED_ELECTION = 0
UNCLEAN_ELECTION = 1


def requested_election(
    state: PartitionState, live: AbstractSet[int], election_type: int,
    *, shutting_down: AbstractSet[int] = frozenset(),
) -> tuple[PartitionState | None, ErrorCode]:
    """Kafka's controller answer to ElectLeaders for one partition: the new state and NONE,
    or no state and why not. PREFERRED moves leadership to the first replica of the
    assignment if it is alive, not shutting down and in the ISR (ELECTION_NOT_NEEDED when
    it leads already, PREFERRED_LEADER_NOT_AVAILABLE otherwise). UNCLEAN elects a leader
    for a partition without a live one, from the live ISR first and else from any live
    replica whatever unclean.leader.election.enable says (ELECTION_NOT_NEEDED when the
    leader lives, ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica lives); an out-of-sync
    leader starts an ISR of its own."""
    eligible = live - shutting_down
    if election_type == PREFERRED_ELECTION:
        preferred = state.replicas[0] if state.replicas else NO_LEADER
        if state.leader == preferred and preferred in live:
            return None, ErrorCode.election_not_needed
        if preferred not in eligible or preferred not in state.isr:
            return None, ErrorCode.preferred_leader_not_available
        return _changed(state, preferred, state.isr), ErrorCode.none
    if state.leader != NO_LEADER and state.leader in live:
        return None, ErrorCode.election_not_needed
    leader = elect_leader(state, eligible, unclean=True)
    if leader is None:
        return None, ErrorCode.eligible_leaders_not_available
    in_sync = tuple(r for r in state.isr if r in eligible)
    return _changed(state, leader, in_sync if leader in in_sync else (leader,)), ErrorCode.none


def election_failure_message(tp: str, election_type: int) -> str:
    """Kafka's message for a partition whose requested election found no leader."""
    strategy = ("PreferredReplicaPartitionLeaderElectionStrategy" if election_type == PREFERRED_ELECTION
                else "OfflinePartitionLeaderElectionStrategy(true)")
    return f"Failed to elect leader for partition {tp} under strategy {strategy}"

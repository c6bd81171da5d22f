"""The controller role of one broker in a cluster: win it, and do its job while holding it.

Kafka (ZooKeeper mode) lets every broker race for the ephemeral /controller znode; the
winner reacts to brokers coming and going by moving partition leadership (offline
partitions, dead ISR members). Here each broker runs `on_metadata` after every refresh
of its metadata cache, which happens on any ZooKeeper change (the store's watches): with
no controller it runs the election; as the active controller it passes over every
partition with `partition_after_brokers_change` and writes the states that change. The
pass is idempotent (a settled partition needs no write), so running it on every refresh
covers a new controller's first pass, broker deaths and returns, and topics created by
another broker with a leader that died just after.

It also serves the two leadership-balancing duties of Kafka's controller: controlled
shutdown (a broker about to stop asks, through the controller's API, to be moved off
every leadership and ISR: `begin_controlled_shutdown`, then the same idempotent pass,
which treats brokers in `shutting_down` as live but ineligible) and the periodic
preferred replica election (`rebalance_leaders`). `shutting_down` lives only in the
active controller's memory, as in Kafka: a broker leaves it when it leaves the live set
(its ZooKeeper session ends), and a new controller starts without it (the stopping
broker retries against the new one).

Fencing (Kafka's ZooKeeper mode): every write is conditional on the version of each
partition state the decision was based on and on the /controller_epoch version this
controller won with (cluster/store/zk_partitions.py). A decision made on a cache older
than the store fails instead of undoing a newer change (a leader's ISR shrink, say):
the caller re-reads and runs the pass again. A write refused for the controller epoch,
or a lost ZooKeeper session, means another controller may exist: the role resigns at
once and acts again only after winning a new election on a fresh view.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from snakafka.cluster import reassignment
from snakafka.cluster.election import (
    blocks_controlled_shutdown,
    partition_after_brokers_change,
    preferred_leader_elections,
)
from snakafka.cluster.metadata_cache import MetadataCache
from snakafka.cluster.model import ControllerEpoch, PartitionState, StateChange
from snakafka.cluster.store.base import (
    ControllerMovedError,
    MetadataStore,
    StateConflictError,
)
from snakafka.protocol.errors import ErrorCode

log = logging.getLogger(__name__)

NO_CONTROLLER = -1


class ControllerRole:
    def __init__(self, broker_id: int, store: MetadataStore, cache: MetadataCache,
                 unclean_leader_election: Callable[[], bool]) -> None:
        self.broker_id = broker_id
        self.store = store
        self.cache = cache
        self._unclean = unclean_leader_election
        self.lease: ControllerEpoch | None = None  # held while this broker is the active controller
        self.shutting_down: set[int] = set()  # brokers in controlled shutdown (active controller only)

    @property
    def is_active(self) -> bool:
        return self.lease is not None

    def resign(self, reason: str) -> None:
        """Stop acting as controller at once (Kafka's onControllerResignation)."""
        if self.lease is not None:
            log.warning("broker %d: resigning as controller (epoch %d): %s", self.broker_id, self.lease.epoch, reason)
        self.lease = None
        self.shutting_down.clear()

    async def on_metadata(self) -> bool:
        """Run after each cache refresh. Returns True if it wrote to the store or found it
        moved since the cache was read: the caller re-reads and runs the pass again."""
        controller = self.cache.controller_id
        if controller == NO_CONTROLLER:
            lease = await self.store.try_become_controller(self.broker_id)
            if lease is not None:
                self.lease = lease
                self.cache.controller_id = self.broker_id
                log.info("broker %d: became the controller (controller epoch %d)", self.broker_id, lease.epoch)
                return True  # act on a view read after winning, never on the one before
            self.cache.controller_id = await self.store.controller_id()
        elif controller != self.broker_id and self.lease is not None:
            self.resign(f"broker {controller} is the controller")
        elif controller == self.broker_id and self.lease is None:
            # Resigned on a silent connection whose session then survived: /controller is
            # still this session's, so the role is taken back (with the epoch it holds).
            lease = await self.store.try_become_controller(self.broker_id)
            if lease is not None:
                self.lease = lease
                log.info("broker %d: still the controller (controller epoch %d)", self.broker_id, lease.epoch)
                return True
        if self.lease is None or self.cache.controller_id != self.broker_id:
            return False
        return await self._update_leadership()

    def begin_controlled_shutdown(self, broker_id: int) -> None:
        """Mark a live broker as shutting down; the next pass moves its leaderships and
        ISR memberships away. The caller runs that pass (a metadata refresh)."""
        if broker_id not in self.cache.brokers:
            raise KeyError(broker_id)
        if broker_id not in self.shutting_down:
            log.info("broker %d (controller): broker %d is shutting down; moving its leaderships away",
                     self.broker_id, broker_id)
        self.shutting_down.add(broker_id)

    def leaderships_remaining(self, broker_id: int) -> list[tuple[str, int]]:
        """The partitions a broker in controlled shutdown still leads (and could hand over),
        Kafka's ControlledShutdownResponse.remainingPartitions."""
        live = frozenset(self.cache.brokers)
        return [(name, p) for name, topic in sorted(self.cache.topics.items())
                for p, state in sorted(topic.partitions.items())
                if blocks_controlled_shutdown(state, broker_id, live, self.shutting_down)]

    async def rebalance_leaders(self, imbalance_percentage: int) -> bool:
        """The periodic preferred replica election (auto.leader.rebalance.enable): moves
        leadership back to preferred replicas where a broker's imbalance is too high.
        Returns True if it wrote to the store."""
        if self.lease is None or self.cache.controller_id != self.broker_id:
            return False
        partitions = {(name, p): state for name, topic in self.cache.topics.items()
                      for p, state in topic.partitions.items()}
        moves = preferred_leader_elections(partitions, frozenset(self.cache.brokers), imbalance_percentage,
                                           shutting_down=self.shutting_down)
        by_topic: dict[str, dict[int, StateChange]] = {}
        for (name, p), new in moves.items():
            by_topic.setdefault(name, {})[p] = (partitions[(name, p)], new)
        return await self._write("preferred replica election", by_topic)

    async def write_requested_elections(self, by_topic: dict[str, dict[int, StateChange]]) -> str:
        """Write the outcome of an ElectLeaders request (Controller.elect_leaders decides
        it), fenced like every controller write: "written", "conflict" (a state moved since
        it was decided on: decide again on a fresh view) or "not-controller"."""
        for name, changes in sorted(by_topic.items()):
            lease = self.lease
            if lease is None or self.cache.controller_id != self.broker_id:
                return "not-controller"
            try:
                await self.store.update_partition_states(name, changes, lease)
            except KeyError:
                continue  # deleted meanwhile
            except ControllerMovedError as exc:
                self.resign(str(exc))
                return "not-controller"
            except StateConflictError:
                return "conflict"
            for p, (old, new) in sorted(changes.items()):
                log.info("broker %d (controller, leader election requested): %s-%d leader %d -> %d, isr %s, "
                         "leader epoch %d", self.broker_id, name, p, old.leader, new.leader, list(new.isr),
                         new.leader_epoch)
        return "written"

    async def _update_leadership(self) -> bool:
        """Write the partition states that the live broker set (and the brokers in
        controlled shutdown) change."""
        live = frozenset(self.cache.brokers)
        self.shutting_down &= live  # a stopped broker is done shutting down; back, it may lead again
        broker_unclean = self._unclean()
        by_topic: dict[str, dict[int, StateChange]] = {}
        for name, topic in sorted(self.cache.topics.items()):
            # The topic's own unclean.leader.election.enable overrides the broker's, as in Kafka.
            override = topic.configs.get("unclean.leader.election.enable")
            unclean = broker_unclean if override is None else override.strip().lower() == "true"
            for p, state in topic.partitions.items():
                new = partition_after_brokers_change(state, live, unclean=unclean, shutting_down=self.shutting_down)
                # A reassignment completes once its target replicas are all in the ISR.
                changed = reassignment.progress(new or state, live - self.shutting_down) or new
                if changed is not None:
                    by_topic.setdefault(name, {})[p] = (state, changed)
        return await self._write("brokers changed", by_topic)

    async def reassign(self, targets: dict[tuple[str, int], tuple[int, ...] | None]
                       ) -> dict[tuple[str, int], tuple[ErrorCode, str | None]]:
        """Start, redirect (a target) or cancel (None) partition reassignments, decided on
        the current view and written fenced. Returns each partition's error code and
        message. StateConflictError if a state moved since the view was read: the caller
        refreshes and asks again."""
        live = frozenset(self.cache.brokers) - self.shutting_down
        results: dict[tuple[str, int], tuple[ErrorCode, str | None]] = {}
        by_topic: dict[str, dict[int, StateChange]] = {}
        for (name, p), target in sorted(targets.items()):
            topic = self.cache.topics.get(name)
            state = None if topic is None else topic.partitions.get(p)
            if state is None:
                results[(name, p)] = (ErrorCode.unknown_topic_or_partition, None)
                continue
            try:
                if target is None:
                    if not state.reassigning:
                        results[(name, p)] = (ErrorCode.no_reassignment_in_progress,
                                              f"No reassignment in progress for {name}-{p}")
                        continue
                    new: PartitionState | None = reassignment.cancel(state, live)
                else:
                    new = reassignment.start(state, target, live)
            except reassignment.ReassignmentError as exc:
                results[(name, p)] = (ErrorCode.invalid_replica_assignment, str(exc))
                continue
            results[(name, p)] = (ErrorCode.none, None)
            if new is not None:
                by_topic.setdefault(name, {})[p] = (state, new)
        for name, changes in sorted(by_topic.items()):
            written = await self._write_topic("partition reassignment", name, changes)
            if written is False:
                raise StateConflictError(f"topic {name} changed while reassigning")
            if written is None:
                for p in changes:
                    results[(name, p)] = (ErrorCode.unknown_topic_or_partition, None)
        return results

    def reassignments(self) -> dict[tuple[str, int], PartitionState]:
        """The partitions being reassigned (ListPartitionReassignments)."""
        return {(name, p): state for name, topic in sorted(self.cache.topics.items())
                for p, state in sorted(topic.partitions.items()) if state.reassigning}

    async def _write(self, reason: str, by_topic: dict[str, dict[int, StateChange]]) -> bool:
        """Write each topic's changes, fenced; True if anything was written or refused as
        stale (either way the caller's view is now older than the store)."""
        moved = False
        for name, changes in sorted(by_topic.items()):
            written = await self._write_topic(reason, name, changes)
            moved = moved or written is not None
            if self.lease is None:
                break
        return moved

    async def _write_topic(self, reason: str, name: str, changes: dict[int, StateChange]) -> bool | None:
        """One topic's changes: True written, False refused as stale (decide again on a
        fresh view; also after resigning), None if the topic is gone."""
        lease = self.lease
        if lease is None:
            return False
        try:
            await self.store.update_partition_states(name, changes, lease)
        except KeyError:
            return None  # deleted meanwhile
        except ControllerMovedError as exc:
            self.resign(str(exc))
            return False
        except StateConflictError as exc:
            log.info("broker %d (controller, %s): %s; deciding again on a fresh view", self.broker_id, reason, exc)
            return False
        live = sorted(self.cache.brokers)
        for p, (old, new) in sorted(changes.items()):
            moving = f", replicas {list(new.replicas)} (adding {list(new.adding)}, removing {list(new.removing)})" \
                if (old.replicas, old.adding, old.removing) != (new.replicas, new.adding, new.removing) else ""
            log.info("broker %d (controller, %s): %s-%d leader %d -> %d, isr %s, leader epoch %d%s "
                     "(live brokers %s, shutting down %s)", self.broker_id, reason, name, p, old.leader,
                     new.leader, list(new.isr), new.leader_epoch, moving, live, sorted(self.shutting_down))
        return True

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

from snakafka.cluster.election import (
    blocks_controlled_shutdown,
    partition_after_brokers_change,
    preferred_leader_elections,
)
from snakafka.cluster.metadata_cache import MetadataCache
from snakafka.cluster.model import ControllerEpoch, StateChange
from snakafka.cluster.store.base import (
    ControllerMovedError,
    MetadataStore,
    StateConflictError,
)

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
                if new is not None:
                    by_topic.setdefault(name, {})[p] = (state, new)
        return await self._write("brokers changed", by_topic)

    async def _write(self, reason: str, by_topic: dict[str, dict[int, StateChange]]) -> bool:
        """Write each topic's changes, fenced; True if anything was written or refused as
        stale (either way the caller's view is now older than the store)."""
        moved = False
        live = sorted(self.cache.brokers)
        for name, changes in sorted(by_topic.items()):
            lease = self.lease
            if lease is None:
                break
            try:
                await self.store.update_partition_states(name, changes, lease)
            except KeyError:
                continue  # deleted meanwhile
            except ControllerMovedError as exc:
                self.resign(str(exc))
                return True
            except StateConflictError as exc:
                log.info("broker %d (controller, %s): %s; deciding again on a fresh view", self.broker_id, reason, exc)
                moved = True
                continue
            moved = True
            for p, (old, new) in sorted(changes.items()):
                log.info("broker %d (controller, %s): %s-%d leader %d -> %d, isr %s, leader epoch %d "
                         "(live brokers %s, shutting down %s)", self.broker_id, reason, name, p, old.leader,
                         new.leader, list(new.isr), new.leader_epoch, live, sorted(self.shutting_down))
        return moved

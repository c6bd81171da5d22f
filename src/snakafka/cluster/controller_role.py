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
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from snakafka.cluster.election import partition_after_brokers_change
from snakafka.cluster.metadata_cache import MetadataCache
from snakafka.cluster.model import PartitionState
from snakafka.cluster.store.base import MetadataStore

log = logging.getLogger(__name__)

NO_CONTROLLER = -1


class ControllerRole:
    def __init__(self, broker_id: int, store: MetadataStore, cache: MetadataCache,
                 unclean_leader_election: Callable[[], bool]) -> None:
        self.broker_id = broker_id
        self.store = store
        self.cache = cache
        self._unclean = unclean_leader_election
        self.epoch: int | None = None  # set while this broker is the active controller

    @property
    def is_active(self) -> bool:
        return self.epoch is not None

    async def on_metadata(self) -> bool:
        """Run after each cache refresh. Returns True if it wrote to the store (the caller's
        cache is then stale until the store's watches report the write)."""
        controller = self.cache.controller_id
        if controller == NO_CONTROLLER:
            epoch = await self.store.try_become_controller(self.broker_id)
            if epoch is not None:
                self.epoch = epoch
                self.cache.controller_id = self.broker_id
                log.info("broker %d: became the controller (controller epoch %d)", self.broker_id, epoch)
            else:
                self.cache.controller_id = await self.store.controller_id()
        elif controller != self.broker_id and self.epoch is not None:
            log.info("broker %d: no longer the controller (broker %d is)", self.broker_id, controller)
            self.epoch = None
        if self.epoch is None or self.cache.controller_id != self.broker_id:
            return False
        return await self._update_leadership()

    async def _update_leadership(self) -> bool:
        """Write the partition states that the live broker set changes."""
        live = frozenset(self.cache.brokers)
        broker_unclean = self._unclean()
        wrote = False
        for name, topic in sorted(self.cache.topics.items()):
            # The topic's own unclean.leader.election.enable overrides the broker's, as in Kafka.
            override = topic.configs.get("unclean.leader.election.enable")
            unclean = broker_unclean if override is None else override.strip().lower() == "true"
            changes: dict[int, PartitionState] = {}
            for p, state in topic.partitions.items():
                new = partition_after_brokers_change(state, live, unclean=unclean)
                if new is not None:
                    changes[p] = new
            if not changes:
                continue
            try:
                await self.store.set_partition_states(name, changes)
            except KeyError:
                continue  # deleted meanwhile
            wrote = True
            for p, new in sorted(changes.items()):
                log.info("broker %d (controller): %s-%d leader %d -> %d, isr %s, leader epoch %d (live brokers %s)",
                         self.broker_id, name, p, topic.partitions[p].leader, new.leader, list(new.isr),
                         new.leader_epoch, sorted(live))
        return wrote

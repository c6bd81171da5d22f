"""Controller election in the ZooKeeper store against a real ZooKeeper: Kafka's /controller
and /controller_epoch znodes, one winner among racing brokers, a new epoch for each new
controller, and a change notification when the controller goes; plus the controller
role's pass over partitions with a store stand-in."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from cluster.conftest import ZkChroot
from cluster.test_zookeeper_store import eventually, run, store
from snakafka.cluster.controller_role import ControllerRole
from snakafka.cluster.metadata_cache import MetadataCache
from snakafka.cluster.model import (
    NO_LEADER,
    BrokerInfo,
    ControllerEpoch,
    Endpoint,
    PartitionState,
    StateChange,
    TopicInfo,
)
from snakafka.cluster.store.local import LocalMetadataStore
from snakafka.cluster.store.zk_data import (
    controller_epoch_bytes,
    controller_json,
    parse_controller,
)
from snakafka.cluster.store.zookeeper import ZooKeeperMetadataStore


def test_controller_znode_encoding_is_kafkas() -> None:
    assert json.loads(controller_json(3, 1700000000000)) == {"version": 1, "brokerid": 3, "timestamp": "1700000000000"}
    assert parse_controller(controller_json(3, 1)) == 3
    assert parse_controller(b"") == parse_controller(b"not json") == -1
    assert controller_epoch_bytes(7) == b"7"


def test_one_controller_and_a_new_epoch_after_it_goes(zk: ZkChroot) -> None:
    async def scenario() -> None:
        stores = [store(zk) for _ in range(3)]
        try:
            await elections(stores)
        finally:  # kazoo's threads would keep a failed test's process alive
            for s in stores:
                await s.close()

    async def elections(stores: list[ZooKeeperMetadataStore]) -> None:
        for s in stores:
            await s.start()
        assert await stores[0].controller_id() == -1
        changed = [asyncio.Event() for _ in stores]
        for s, event in zip(stores, changed, strict=True):
            s.on_change(event.set)
        won = await asyncio.gather(*(s.try_become_controller(i) for i, s in enumerate(stores)))
        winners = [i for i, lease in enumerate(won) if lease is not None]
        epoch_version = zk.get("/controller_epoch")[1].version
        assert len(winners) == 1 and won[winners[0]] == ControllerEpoch(1, epoch_version)
        winner = winners[0]
        rest = [i for i in range(3) if i != winner]
        data, stat = zk.get("/controller")
        assert stat.ephemeralOwner != 0
        assert json.loads(data)["brokerid"] == winner and json.loads(data)["version"] == 1
        assert zk.get("/controller_epoch")[0] == b"1"
        assert all([await s.controller_id() == winner for s in stores])
        assert stores[winner].controller_epoch == 1  # written into partition states from now on
        # a retry on the same session
        assert await stores[winner].try_become_controller(winner) == ControllerEpoch(1, epoch_version)
        await eventually(lambda: _true(changed[rest[0]].is_set()))
        changed[rest[0]].clear()

        await stores[winner].close()  # the session ends: /controller goes with it
        await eventually(lambda: _true(changed[rest[0]].is_set()))
        assert await stores[rest[0]].controller_id() == -1
        assert await stores[rest[0]].try_become_controller(rest[0]) == ControllerEpoch(2, epoch_version + 1)
        assert await stores[rest[1]].try_become_controller(rest[1]) is None
        assert zk.get("/controller_epoch")[0] == b"2"

    run(scenario())


async def _true(value: bool) -> bool:
    return value


class _Store(LocalMetadataStore):
    """The local store with the cluster's answers: `controller` holds the role; the live
    brokers and topics are set by the test."""

    def __init__(self, topics: dict[str, TopicInfo], live: list[int]) -> None:
        super().__init__(Path("never-written"))
        self._topics = topics
        self._brokers = {b: BrokerInfo(b, (Endpoint("PLAINTEXT", "h", 9092 + b),)) for b in live}
        self.controller = -1
        self.writes: list[tuple[str, dict[int, PartitionState]]] = []  # the new states written

    def _write(self) -> None:
        pass

    async def controller_id(self) -> int:
        return self.controller

    async def try_become_controller(self, broker_id: int) -> ControllerEpoch | None:
        if self.controller != -1:
            return None
        self.controller = broker_id
        return ControllerEpoch(5, 0)

    async def update_partition_states(self, topic: str, changes: dict[int, StateChange],
                                      controller: ControllerEpoch) -> None:
        self.writes.append((topic, {p: new for p, (_, new) in changes.items()}))
        await super().update_partition_states(topic, changes, controller)


def test_controller_role_elects_then_moves_leadership_of_dead_brokers() -> None:
    async def scenario() -> Any:
        topic = TopicInfo("t", uuid.uuid4(), {
            0: PartitionState((0,), 0, 3, (0,)),
            1: PartitionState((1,), 1, 0, (1,)),
            2: PartitionState((2,), NO_LEADER, 4, (2,)),
        })
        fake = _Store({"t": topic}, live=[0, 2])
        cache = MetadataCache(fake)
        await cache.refresh()
        role = ControllerRole(0, fake, cache, lambda: False)
        other = ControllerRole(2, fake, cache, lambda: False)
        assert await role.on_metadata() is True and role.is_active and cache.controller_id == 0
        assert fake.writes == [], "a new controller acts only on a view read after it won"
        await cache.refresh()
        assert await role.on_metadata() is True
        # Broker 1 is dead: its partition goes offline, keeping it as the last ISR member;
        # broker 2 is back: it leads its partition again, under a new leader epoch.
        assert fake.writes == [("t", {1: PartitionState((1,), NO_LEADER, 1, (1,), 1),
                                      2: PartitionState((2,), 2, 5, (2,), 1)})]
        await cache.refresh()
        assert await role.on_metadata() is False  # settled: nothing more to write
        assert await other.on_metadata() is False and not other.is_active
        fake.controller = 2  # another broker took over
        await cache.refresh()
        assert await role.on_metadata() is False and not role.is_active
        return None

    run(scenario())

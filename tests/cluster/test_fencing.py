"""Fencing of partition-state writes, each race scripted against a real ZooKeeper.

Each test plays one interleaving that Kafka's ZooKeeper mode guards against, step by
step and without sleeps, with the real store, controller role and replica manager:

- a controller acting on a cache older than the store must not undo a leader's ISR
  shrink (it would put back, and then elect, a replica that lacks acknowledged records);
- a leader's ISR change is checked against the state it was decided on, not whatever
  state the partition holds when the write runs;
- a controller whose session expired (a zombie) cannot write once another controller
  was elected, and it resigns;
- a broker that is not the controller cannot overwrite existing partition states while
  adding partitions;
- brokers ignore partition states older than the one they hold;
- a broker restarted while its crashed predecessor's registration still exists waits
  for that registration to expire instead of exiting; a live holder still stops it.

Each of them failed on the code before fencing (see the commit that added this file).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kazoo.client import KazooClient, KazooState  # type: ignore[import-untyped]

from cluster.conftest import ZkChroot
from snakafka.clock import ManualClock
from snakafka.cluster.controller import Controller
from snakafka.cluster.controller_role import ControllerRole
from snakafka.cluster.metadata_cache import MetadataCache
from snakafka.cluster.model import BrokerInfo, Endpoint, PartitionState, TopicInfo
from snakafka.cluster.store.base import ControllerMovedError
from snakafka.cluster.store.zk_brokers import BrokerIdInUseError
from snakafka.cluster.store.zk_data import state_json, state_path
from snakafka.cluster.store.zookeeper import ZooKeeperMetadataStore
from snakafka.log.log_config import LogConfig
from snakafka.log.log_manager import LogManager
from snakafka.protocol.errors import KafkaError
from snakafka.replication.replica_manager import FetchRequestPartition, ReplicaManager

pytestmark = pytest.mark.timeout(90)

T = TypeVar("T")
TOPIC = "t"


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


class Brokers:
    """One store per broker id (each its own ZooKeeper session, registered), plus a
    metadata cache per broker for the parts a test drives."""

    def __init__(self, zk: ZkChroot, session_timeout_ms: int = 10000) -> None:
        self.zk = zk
        self.session_timeout_ms = session_timeout_ms
        self.stores: dict[int, ZooKeeperMetadataStore] = {}

    async def start(self, *ids: int) -> None:
        for broker_id in ids:
            s = ZooKeeperMetadataStore(self.zk.connect, session_timeout_ms=self.session_timeout_ms)
            await s.start()
            await s.register_broker(BrokerInfo(broker_id, (Endpoint("PLAINTEXT", "127.0.0.1", 9000 + broker_id),)))
            self.stores[broker_id] = s

    async def kill(self, broker_id: int) -> None:
        """The broker's session ends (its registration is gone)."""
        await self.stores.pop(broker_id).close()

    async def close(self) -> None:
        for s in self.stores.values():
            await s.close()

    def state(self, partition: int = 0) -> tuple[int, list[int], int]:
        """(leader, isr, znode version) as stored."""
        data, stat = self.zk.get(state_path(TOPIC, partition))
        decoded = json.loads(data)
        return decoded["leader"], decoded["isr"], stat.version

    def role(self, broker_id: int) -> tuple[ControllerRole, MetadataCache]:
        cache = MetadataCache(self.stores[broker_id])
        return ControllerRole(broker_id, self.stores[broker_id], cache, lambda: False), cache


async def create_topic(store: ZooKeeperMetadataStore, *states: PartitionState) -> None:
    await store.create_topic(TopicInfo(TOPIC, uuid.uuid4(), dict(enumerate(states))))


def expire_session(zk: ZkChroot, client: KazooClient) -> None:
    """Expire a session the classic way: a second client attaches to it and closes it."""
    thief = KazooClient(hosts=zk.server.connect, client_id=client.client_id, timeout=10.0)
    thief.start(10.0)
    thief.stop()
    thief.close()


# -- the controller's writes ----------------------------------------------------------------


def test_a_controller_with_a_stale_cache_cannot_undo_a_leaders_isr_shrink(zk: ZkChroot) -> None:
    """Leader 1 drops follower 2 from the ISR; the controller, still holding the older ISR
    (1, 2, 0), sees leader 1 die. Written unchecked, its election would make 2 leader,
    a replica without the records acknowledged since it was dropped."""

    async def main() -> None:
        brokers = Brokers(zk)
        await brokers.start(0, 1, 2)
        try:
            await create_topic(brokers.stores[0], PartitionState((1, 2, 0), 1, 0, (1, 2, 0)))
            role, cache = brokers.role(0)
            await cache.refresh()
            await role.on_metadata()
            assert role.is_active
            await cache.refresh()
            assert not await role.on_metadata()  # nothing to change

            stale = cache.topics[TOPIC].partitions[0]
            assert stale.isr == (1, 2, 0) and stale.partition_epoch == 0
            shrunk = PartitionState((1, 2, 0), 1, 0, (1, 0), 1)
            assert await brokers.stores[1].alter_isr(TOPIC, 0, stale, shrunk)  # the leader's shrink
            await brokers.kill(1)
            # The controller learns of the death before it rereads the partition states.
            cache.brokers = {b: info for b, info in cache.brokers.items() if b != 1}

            await role.on_metadata()
            leader, isr, _ = brokers.state()
            assert leader != 2 and 2 not in isr, f"the stale controller elected {leader}, isr {isr}"

            await cache.refresh()  # the next pass decides on what is stored
            await role.on_metadata()
            leader, isr, _ = brokers.state()
            assert (leader, isr) == (0, [0])
        finally:
            await brokers.close()

    run(main())


def test_a_zombie_controller_cannot_write_and_resigns(zk: ZkChroot) -> None:
    """Controller 0's session expires; broker 1 becomes controller; 0, back on a new
    session with its old cache and its old epoch, tries to move leadership."""

    async def main() -> None:
        brokers = Brokers(zk)
        await brokers.start(0, 1, 2)
        try:
            await create_topic(brokers.stores[0], PartitionState((2, 0, 1), 2, 0, (2, 0, 1)))
            zombie, zombie_cache = brokers.role(0)
            await zombie_cache.refresh()
            await zombie.on_metadata()
            assert zombie.is_active

            old_session = brokers.stores[0].client.client_id[0]
            await asyncio.to_thread(expire_session, zk, brokers.stores[0].client)

            async def on_new_session() -> bool:
                stat = zk.raw.exists(zk.path("/brokers/ids/0"))
                return stat is not None and stat.ephemeralOwner not in (0, old_session)

            await eventually(on_new_session)
            successor, successor_cache = brokers.role(1)
            await successor_cache.refresh()
            await successor.on_metadata()
            assert successor.is_active and successor_cache.controller_id == 1

            before = brokers.state()
            # The zombie's view: still controller, and broker 2 (the leader) is gone.
            zombie_cache.controller_id = 0
            zombie_cache.brokers = {b: i for b, i in zombie_cache.brokers.items() if b != 2}
            await zombie.on_metadata()
            assert brokers.state() == before, "a deposed controller's write went through"
            assert not zombie.is_active, "the deposed controller did not resign"
        finally:
            await brokers.close()

    run(main())


def test_a_deposed_controllers_epoch_fails_its_writes_at_the_store(zk: ZkChroot) -> None:
    """The store itself refuses a write under an older controller epoch (the multi-op
    checks /controller_epoch), whatever the role believes."""

    async def main() -> None:
        brokers = Brokers(zk)
        await brokers.start(0, 1)
        try:
            await create_topic(brokers.stores[0], PartitionState((0, 1), 0, 0, (0, 1)))
            old = await brokers.stores[0].try_become_controller(0)
            assert old is not None
            await brokers.kill(0)  # /controller goes with the session
            await brokers.start(0)
            new = await brokers.stores[1].try_become_controller(1)
            assert new is not None and new.epoch == old.epoch + 1
            current = PartitionState((0, 1), 0, 0, (0, 1), 0)
            move = PartitionState((0, 1), 1, 1, (1,), 1)
            with pytest.raises(ControllerMovedError):
                await brokers.stores[0].update_partition_states(TOPIC, {0: (current, move)}, old)
            assert brokers.state()[:2] == (0, [0, 1])
            await brokers.stores[1].update_partition_states(TOPIC, {0: (current, move)}, new)
            assert brokers.state()[:2] == (1, [1])
        finally:
            await brokers.close()

    run(main())


def test_adding_partitions_from_any_broker_never_overwrites_existing_states(zk: ZkChroot) -> None:
    """Broker 1 adds partition 1, whose leader then shrinks its ISR; broker 0, with a cache
    from before, adds a partition too: it must not rewrite partition 1's state."""

    async def main() -> None:
        brokers = Brokers(zk)
        await brokers.start(0, 1)
        try:
            await create_topic(brokers.stores[0], PartitionState((0, 1), 0, 0, (0, 1)))
            controllers = {}
            for b in (0, 1):
                cache = MetadataCache(brokers.stores[b])
                await cache.refresh()
                controllers[b] = Controller(brokers.stores[b], cache, default_partitions=1,
                                            default_replication_factor=2, validate_configs=lambda c: None,
                                            on_change=cache.refresh)
            await controllers[1].create_partitions(TOPIC, 2, [[1, 0]])
            assert len(controllers[0].cache.topics[TOPIC].partitions) == 1  # broker 0 has not seen it
            _, stat = zk.get(state_path(TOPIC, 1))
            created = PartitionState((1, 0), 1, 0, (1, 0), stat.version)
            assert await brokers.stores[1].alter_isr(TOPIC, 1, created, PartitionState((1, 0), 1, 0, (1,), stat.version + 1))

            with pytest.raises(KafkaError, match="already has 2 partitions"):
                await controllers[0].create_partitions(TOPIC, 2, [[0, 1]])  # its cache says 1 partition
            leader, isr, _ = brokers.state(1)
            assert (leader, isr) == (1, [1]), f"partition 1 was overwritten: leader {leader}, isr {isr}"
        finally:
            await brokers.close()

    run(main())


# -- the leader's ISR changes ---------------------------------------------------------------


class Leader:
    """Broker 0's replica manager over a real log dir, leading partition t-0 in ZooKeeper."""

    def __init__(self, tmp_path: Path, brokers: Brokers) -> None:
        self.tmp_path = tmp_path
        self.brokers = brokers
        self.now = 0

    async def start(self) -> ReplicaManager:
        store = self.brokers.stores[0]
        self.cache = MetadataCache(store)
        await self.cache.refresh()
        self.rm = ReplicaManager(0, LogManager([self.tmp_path / "data"], ManualClock(), LogConfig()), self.cache,
                                 lambda _topic: LogConfig(), store=store, lag_time_max_ms=10_000,
                                 time_ms=lambda: self.now)
        self.rm.apply_metadata()
        return self.rm

    async def follower_fetch(self, replica: int, offset: int) -> None:
        request = FetchRequestPartition(TOPIC, 0, offset, 1 << 20, current_leader_epoch=0)
        # The fetch path records the follower's position once, on arrival (not the read).
        await self.rm.fetch([request], max_wait_ms=0, min_bytes=1, max_bytes=1 << 20, committed_only=False,
                            replica_id=replica)

    async def close(self) -> None:
        await self.rm.close()
        self.rm.log_manager.shutdown()


def test_a_leaders_isr_change_is_checked_against_the_state_it_was_decided_on(zk: ZkChroot, tmp_path: Path) -> None:
    """Leader 0 decides to add caught-up follower 2 to ISR (0, 1) at version 0. Before its
    write runs, the controller drops dead broker 1 (version 1) and the leader applies it.
    The write decided on version 0 must fail: passing it at version 1 would put dead
    broker 1 back into the ISR."""

    async def main() -> None:
        brokers = Brokers(zk)
        await brokers.start(0, 1, 2)
        leader = Leader(tmp_path, brokers)
        try:
            await create_topic(brokers.stores[0], PartitionState((0, 1, 2), 0, 0, (0, 1)))
            rm = await leader.start()
            part = rm.partitions[(TOPIC, 0)]
            await leader.follower_fetch(2, 0)  # caught up: the expansion to (0, 1, 2) is decided now
            # ... and before the write task runs, the controller's change arrives:
            dropped = PartitionState((0, 1, 2), 0, 0, (0,), 0)
            zk.raw.set(zk.path(state_path(TOPIC, 0)), state_json(dropped, 1), version=0)
            part.update_state(PartitionState((0, 1, 2), 0, 0, (0,), 1))
            for _ in range(100):  # let the write run to its end
                await asyncio.sleep(0.02)
                if part.pending_isr is None:
                    break
            _, isr, _ = brokers.state()
            assert 1 not in isr, f"an ISR change decided on an older state passed: isr {isr}"
        finally:
            await leader.close()
            await brokers.close()

    run(main())


def test_a_new_leader_epoch_does_not_clear_an_isr_change_in_flight(zk: ZkChroot, tmp_path: Path) -> None:
    """While one ISR write is in flight no other may start, even across become_leader: the
    write in flight clears its own pending mark when it ends, and only its own."""

    async def main() -> None:
        brokers = Brokers(zk)
        await brokers.start(0, 1, 2)
        leader = Leader(tmp_path, brokers)
        try:
            await create_topic(brokers.stores[0], PartitionState((0, 1, 2), 0, 0, (0, 1)))
            rm = await leader.start()
            part = rm.partitions[(TOPIC, 0)]
            await leader.follower_fetch(2, 0)
            assert part.pending_isr is not None
            first = part.pending_isr
            part.update_state(PartitionState((0, 1, 2), 0, 1, (0, 1), 1))  # re-elected: a new leader epoch
            assert part.pending_isr is first, "become_leader forgot the ISR write in flight"
            leader.now += 20_000  # follower 1 is now far behind: a shrink would be due
            assert part.isr_to_shrink(leader.now, 10_000) is None, "a second ISR change started beside the first"
        finally:
            await leader.close()
            await brokers.close()

    run(main())


def test_brokers_ignore_partition_states_older_than_theirs(zk: ZkChroot, tmp_path: Path) -> None:
    """A refresh that read the store before the leader's own ISR write landed must not
    take the partition back to the older ISR."""

    async def main() -> None:
        brokers = Brokers(zk)
        await brokers.start(0, 1, 2)
        leader = Leader(tmp_path, brokers)
        try:
            await create_topic(brokers.stores[0], PartitionState((0, 1, 2), 0, 0, (0, 1)))
            rm = await leader.start()
            part = rm.partitions[(TOPIC, 0)]
            stale_cache = dict(leader.cache.topics)
            await leader.follower_fetch(2, 0)
            for _ in range(100):
                await asyncio.sleep(0.02)
                if part.state.isr == (0, 1, 2):
                    break
            assert part.state.isr == (0, 1, 2) and part.state.partition_epoch == 1
            leader.cache.topics = stale_cache  # a refresh that read before the write
            rm.apply_metadata()
            assert part.state.isr == (0, 1, 2), "an older partition state replaced a newer one"
        finally:
            await leader.close()
            await brokers.close()

    run(main())


# -- registration after a crash --------------------------------------------------------------

_HOLDER = """
import sys, time
from kazoo.client import KazooClient
client = KazooClient(hosts=sys.argv[1], timeout=float(sys.argv[3]))
client.start(10)
client.create(sys.argv[2], b'{"version":5,"host":"127.0.0.1","port":1,"endpoints":["PLAINTEXT://127.0.0.1:1"],'
              b'"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},"jmx_port":-1,"features":{},'
              b'"timestamp":"0"}', ephemeral=True, makepath=True)
print("registered", flush=True)
time.sleep(120)
"""


def _crashed_registration(zk: ZkChroot, broker_id: int, session_timeout_s: float) -> subprocess.Popen[str]:
    """A process that registers `broker_id` and then waits to be killed (-9: its session
    lives on in ZooKeeper until it times out, as a crashed broker's does)."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, zk.connect, f"/brokers/ids/{broker_id}",
                               str(session_timeout_s)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "registered"
    return holder


def test_a_restarted_broker_waits_for_its_crashed_predecessors_registration(zk: ZkChroot) -> None:
    async def main() -> None:
        setup = ZooKeeperMetadataStore(zk.connect, session_timeout_ms=4000)
        await setup.start()  # creates the chroot and Kafka's paths
        await setup.close()
        holder = _crashed_registration(zk, 5, 4.0)
        try:
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait(10)
            assert zk.exists("/brokers/ids/5"), "the crashed session's registration outlives the process"
            restarted = ZooKeeperMetadataStore(zk.connect, session_timeout_ms=4000)
            await restarted.start()
            try:
                started = time.monotonic()
                await restarted.register_broker(BrokerInfo(5, (Endpoint("PLAINTEXT", "127.0.0.1", 9005),)))
                waited = time.monotonic() - started
                _, stat = zk.get("/brokers/ids/5")
                assert stat.ephemeralOwner == restarted.client.client_id[0]
                assert waited < 4.0 + 3.0, f"waited {waited:.1f}s, longer than the session timeout allows"
            finally:
                await restarted.close()
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait(10)

    run(main())


def test_a_live_broker_with_the_same_id_still_stops_the_newcomer(zk: ZkChroot) -> None:
    async def main() -> None:
        setup = ZooKeeperMetadataStore(zk.connect, session_timeout_ms=4000)
        await setup.start()
        await setup.close()
        holder = _crashed_registration(zk, 6, 4.0)  # alive: its session is kept up
        try:
            newcomer = ZooKeeperMetadataStore(zk.connect, session_timeout_ms=4000)
            await newcomer.start()
            try:
                with pytest.raises(BrokerIdInUseError, match="node already exists"):
                    await newcomer.register_broker(BrokerInfo(6, (Endpoint("PLAINTEXT", "127.0.0.1", 9006),)))
            finally:
                await newcomer.close()
        finally:
            holder.kill()
            holder.wait(10)

    run(main())


def test_a_lost_session_is_reported_at_once_so_the_controller_resigns(zk: ZkChroot) -> None:
    """The broker resigns the controller role from the store's session-lost callback
    (Broker._session_lost), before the new session is even set up."""

    async def main() -> None:
        brokers = Brokers(zk)
        await brokers.start(0)
        try:
            role, cache = brokers.role(0)
            await cache.refresh()
            await role.on_metadata()
            assert role.is_active
            lost = asyncio.Event()

            def session_lost() -> None:
                role.resign("the zookeeper session was lost")
                lost.set()

            brokers.stores[0].on_session_lost(session_lost)
            await asyncio.to_thread(expire_session, zk, brokers.stores[0].client)
            await asyncio.wait_for(lost.wait(), 20)
            assert not role.is_active
        finally:
            await brokers.close()

    run(main())


def test_silence_longer_than_the_session_timeout_counts_as_a_lost_session(zk: ZkChroot) -> None:
    """kazoo reports an expired session only once it reaches a server again; the store
    tells its listeners when the connection has been silent for the session timeout (the
    servers have expired the session by then), and not before, nor after a reconnect."""

    async def main() -> None:
        store = ZooKeeperMetadataStore(zk.connect, session_timeout_ms=4000)
        await store.start()
        try:
            lost = asyncio.Event()
            store.on_session_lost(lost.set)
            listener = store._session_state_changed  # kazoo's connection-state listener
            listener(KazooState.SUSPENDED)
            listener(KazooState.CONNECTED)  # back within the timeout: nothing is lost
            await asyncio.sleep(5)
            assert not lost.is_set()
            started = time.monotonic()
            listener(KazooState.SUSPENDED)
            await asyncio.wait_for(lost.wait(), 10)
            assert 3.5 <= time.monotonic() - started < 8
        finally:
            await store.close()

    run(main())

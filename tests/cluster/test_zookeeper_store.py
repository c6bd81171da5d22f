"""The ZooKeeper metadata store against a real ZooKeeper server: Kafka's znode layout and
JSON byte for byte, ephemeral broker registration, atomic topic creation, producer id
blocks under contention and change notification through watches."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest
from kazoo.client import KazooClient  # type: ignore[import-untyped]

from cluster.conftest import ZkChroot
from snakafka.cluster.model import (
    BrokerInfo,
    Endpoint,
    PartitionState,
    TopicInfo,
    kafka_uuid,
    parse_kafka_uuid,
)
from snakafka.cluster.store.base import (
    MetadataStore,
    StateConflictError,
    TopicExistsError,
)
from snakafka.cluster.store.zk_brokers import BrokerIdInUseError
from snakafka.cluster.store.zk_data import split_chroot
from snakafka.cluster.store.zookeeper import ZooKeeperMetadataStore

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")
WAIT = 10.0


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run one test's coroutine on a fresh loop, bounded."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def store(zk: ZkChroot, **kwargs: Any) -> ZooKeeperMetadataStore:
    return ZooKeeperMetadataStore(zk.connect, session_timeout_ms=10000, **kwargs)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


def read_json(zk: ZkChroot, path: str) -> Any:
    data, _ = zk.get(path)
    return json.loads(data)


# -- helpers without a server -------------------------------------------------------------


def test_kafka_uuid_is_urlsafe_base64_of_the_16_bytes() -> None:
    value = uuid.UUID("fb8e0e52-ffbc-4bb0-b5c2-3b23f3aef3a2")
    text = kafka_uuid(value)
    assert len(text) == 22 and "=" not in text
    assert base64.urlsafe_b64decode(text + "==") == value.bytes
    assert parse_kafka_uuid(text) == value


def test_split_chroot_like_kafka() -> None:
    assert split_chroot("a:1,b:2/kafka/prod") == ("a:1,b:2", "/kafka/prod")
    assert split_chroot("a:1") == ("a:1", "")
    assert split_chroot("a:1/") == ("a:1", "")


def test_satisfies_the_metadata_store_interface() -> None:
    def accepts(s: MetadataStore) -> MetadataStore:  # mypy checks the call below
        return s

    zk_store = accepts(ZooKeeperMetadataStore("127.0.0.1:1/x"))
    for name, member in inspect.getmembers(MetadataStore):
        if name.startswith("_"):
            continue
        implemented = getattr(zk_store, name)
        assert inspect.iscoroutinefunction(implemented) == inspect.iscoroutinefunction(member), name
    assert hasattr(zk_store, "cluster_id")


# -- 1. cluster id ----------------------------------------------------------------------------


def test_start_creates_chroot_and_cluster_id_and_a_second_store_reads_it(zk: ZkChroot) -> None:
    async def main() -> None:
        assert not zk.exists("")
        first = store(zk)
        await first.start()
        second = store(zk)
        try:
            data = read_json(zk, "/cluster/id")
            assert data == {"version": "1", "id": first.cluster_id}
            assert len(first.cluster_id) == 22
            parse_kafka_uuid(first.cluster_id)
            for path in ("/brokers/ids", "/brokers/topics", "/config/topics", "/config/changes",
                         "/admin/delete_topics", "/latest_producer_id_block"):
                assert zk.exists(path), path
            await second.start()
            assert second.cluster_id == first.cluster_id
        finally:
            await first.close()
            await second.close()

    run(main())


# -- 2. brokers -------------------------------------------------------------------------------


def test_broker_registration_is_ephemeral_in_kafkas_format(zk: ZkChroot) -> None:
    async def main() -> None:
        protocols = {"CLIENT": "SASL_PLAINTEXT", "REPLICATION": "PLAINTEXT"}
        registering = store(zk, listener_security_protocols=protocols)
        other = store(zk)
        await registering.start()
        await other.start()
        try:
            broker = BrokerInfo(1, (Endpoint("CLIENT", "host1", 9092), Endpoint("REPLICATION", "::1", 9093)))
            await registering.register_broker(broker)

            data, stat = zk.get("/brokers/ids/1")
            assert stat.ephemeralOwner == registering.client.client_id[0] != 0
            node = json.loads(data)
            timestamp = node.pop("timestamp")
            assert isinstance(timestamp, str) and abs(int(timestamp) - time.time() * 1000) < 60_000
            assert node == {
                "features": {},
                "listener_security_protocol_map": {"CLIENT": "SASL_PLAINTEXT", "REPLICATION": "PLAINTEXT"},
                "endpoints": ["CLIENT://host1:9092", "REPLICATION://[::1]:9093"],
                "jmx_port": -1,
                "port": 9093,  # the first PLAINTEXT endpoint, for old clients
                "host": "::1",
                "version": 5,
            }  # and no "rack": Kafka writes it only when set

            racked = BrokerInfo(2, (Endpoint("SSL", "host2", 9094),), rack="rack-a")
            await other.register_broker(racked)
            node2 = read_json(zk, "/brokers/ids/2")
            assert node2["rack"] == "rack-a"
            assert node2["host"] is None and node2["port"] == -1  # no PLAINTEXT endpoint
            assert node2["listener_security_protocol_map"] == {"SSL": "SSL"}

            assert await other.brokers() == [broker, racked]

            duplicate = store(zk)
            await duplicate.start()
            try:
                with pytest.raises(BrokerIdInUseError):
                    await duplicate.register_broker(BrokerInfo(1, (Endpoint("PLAINTEXT", "elsewhere", 1),)))
                assert json.loads(zk.get("/brokers/ids/1")[0])["endpoints"][0] == "CLIENT://host1:9092"

                await registering.close()
                assert not zk.exists("/brokers/ids/1")  # the session ended: the ephemeral is gone
                assert await other.brokers() == [racked]
                # the id is free again once its holder is gone
                await duplicate.register_broker(BrokerInfo(1, (Endpoint("PLAINTEXT", "elsewhere", 1),)))
                assert [b.broker_id for b in await other.brokers()] == [1, 2]
            finally:
                await duplicate.close()
        finally:
            await registering.close()
            await other.close()

    run(main())


def test_broker_is_registered_again_after_its_session_expires(zk: ZkChroot) -> None:
    async def main() -> None:
        s = store(zk)
        await s.start()
        try:
            await s.register_broker(BrokerInfo(3, (Endpoint("PLAINTEXT", "h", 9092),)))
            old_session = s.client.client_id[0]
            # Expire the session the classic way: a second client attaches to it and closes it.
            thief = KazooClient(hosts=zk.server.connect, client_id=s.client.client_id, timeout=10.0)
            await asyncio.to_thread(thief.start, 10.0)
            await asyncio.to_thread(thief.stop)
            thief.close()

            async def registered_on_new_session() -> bool:
                stat = zk.raw.exists(zk.path("/brokers/ids/3"))
                return stat is not None and stat.ephemeralOwner not in (0, old_session)

            await eventually(registered_on_new_session, timeout=20.0)
            assert [b.broker_id for b in await s.brokers()] == [3]
        finally:
            await s.close()

    run(main(), timeout=45.0)


# -- 3. topics --------------------------------------------------------------------------------


def test_topics_in_kafkas_layout(zk: ZkChroot) -> None:
    async def main() -> None:
        writer = store(zk, controller_epoch=7)
        reader = store(zk)
        await writer.start()
        await reader.start()
        try:
            topic_id = uuid.uuid4()
            topic = TopicInfo(
                "orders",
                topic_id,
                {
                    0: PartitionState(replicas=(1, 2), leader=1, leader_epoch=3, isr=(1, 2)),
                    1: PartitionState(replicas=(2, 1), leader=2, leader_epoch=0, isr=(2,)),
                },
                {"cleanup.policy": "compact", "retention.ms": "1000"},
            )
            await writer.create_topic(topic)

            assert read_json(zk, "/brokers/topics/orders") == {
                "version": 3,
                "partitions": {"0": [1, 2], "1": [2, 1]},
                "topic_id": kafka_uuid(topic_id),
                "adding_replicas": {},
                "removing_replicas": {},
            }
            assert sorted(zk.raw.get_children(zk.path("/brokers/topics/orders/partitions"))) == ["0", "1"]
            assert read_json(zk, "/brokers/topics/orders/partitions/0/state") == {
                "controller_epoch": 7, "leader": 1, "version": 1, "leader_epoch": 3, "isr": [1, 2]}
            assert read_json(zk, "/brokers/topics/orders/partitions/1/state") == {
                "controller_epoch": 7, "leader": 2, "version": 1, "leader_epoch": 0, "isr": [2]}
            assert read_json(zk, "/config/topics/orders") == {
                "version": 1, "config": {"cleanup.policy": "compact", "retention.ms": "1000"}}

            assert await reader.topics() == {"orders": topic}

            with pytest.raises(TopicExistsError):
                await reader.create_topic(TopicInfo("orders", uuid.uuid4(), {0: PartitionState((1,), 1)}))
            assert read_json(zk, "/brokers/topics/orders")["topic_id"] == kafka_uuid(topic_id)

            # a new partition 2 (created only), then a leader change of partition 0 by a controller
            await reader.add_partitions("orders", 2, {
                2: PartitionState(replicas=(1, 2), leader=1, leader_epoch=0, isr=(1, 2))})
            with pytest.raises(StateConflictError):  # the topic no longer has 2 partitions
                await reader.add_partitions("orders", 2, {2: PartitionState(replicas=(2, 1), leader=2)})
            lease = await reader.try_become_controller(1)
            assert lease is not None
            await reader.update_partition_states("orders", {0: (
                topic.partitions[0], PartitionState(replicas=(1, 2), leader=2, leader_epoch=4, isr=(2,)))}, lease)
            assert read_json(zk, "/brokers/topics/orders")["partitions"] == {"0": [1, 2], "1": [2, 1], "2": [1, 2]}
            assert read_json(zk, "/brokers/topics/orders/partitions/0/state") == {
                "controller_epoch": lease.epoch, "leader": 2, "version": 1, "leader_epoch": 4, "isr": [2]}
            parts = (await writer.topics())["orders"].partitions
            # partition_epoch is the state znode's version, as Kafka's zkVersion
            assert parts[0] == PartitionState(replicas=(1, 2), leader=2, leader_epoch=4, isr=(2,), partition_epoch=1)
            assert parts[1] == topic.partitions[1]
            assert parts[2] == PartitionState(replicas=(1, 2), leader=1, leader_epoch=0, isr=(1, 2), partition_epoch=0)
            with pytest.raises(KeyError):
                await reader.update_partition_states("missing", {0: (PartitionState((1,), 1), PartitionState((1,), 1))},
                                                     lease)

            await reader.set_topic_configs("orders", {"retention.ms": "5000"})
            assert read_json(zk, "/config/topics/orders") == {"version": 1, "config": {"retention.ms": "5000"}}
            changes = zk.raw.get_children(zk.path("/config/changes"))
            assert changes == ["config_change_0000000000"]
            assert read_json(zk, f"/config/changes/{changes[0]}") == {"version": 2, "entity_path": "topics/orders"}
            assert (await writer.topics())["orders"].configs == {"retention.ms": "5000"}
            with pytest.raises(KeyError):
                await reader.set_topic_configs("missing", {})

            other = TopicInfo("other", uuid.uuid4(), {0: PartitionState((1,), 1, isr=(1,))})
            await writer.create_topic(other)
            await writer.delete_topic("orders")
            assert not zk.exists("/brokers/topics/orders")
            assert not zk.exists("/config/topics/orders")
            assert await reader.topics() == {"other": other}
            await writer.delete_topic("orders")  # deleting a missing topic is a no-op
            # the name is free again, with a new id
            again = TopicInfo("orders", uuid.uuid4(), {0: PartitionState((2,), 2, isr=(2,))})
            await reader.create_topic(again)
            assert (await writer.topics())["orders"] == again
        finally:
            await writer.close()
            await reader.close()

    run(main())


# -- 4. producer ids ----------------------------------------------------------------------------


def test_concurrent_producer_id_allocation_is_disjoint(zk: ZkChroot) -> None:
    async def main() -> None:
        a, b = store(zk), store(zk)
        await a.start()
        await b.start()
        try:
            await a.register_broker(BrokerInfo(1, (Endpoint("PLAINTEXT", "a", 1),)))
            await b.register_broker(BrokerInfo(2, (Endpoint("PLAINTEXT", "b", 2),)))
            size = 10
            firsts = await asyncio.gather(*(s.allocate_producer_ids(size) for _ in range(20) for s in (a, b)))
            ranges = sorted(firsts)
            assert len(set(ranges)) == 40
            # disjoint and, as blocks follow each other, exactly 0..399
            assert ranges == [i * size for i in range(40)]
            block = read_json(zk, "/latest_producer_id_block")
            assert block.pop("broker") in (1, 2)
            assert block == {"version": 1, "block_start": "390", "block_end": "399"}
            assert await a.allocate_producer_ids(1000) == 400
            assert read_json(zk, "/latest_producer_id_block") == {
                "version": 1, "broker": 1, "block_start": "400", "block_end": "1399"}
            with pytest.raises(ValueError):
                await a.allocate_producer_ids(0)
        finally:
            await a.close()
            await b.close()

    run(main())


# -- 5. change notification -------------------------------------------------------------------


class Changes:
    """Counts on_change calls; lets a test wait for the next one after things settle."""

    def __init__(self) -> None:
        self.count = 0
        self.event = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        self.event.set()

    async def settle(self, quiet: float = 0.3) -> None:
        """Wait (bounded) until no call came for `quiet` seconds, then forget them."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            self.event.clear()
            try:
                await asyncio.wait_for(self.event.wait(), quiet)
            except TimeoutError:
                return
        raise AssertionError("on_change kept firing")

    async def next(self) -> None:
        await asyncio.wait_for(self.event.wait(), WAIT)


def test_on_change_fires_for_other_stores_changes(zk: ZkChroot) -> None:
    async def main() -> None:
        watcher, writer = store(zk), store(zk)
        changes = Changes()
        watcher.on_change(changes)
        await watcher.start()
        await writer.start()
        try:
            await writer.create_topic(TopicInfo("existing", uuid.uuid4(), {0: PartitionState((1,), 1, isr=(1,))}))
            await changes.next()
            await changes.settle()

            topic = TopicInfo("t1", uuid.uuid4(), {0: PartitionState((1,), 1, isr=(1,))})
            await writer.create_topic(topic)
            await changes.next()
            assert "t1" in await watcher.topics()
            await changes.settle()

            # a partition state change (leader/ISR) of a topic that existed before
            lease = await writer.try_become_controller(1)
            assert lease is not None
            await changes.next()  # /controller
            await changes.settle()
            held = (await writer.topics())["existing"].partitions[0]
            await writer.update_partition_states(
                "existing", {0: (held, PartitionState((1,), 1, leader_epoch=1, isr=(1,)))}, lease)
            await changes.next()
            assert (await watcher.topics())["existing"].partitions[0].leader_epoch == 1
            await changes.settle()

            # and of the topic created after the watcher started
            held = (await writer.topics())["t1"].partitions[0]
            await writer.update_partition_states("t1", {0: (held, PartitionState((1,), 1, leader_epoch=5, isr=(1,)))},
                                                 lease)
            await changes.next()
            await changes.settle()

            await writer.set_topic_configs("t1", {"retention.ms": "1"})
            await changes.next()
            await changes.settle()

            broker = store(zk)
            await broker.start()
            try:
                await broker.register_broker(BrokerInfo(5, (Endpoint("PLAINTEXT", "h", 1),)))
                await changes.next()
                assert [b.broker_id for b in await watcher.brokers()] == [5]
                await changes.settle()
            finally:
                await broker.close()
            await changes.next()  # unregistered: its session ended
            assert await watcher.brokers() == []
            await changes.settle()

            await writer.delete_topic("t1")
            await changes.next()
            assert "t1" not in await watcher.topics()
            await changes.settle()
            assert changes.count > 0
        finally:
            await watcher.close()
            await writer.close()

    run(main())

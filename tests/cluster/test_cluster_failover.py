"""kill -9 of the controller in a 3-broker cluster (its own, in a fresh chroot): another
broker takes over as controller with a new epoch, the dead broker's partitions go offline
(replication factor 1: nobody else has their data) while the others keep serving, and
when it returns with the same id and data dir it leads them again under a new leader
epoch, with every acknowledged record and its group's committed offsets intact."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient
from integration.helpers import wait_until
from support.zookeeper import ZooKeeperServer

from cluster.conftest import new_cluster
from cluster.test_cluster_brokers import consume_all, create_topic, produce, read_znode
from snakafka.coordinator.offsets_schema import partition_for_group
from snakafka.testing.cluster import LocalCluster

pytestmark = [pytest.mark.timeout(150), pytest.mark.slow]

OFFSETS_PARTITIONS = 12  # CLUSTER_OVERRIDES' offsets.topic.num.partitions


def state(cluster: LocalCluster, topic: str, partition: int) -> dict[str, object]:
    data: dict[str, object] = json.loads(read_znode(cluster, f"/brokers/topics/{topic}/partitions/{partition}/state"))
    return data


def group_led_by(cluster: LocalCluster, broker_id: int) -> str:
    """A group id whose __consumer_offsets partition broker `broker_id` leads."""
    partitions = AdminClient({"bootstrap.servers": cluster.bootstrap}).list_topics(
        "__consumer_offsets", timeout=10).topics["__consumer_offsets"].partitions
    for _ in range(10_000):
        group = f"g-{uuid.uuid4().hex[:8]}"
        if partitions[partition_for_group(group, len(partitions))].leader == broker_id:
            return group
    raise AssertionError(f"no group led by broker {broker_id}")


def commit(bootstrap: str, group: str, offsets: dict[int, int]) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition("failover", p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()


def committed(bootstrap: str, group: str, partitions: list[int]) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        found = consumer.committed([TopicPartition("failover", p) for p in partitions], timeout=10)
        return {tp.partition: tp.offset for tp in found}
    finally:
        consumer.close()


def test_controller_killed_and_restarted(zookeeper_server: ZooKeeperServer, tmp_path: Path) -> None:
    with new_cluster(zookeeper_server, tmp_path, **{"zookeeper.session.timeout.ms": "4000"}) as cluster:
        dead = json.loads(read_znode(cluster, "/controller"))["brokerid"]
        first_epoch = int(read_znode(cluster, "/controller_epoch"))
        leaders = create_topic(cluster, "failover", 6)
        acked = produce(cluster.bootstrap, "failover", 300)
        theirs = sorted(p for p, leader in leaders.items() if leader == dead)
        assert theirs, leaders
        before = {p: state(cluster, "failover", p) for p in theirs}
        commit(cluster.bootstrap, "warm-up", {0: 0})  # creates __consumer_offsets
        group = group_led_by(cluster, dead)
        commit(cluster.bootstrap, group, {p: 7 for p in range(6)})

        cluster.processes[dead].kill()
        survivors = ",".join(p.bootstrap for i, p in enumerate(cluster.processes) if i != dead)

        def new_controller() -> bool:
            controller = json.loads(read_znode(cluster, "/controller"))["brokerid"]
            return controller != dead and int(read_znode(cluster, "/controller_epoch")) > first_epoch
        wait_until(new_controller, timeout=30, message="another broker to become controller")

        def offline() -> bool:
            metadata = AdminClient({"bootstrap.servers": survivors}).list_topics("failover", timeout=5)
            assert dead not in metadata.brokers and metadata.controller_id != dead
            partitions = metadata.topics["failover"].partitions
            errors = [partitions[p].error for p in theirs]
            return all(partitions[p].leader == -1 for p in theirs) and all(
                e is not None and e.code() == KafkaError.LEADER_NOT_AVAILABLE for e in errors)
        wait_until(offline, timeout=20, message=f"partitions {theirs} of broker {dead} to go offline")
        for p in theirs:
            down = state(cluster, "failover", p)
            assert down["leader"] == -1 and down["isr"] == [dead]  # Kafka's offline partition
            assert down["leader_epoch"] == before[p]["leader_epoch"] + 1  # type: ignore[operator]
        # The partitions of live brokers keep serving.
        alive = [p for p in range(6) if p not in theirs]
        more = produce(survivors, "failover", 60, prefix="while-down-", partitions=alive)
        assert len(more) == 60

        cluster.start_broker(dead)

        def led_again() -> bool:
            return all(state(cluster, "failover", p)["leader"] == dead for p in theirs)
        wait_until(led_again, timeout=30, message=f"broker {dead} to lead {theirs} again")
        for p in theirs:
            back = state(cluster, "failover", p)
            assert back["leader_epoch"] == before[p]["leader_epoch"] + 2  # type: ignore[operator]
            assert back["isr"] == [dead]
        for process in cluster.processes:
            def routed(bootstrap: str = process.bootstrap) -> bool:
                partitions = AdminClient({"bootstrap.servers": bootstrap}).list_topics(
                    "failover", timeout=5).topics["failover"].partitions
                return all(partitions[p].leader == dead and partitions[p].error is None for p in theirs)
            wait_until(routed, timeout=20, message=f"{process.bootstrap} to see broker {dead} lead again")

        everything = {**acked, **more}
        assert consume_all(cluster.bootstrap, "failover", 6, len(everything)) == everything
        assert wait_until(lambda: committed(cluster.bootstrap, group, list(range(6))), timeout=20) == {
            p: 7 for p in range(6)}

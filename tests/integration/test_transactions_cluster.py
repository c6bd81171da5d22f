"""Transactions across a 3-broker cluster (real ZooKeeper, broker processes, confluent-kafka):
the transaction coordinator writes markers to partitions led by other brokers with
WriteTxnMarkers (API 27), so a transaction over partitions on every broker commits or
aborts as a whole, offsets sent to it land on the group's coordinator, and a new instance
fences the old one wherever the coordinator lives."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from integration.helpers import confluent_consume, wait_until
from snakafka.testing.cluster import LocalCluster
from snakafka.testing.zookeeper import ZooKeeperServer, zookeeper_available

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


@pytest.fixture(scope="module")
def txn_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    if not zookeeper_available():
        pytest.skip("ZooKeeper (Debian's zookeeper package) or java is not installed")
    zk = ZooKeeperServer(tmp_path_factory.mktemp("zookeeper"))
    zk.start(timeout=30.0)
    try:
        directory: Path = tmp_path_factory.mktemp("txn-cluster")
        with LocalCluster(directory, brokers=3, zookeeper_connect=f"{zk.connect}/c-{uuid.uuid4().hex[:8]}",
                          overrides={"group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "6",
                                     "transaction.state.log.num.partitions": "6"}) as cluster:
            yield cluster
    finally:
        zk.stop()


def leaders(bootstrap: str, topic: str) -> dict[int, int]:
    parts = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10).topics[topic].partitions
    return {p: m.leader for p, m in parts.items()}


def create(cluster: LocalCluster, name: str) -> None:
    """Six partitions, replication factor 1: two led by each broker."""
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})  # alive until the result is in
    admin.create_topics([NewTopic(name, num_partitions=6, replication_factor=1)])[name].result(20)
    wait_until(lambda: set(leaders(cluster.bootstrap, name).values()) == {0, 1, 2} or None, timeout=20,
               message=f"{name} led by every broker")


def values(cluster: LocalCluster, topic: str, isolation: str) -> list[bytes]:
    recs = confluent_consume(cluster.bootstrap, topic, range(6), conf={"isolation.level": isolation})
    return sorted(r.value for r in recs if r.value is not None)


def test_commit_and_abort_across_brokers(txn_cluster: LocalCluster) -> None:
    topic = f"tc-{uuid.uuid4().hex[:8]}"
    create(txn_cluster, topic)
    p = Producer({"bootstrap.servers": txn_cluster.bootstrap, "transactional.id": f"tx-{topic}"})
    p.init_transactions(60)
    p.begin_transaction()
    for i in range(12):
        p.produce(topic, value=b"c%02d" % i, partition=i % 6)
    p.commit_transaction(60)
    p.begin_transaction()
    for i in range(12):
        p.produce(topic, value=b"a%02d" % i, partition=i % 6)
    p.flush(60)
    p.abort_transaction(60)
    assert values(txn_cluster, topic, "read_committed") == [b"c%02d" % i for i in range(12)]
    assert len(values(txn_cluster, topic, "read_uncommitted")) == 24


def test_offsets_and_fencing_across_brokers(txn_cluster: LocalCluster) -> None:
    source, sink = f"ts-{uuid.uuid4().hex[:8]}", f"tk-{uuid.uuid4().hex[:8]}"
    create(txn_cluster, source)
    create(txn_cluster, sink)
    group = f"g-{source}"
    tid = f"tx-{source}"
    old = Producer({"bootstrap.servers": txn_cluster.bootstrap, "transactional.id": tid})
    old.init_transactions(60)
    old.begin_transaction()
    for i in range(6):
        old.produce(sink, value=b"zombie", partition=i)
    old.send_offsets_to_transaction([TopicPartition(source, p, 100) for p in range(6)],
                                    _metadata(txn_cluster, group), 60)
    old.flush(60)
    new = Producer({"bootstrap.servers": txn_cluster.bootstrap, "transactional.id": tid})
    new.init_transactions(60)  # aborts the old instance's transaction on every broker
    new.begin_transaction()
    for i in range(6):
        new.produce(sink, value=b"fresh-%d" % i, partition=i)
    new.send_offsets_to_transaction([TopicPartition(source, p, 7) for p in range(6)],
                                    _metadata(txn_cluster, group), 60)
    new.commit_transaction(60)
    assert values(txn_cluster, sink, "read_committed") == [b"fresh-%d" % i for i in range(6)]
    c = Consumer({"bootstrap.servers": txn_cluster.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        committed = c.committed([TopicPartition(source, p) for p in range(6)], timeout=20)
    finally:
        c.close()
    assert [tp.offset for tp in committed] == [7] * 6, "the aborted offsets (100) were dropped"


def _metadata(cluster: LocalCluster, group: str) -> object:
    """The group metadata send_offsets_to_transaction needs (no group membership)."""
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group})
    try:
        return c.consumer_group_metadata()
    finally:
        c.close()

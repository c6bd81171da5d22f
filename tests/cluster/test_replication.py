"""Follower replication in a 3-broker cluster (real ZooKeeper, broker processes, real
clients): topics with replication factor 3 and min.insync.replicas=2 survive the loss of
brokers one at a time, acks=all refuses to commit without enough in-sync replicas while
acks=1 goes on, killed brokers come back, catch up (truncating what they alone had) and
rejoin the ISR, a leader killed under an idempotent acks=all producer loses no
acknowledged record, and group offsets survive the death of their coordinator when
__consumer_offsets is replicated.

Each test runs its own cluster in a fresh chroot (they kill brokers). Brokers die fast
(ZooKeeper session 4 s) and lagging followers leave the ISR fast (replica.lag.time.max.ms
5 s), so every wait is a few seconds."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from integration.helpers import wait_until
from support.zookeeper import ZooKeeperServer

from cluster.conftest import new_cluster
from cluster.test_cluster_brokers import (
    BackgroundProducer,
    consume_all,
    delivery_recorder,
    produce,
)
from cluster.test_cluster_failover import group_led_by
from snakafka.testing.cluster import LocalCluster

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

FAST = {
    "zookeeper.session.timeout.ms": "4000",
    "replica.lag.time.max.ms": "5000",
    "replica.fetch.backoff.ms": "200",
}


def metadata(bootstrap: str, topic: str) -> dict[int, tuple[int, list[int]]]:
    """partition -> (leader, isr), as the broker(s) at `bootstrap` report it."""
    partitions = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=5).topics[topic].partitions
    return {p: (m.leader, sorted(m.isrs)) for p, m in partitions.items()}


def wait_isr(bootstrap: str, topic: str, isr: list[int], timeout: float = 30) -> dict[int, tuple[int, list[int]]]:
    """Wait until every partition has exactly `isr` as ISR and a leader in it."""
    def settled() -> dict[int, tuple[int, list[int]]] | None:
        found = metadata(bootstrap, topic)
        ok = all(i == sorted(isr) and leader in isr for leader, i in found.values())
        return found if ok else None
    return wait_until(settled, timeout=timeout, interval=0.2, message=f"ISR {isr} on every partition of {topic}")


def create_replicated(cluster: LocalCluster, name: str, partitions: int, min_isr: int = 2) -> None:
    client = AdminClient({"bootstrap.servers": cluster.bootstrap})
    client.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=3,
                                   config={"min.insync.replicas": str(min_isr)})])[name].result(20)
    for process in cluster.processes:
        wait_isr(process.bootstrap, name, [0, 1, 2])


def survivors(cluster: LocalCluster, dead: set[int]) -> str:
    return ",".join(p.bootstrap for i, p in enumerate(cluster.processes) if i not in dead)


def kill(cluster: LocalCluster, broker: int, dead: set[int], topic: str) -> None:
    """kill -9 one broker; wait until the survivors dropped it from every ISR."""
    cluster.processes[broker].kill()
    dead.add(broker)
    wait_isr(survivors(cluster, dead), topic, [b for b in range(3) if b not in dead])


def produce_one(bootstrap: str, topic: str, acks: str) -> KafkaError | None:
    """One record without retries: the delivery error, None if acknowledged."""
    outcome: list[KafkaError | None] = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, "retries": 0,
                         "enable.idempotence": False, "message.timeout.ms": 10000})
    producer.produce(topic, key=b"k", value=b"one", partition=0, on_delivery=lambda err, _msg: outcome.append(err))
    producer.flush(15)
    assert outcome, "no delivery report"
    return outcome[0]


def test_replicas_survive_broker_loss_and_rejoin(zookeeper_server: ZooKeeperServer, tmp_path: Path) -> None:
    """(a) RF 3 catches up on every replica; (c) with 2 of 3 brokers dead acks=all gets
    NOT_ENOUGH_REPLICAS and acks=1 still works; (d) the dead come back into the ISR and
    hold the whole log (the last original broker is then killed and nothing is lost)."""
    with new_cluster(zookeeper_server, tmp_path, **FAST) as cluster:
        topic = "replicated"
        create_replicated(cluster, topic, 3)
        acked = produce(cluster.bootstrap, topic, 2000)
        assert len(acked) == 2000
        wait_isr(cluster.bootstrap, topic, [0, 1, 2])
        dead: set[int] = set()
        first, second, last = 2, 1, 0
        kill(cluster, first, dead, topic)
        acked.update(produce(survivors(cluster, dead), topic, 200, prefix="isr2-"))
        kill(cluster, second, dead, topic)
        alone = survivors(cluster, dead)
        error = produce_one(alone, topic, "all")
        assert error is not None and error.code() == KafkaError.NOT_ENOUGH_REPLICAS, error
        assert produce_one(alone, topic, "1") is None
        everything = consume_all(alone, topic, 3, len(acked) + 1)
        assert {k: v for k, v in everything.items() if k in acked} == acked

        for broker in (first, second):
            cluster.start_broker(broker)
            dead.discard(broker)
        wait_isr(cluster.bootstrap, topic, [0, 1, 2], timeout=40)
        kill(cluster, last, dead, topic)  # the restarted brokers now hold everything alone
        assert consume_all(survivors(cluster, dead), topic, 3, len(everything)) == everything


def test_leader_killed_under_idempotent_producer(zookeeper_server: ZooKeeperServer, tmp_path: Path) -> None:
    """(b) kill -9 a partition leader while an idempotent acks=all producer sends: every
    acknowledged record is read back once, in order, at contiguous offsets; the old leader
    returns (truncating what only it had) and rejoins the ISR. (e) Group offsets committed
    with __consumer_offsets at RF 3 survive the death of their coordinator."""
    overrides = {**FAST, "offsets.topic.replication.factor": "3"}
    with new_cluster(zookeeper_server, tmp_path, **overrides) as cluster:
        topic = "idempotent"
        create_replicated(cluster, topic, 2)
        victim = metadata(cluster.bootstrap, topic)[0][0]
        commit(cluster.bootstrap, "warm-up", topic, {0: 0})  # creates __consumer_offsets
        wait_isr(cluster.bootstrap, "__consumer_offsets", [0, 1, 2])
        group = group_led_by(cluster, victim)  # its coordinator dies with the partition leader
        commit(cluster.bootstrap, group, topic, {0: 11, 1: 22})
        sender = BackgroundProducer(cluster.bootstrap, topic, 2).start()
        acked = sender.acked
        sender.wait_for_more(300, "records acknowledged before the kill")
        dead: set[int] = set()
        kill(cluster, victim, dead, topic)
        sender.wait_for_more(300, "records acknowledged after the failover", timeout=40)
        sender.stop()
        alive = survivors(cluster, dead)
        leaders = metadata(alive, topic)
        assert all(leader != victim and leader >= 0 for leader, _ in leaders.values()), leaders
        check_log(consume_all(alive, topic, 2, len(acked)), acked)

        # The group's committed offsets moved with the leadership of its offsets partition.
        assert wait_until(lambda: committed(alive, group, topic, [0, 1]), timeout=30) == {0: 11, 1: 22}

        cluster.start_broker(victim)
        dead.discard(victim)
        wait_isr(cluster.bootstrap, topic, [0, 1, 2], timeout=40)
        # The returned broker holds exactly the surviving history: make it the only one left.
        everything = consume_all(cluster.bootstrap, topic, 2, len(acked))
        for other in [b for b in range(3) if b != victim]:
            kill(cluster, other, dead, topic)
        assert consume_all(survivors(cluster, dead), topic, 2, len(everything)) == everything


def check_log(seen: dict[tuple[int, int], bytes], acked: dict[tuple[int, int], bytes]) -> None:
    """Per partition: offsets contiguous from 0, each acknowledged value at its offset,
    and no value twice (an idempotent producer's retries were deduplicated)."""
    for partition in {p for p, _ in seen}:
        offsets = sorted(o for p, o in seen if p == partition)
        assert offsets == list(range(len(offsets))), f"gaps in partition {partition}"
        values = [seen[(partition, o)] for o in offsets]
        assert len(set(values)) == len(values), f"duplicates in partition {partition}"
    missing = {k: v for k, v in acked.items() if seen.get(k) != v}
    assert not missing, list(missing.items())[:5]


def commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()


def committed(bootstrap: str, group: str, topic: str, partitions: list[int]) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return {tp.partition: tp.offset for tp in found}
    finally:
        consumer.close()


def test_followers_take_fetch_responses_cut_mid_batch(zookeeper_server: ZooKeeperServer, tmp_path: Path) -> None:
    """A small replica.fetch.max.bytes: the leader cuts its answers inside the batch that
    crosses the limit (Kafka may; KIP-74 returns a first batch whole however big), so a
    follower must append the whole batches and fetch the rest again. A burst with acks=1
    leaves the followers a backlog of ~1 kB batches to fetch 2.5 kB at a time; a last
    acks=all record with min.insync.replicas=3 is acknowledged only once both followers
    hold everything, and the three logs are then the same bytes."""
    with new_cluster(zookeeper_server, tmp_path, **FAST, **{"replica.fetch.max.bytes": "2500"}) as cluster:
        topic = "cut"
        create_replicated(cluster, topic, 1, min_isr=3)
        acked: dict[tuple[int, int], bytes] = {}
        errors: list[str] = []
        producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "1", "linger.ms": 5,
                             "batch.num.messages": 1, "message.timeout.ms": 30000})
        for i in range(400):
            producer.produce(topic, key=b"k%d" % i, value=b"%04d" % i + b"x" * 1000, partition=0,
                             on_delivery=delivery_recorder(acked, errors))
            producer.poll(0)
        assert producer.flush(40) == 0 and not errors and len(acked) == 400, errors[:3]
        assert produce_one(cluster.bootstrap, topic, "all") is None, "the followers did not catch up"
        assert metadata(cluster.bootstrap, topic)[0][1] == [0, 1, 2]
        everything = consume_all(cluster.bootstrap, topic, 1, 401)
        assert {k: v for k, v in everything.items() if k in acked} == acked
        # followers append the leader's batches verbatim: the three logs are the same bytes
        logs = [(cluster.data_dir / f"broker-{b}" / f"{topic}-0" / f"{0:020d}.log").read_bytes() for b in range(3)]
        assert len(logs[0]) > 400_000 and logs[0] == logs[1] == logs[2]

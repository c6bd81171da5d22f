"""Three broker processes forming a cluster through a real ZooKeeper, driven by real
clients (confluent-kafka): membership and the controller, topics spread over every
broker, produce and consume across them, a consumer group on its coordinator, a
replication factor above the number of brokers refused, and a duplicate broker id
refused at start-up."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic
from integration.helpers import wait_until
from kazoo.client import KazooClient  # type: ignore[import-untyped]

from snakafka.cluster.store.zk_data import split_chroot
from snakafka.coordinator.offsets_schema import partition_for_group
from snakafka.testing.cluster import LocalCluster

pytestmark = pytest.mark.timeout(120)

RECORDS = 600


def admin(cluster: LocalCluster) -> AdminClient:
    return AdminClient({"bootstrap.servers": cluster.bootstrap})


def read_znode(cluster: LocalCluster, path: str) -> bytes:
    assert cluster.zookeeper_connect is not None
    hosts, chroot = split_chroot(cluster.zookeeper_connect)
    client = KazooClient(hosts=hosts, timeout=10.0)
    client.start(timeout=10.0)
    try:
        data, _ = client.get(f"{chroot}{path}")
        return bytes(data)
    finally:
        client.stop()
        client.close()


def create_topic(cluster: LocalCluster, name: str, partitions: int) -> dict[int, int]:
    """Create an RF 1 topic; wait until every broker knows all its leaders; partition -> leader."""
    client = admin(cluster)  # kept alive until its future completes
    client.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(20)
    leaders: dict[int, int] = {}
    for process in cluster.processes:  # each broker's own view
        def known(bootstrap: str = process.bootstrap) -> bool:
            topic = AdminClient({"bootstrap.servers": bootstrap}).list_topics(name, timeout=5).topics[name]
            if topic.error is not None or len(topic.partitions) != partitions:
                return False
            leaders.update({p: m.leader for p, m in topic.partitions.items()})
            return all(m.leader >= 0 and m.error is None for m in topic.partitions.values())
        wait_until(known, timeout=20, message=f"{name} in the metadata of {process.bootstrap}")
    return leaders



def delivery_recorder(acked: dict[tuple[int, int], bytes], errors: list[str]) -> Callable[[KafkaError | None, object], None]:
    """A delivery callback filling `acked` ((partition, offset) -> value) and `errors`."""
    def delivered(err: KafkaError | None, msg: object) -> None:
        from confluent_kafka import Message

        assert isinstance(msg, Message)
        if err is not None:
            errors.append(str(err))
            return
        partition, offset, value = msg.partition(), msg.offset(), msg.value()
        assert partition is not None and offset is not None and isinstance(value, bytes)
        earlier = acked.get((partition, offset))
        if earlier is not None and earlier != value:  # the first one was lost, its offset given again
            errors.append(f"partition {partition} offset {offset} acknowledged twice: {earlier!r}, then {value!r}")
        acked[(partition, offset)] = value
    return delivered

class BackgroundProducer:
    """An idempotent acks=all confluent-kafka producer sending keyed records round robin to
    `partitions` partitions from its own thread (a client is not shared across threads)
    until stop(): what brokers must survive while it runs. `acked` maps (partition, offset)
    to value, `errors` holds failed deliveries, `client_errors` what error_cb reported."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, conf: dict[str, str] | None = None) -> None:
        self.bootstrap, self.topic, self.partitions = bootstrap, topic, partitions
        self.conf = conf or {}  # more client settings (security)
        self.acked: dict[tuple[int, int], bytes] = {}
        self.errors: list[str] = []
        self.client_errors: list[KafkaError] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, daemon=True)

    def _send(self) -> None:
        producer = Producer({**self.conf, "bootstrap.servers": self.bootstrap, "acks": "all", "enable.idempotence": True,
                             "linger.ms": 5, "message.timeout.ms": 60000, "error_cb": self.client_errors.append})
        delivered = delivery_recorder(self.acked, self.errors)
        i = 0
        while not self._stop.is_set():
            producer.produce(self.topic, key=f"key-{i}".encode(), value=f"value-{i}".encode(),
                             partition=i % self.partitions, on_delivery=delivered)
            producer.poll(0)
            i += 1
            time.sleep(0.002)
        producer.flush(60)

    def start(self) -> BackgroundProducer:
        self._thread.start()
        return self

    def wait_for_more(self, count: int, message: str, timeout: float = 30) -> None:
        """Wait until `count` more records than now are acknowledged."""
        before = len(self.acked)
        wait_until(lambda: len(self.acked) > before + count, timeout=timeout, message=message)

    def stop(self) -> None:
        """Stop sending, flush, and fail if the thread hangs or any delivery failed."""
        self._stop.set()
        self._thread.join(90)
        assert not self._thread.is_alive(), "the producer did not finish flushing"
        assert not self.errors, self.errors[:5]


def produce(bootstrap: str, topic: str, count: int, prefix: str = "",
            partitions: list[int] | None = None) -> dict[tuple[int, int], bytes]:
    """Keyed records with acks=all (to `partitions` in turn if given, else where the key
    hashes); (partition, offset) -> value of every acknowledged one. Fails on any error."""
    acked: dict[tuple[int, int], bytes] = {}
    errors: list[str] = []
    delivered = delivery_recorder(acked, errors)

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                         "message.timeout.ms": 30000})
    for i in range(count):
        key, value = f"key-{i}".encode(), f"{prefix}value-{i}".encode()
        if partitions:
            producer.produce(topic, key=key, value=value, partition=partitions[i % len(partitions)],
                             on_delivery=delivered)
        else:
            producer.produce(topic, key=key, value=value, on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(40) == 0, "records left unacknowledged"
    assert not errors, errors[:5]
    return acked


def consume_all(bootstrap: str, topic: str, partitions: int, expected: int) -> dict[tuple[int, int], bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    seen: dict[tuple[int, int], bytes] = {}
    try:
        def done() -> bool:
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error() is None:
                    partition, offset, value = msg.partition(), msg.offset(), msg.value()
                    assert partition is not None and offset is not None and isinstance(value, bytes)
                    seen[(partition, offset)] = value
            return len(seen) >= expected
        wait_until(done, timeout=40, interval=0, message=f"{expected} records of {topic}")
    finally:
        consumer.close()
    return seen


def test_every_broker_is_in_metadata_with_one_controller(cluster: LocalCluster) -> None:
    controller = json.loads(read_znode(cluster, "/controller"))
    assert set(controller) == {"version", "brokerid", "timestamp"} and controller["version"] == 1
    assert controller["brokerid"] in (0, 1, 2) and controller["timestamp"].isdigit()
    assert int(read_znode(cluster, "/controller_epoch")) >= 1
    for process in cluster.processes:  # every broker answers the same cluster
        client = AdminClient({"bootstrap.servers": process.bootstrap})
        metadata = client.list_topics(timeout=10)
        assert sorted(metadata.brokers) == [0, 1, 2]
        assert {b.port for b in metadata.brokers.values()} == set(cluster.ports)
        assert metadata.controller_id == controller["brokerid"]
        described = client.describe_cluster(request_timeout=10).result(15)
        assert described.controller is not None and described.controller.id == controller["brokerid"]
        assert sorted(n.id for n in described.nodes) == [0, 1, 2]


def test_topic_spread_over_brokers_round_trip(cluster: LocalCluster) -> None:
    leaders = create_topic(cluster, "spread", 6)
    assert set(leaders.values()) == {0, 1, 2}
    acked = produce(cluster.bootstrap, "spread", RECORDS)
    assert len(acked) == RECORDS
    assert {leaders[p] for p, _ in acked} == {0, 1, 2}  # records landed on every broker
    # A broker that does not lead a partition refuses it (the client then routes to the leader).
    assert consume_all(cluster.processes[0].bootstrap, "spread", 6, RECORDS) == acked


def test_consumer_group_on_its_coordinator(cluster: LocalCluster) -> None:
    create_topic(cluster, "grouped", 3)
    acked = produce(cluster.bootstrap, "grouped", 90)
    group = f"group-{uuid.uuid4().hex[:8]}"
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "session.timeout.ms": 6000})
    consumer.subscribe(["grouped"])
    seen: set[tuple[int, int]] = set()
    try:
        def done() -> bool:
            for msg in consumer.consume(100, timeout=0.5):
                if msg.error() is None:
                    partition, offset = msg.partition(), msg.offset()
                    assert partition is not None and offset is not None
                    seen.add((partition, offset))
            return len(seen) >= len(acked)
        wait_until(done, timeout=40, interval=0, message="the group to consume everything")
        consumer.commit(asynchronous=False)
        committed = consumer.committed([TopicPartition("grouped", p) for p in range(3)], timeout=10)
        ends = {p: max(o for q, o in acked if q == p) + 1 for p in range(3)}
        assert {tp.partition: tp.offset for tp in committed} == ends
    finally:
        consumer.close()
    offsets = admin(cluster).list_topics("__consumer_offsets", timeout=10).topics["__consumer_offsets"].partitions
    # offsets.topic.replication.factor is Kafka's 3: every broker holds every partition
    assert len(offsets) == 12 and all(sorted(m.replicas) == [0, 1, 2] for m in offsets.values())
    assert {m.leader for m in offsets.values()} == {0, 1, 2}
    expected = offsets[partition_for_group(group, len(offsets))].leader
    client = admin(cluster)
    description = client.describe_consumer_groups([group])[group].result(15)
    assert description.coordinator.id == expected


def test_replication_factor_above_the_broker_count_is_refused(cluster: LocalCluster) -> None:
    client = admin(cluster)
    futures = client.create_topics([NewTopic("replicated", num_partitions=1, replication_factor=4)])
    with pytest.raises(KafkaException) as caught:
        futures["replicated"].result(15)
    error = caught.value.args[0]
    assert error.code() == KafkaError.INVALID_REPLICATION_FACTOR
    assert "larger than available brokers: 3" in error.str()
    assert "replicated" not in admin(cluster).list_topics(timeout=10).topics


def test_duplicate_broker_id_fails_to_start(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert cluster.zookeeper_connect is not None
    data = tmp_path_factory.mktemp("duplicate")
    result = subprocess.run(
        [sys.executable, "-m", "snakafka", "serve", "--log-level", "WARNING",
         "--override", "listeners=PLAINTEXT://127.0.0.1:0", "--override", f"log.dirs={data}",
         "--override", f"zookeeper.connect={cluster.zookeeper_connect}", "--override", "broker.id=1",
         # it waits this long (plus a grace) in case the registration is a crashed run's
         "--override", "zookeeper.session.timeout.ms=4000"],
        check=False, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("snakafka:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("snakafka: cannot start the broker: Error while creating ephemeral at /brokers/ids/1")
    assert "Traceback" not in result.stderr
    assert cluster.registered() == {0, 1, 2}  # the running broker 1 kept its registration

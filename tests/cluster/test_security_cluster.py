"""A 3-broker cluster whose inter-broker listener is SASL_SSL (SCRAM-SHA-512 between
brokers, the admin's credentials written to ZooKeeper before they start, as Kafka's docs
do it): followers replicate over it, and a leader killed under an idempotent acks=all
producer (itself on SASL_SSL, as a user of its own whose ACLs allow writing this topic and
nothing else: Kafka's AclAuthorizer is on, the brokers' own user is a super user) loses no
acknowledged record.

The brokers also have a PLAINTEXT listener, which the shared cluster-test helpers use to
read metadata; inter.broker.listener.name is SASL_SSL, so followers, transaction markers
and controlled shutdown go over SASL_SSL. That this is so is shown by the second test:
with a wrong inter-broker password the followers never join the ISR."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from integration.acl_clients import acl, produce
from integration.helpers import wait_until
from support.zookeeper import ZooKeeperServer

from cluster.conftest import CLUSTER_OVERRIDES
from cluster.test_cluster_brokers import BackgroundProducer
from cluster.test_replication import (
    FAST,
    check_log,
    create_replicated,
    kill,
    metadata,
    survivors,
    wait_isr,
)
from snakafka.testing.cluster import LocalCluster
from snakafka.testing.process import free_port
from snakafka.testing.secure import SecureSetup

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


def secure_cluster(server: ZooKeeperServer, tmp_path: Path, **overrides: str) -> tuple[LocalCluster, SecureSetup]:
    setup = SecureSetup(tmp_path / "security").create()
    cluster = LocalCluster(tmp_path / "cluster", brokers=3, zookeeper_connect=f"{server.connect}/s-{uuid.uuid4().hex[:12]}",
                           overrides={**CLUSTER_OVERRIDES, **FAST, **overrides}, security=setup,
                           secure_ports=[free_port() for _ in range(3)])
    return cluster, setup


def grant(admin: AdminClient, *bindings: AclBinding) -> None:
    for future in admin.create_acls(list(bindings), request_timeout=20).values():
        assert future.result(20) is None


def secure_bootstrap(cluster: LocalCluster, alive: set[int]) -> str:
    return ",".join(f"127.0.0.1:{cluster.secure_ports[i]}" for i in sorted(alive))


def consume_secure(bootstrap: str, conf: dict[str, str], topic: str, partitions: int, expected: int) -> dict[tuple[int, int], bytes]:
    consumer = Consumer({**conf, "bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    seen: dict[tuple[int, int], bytes] = {}
    try:
        def done() -> bool:
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error() is None and msg.partition() is not None and msg.offset() is not None:
                    seen[(msg.partition() or 0, msg.offset() or 0)] = msg.value() or b""
            return len(seen) >= expected
        wait_until(done, timeout=40, interval=0, message=f"{expected} records of {topic} over SASL_SSL")
    finally:
        consumer.close()
    return seen


ACLS_ON = {"authorizer.class.name": "kafka.security.authorizer.AclAuthorizer", "super.users": "User:admin"}


def test_sasl_ssl_inter_broker_cluster_with_acls_survives_a_leader_kill(zookeeper_server: ZooKeeperServer,
                                                                       tmp_path: Path) -> None:
    cluster, setup = secure_cluster(zookeeper_server, tmp_path, **ACLS_ON)
    with cluster:
        topic = "secured"
        conf = setup.librdkafka_config()  # the admin, a super user
        secured = secure_bootstrap(cluster, {0, 1, 2})
        admin = AdminClient({**conf, "bootstrap.servers": secured})
        # The shared helpers read metadata and create topics over PLAINTEXT, as User:ANONYMOUS.
        grant(admin, acl("CLUSTER", "kafka-cluster", "CREATE"), acl("TOPIC", "*", "DESCRIBE"),
              acl("TOPIC", topic, "WRITE", principal="User:writer"),
              acl("TOPIC", topic, "DESCRIBE", principal="User:writer"))
        admin.alter_user_scram_credentials([UserScramCredentialUpsertion(
            "writer", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), b"writer-secret")])["writer"].result(20)
        writer = {**conf, "sasl.username": "writer", "sasl.password": "writer-secret"}
        create_replicated(cluster, topic, 2)
        create_replicated(cluster, "not-for-writer", 1)
        wait_isr(cluster.bootstrap, topic, [0, 1, 2])  # followers caught up over SASL_SSL
        assert produce(secured, "not-for-writer", b"v", **writer) == KafkaError.TOPIC_AUTHORIZATION_FAILED
        victim = metadata(cluster.bootstrap, topic)[0][0]
        sender = BackgroundProducer(secured, topic, 2, writer).start()
        sender.wait_for_more(300, "records acknowledged before the kill")
        dead: set[int] = set()
        kill(cluster, victim, dead, topic)
        sender.wait_for_more(300, "records acknowledged after the failover", timeout=40)
        sender.stop()
        leaders = metadata(survivors(cluster, dead), topic)
        assert all(leader != victim and leader >= 0 for leader, _ in leaders.values()), leaders
        alive = {0, 1, 2} - dead
        check_log(consume_secure(secure_bootstrap(cluster, alive), conf, topic, 2, len(sender.acked)), sender.acked)


def test_wrong_inter_broker_password_keeps_followers_out(zookeeper_server: ZooKeeperServer, tmp_path: Path) -> None:
    """The check that replication really authenticates: the same cluster with a wrong
    SCRAM password in the brokers' own JAAS entry never gets a follower into the ISR."""
    cluster, setup = secure_cluster(zookeeper_server, tmp_path, **{"replica.lag.time.max.ms": "2000"})
    setup.admin_password, good = "not-the-password", setup.admin_password
    cluster.overrides.update({k: v for k, v in setup.broker_overrides().items() if "jaas" in k})
    setup.admin_password = good  # ZooKeeper gets the real credential
    with cluster:
        topic = "refused"
        create_replicated(cluster, topic, 1, min_isr=1)
        # A new partition starts with every replica in its ISR; followers that cannot fetch
        # leave it after replica.lag.time.max.ms (2 s here), and never come back.
        def shrunk() -> tuple[int, list[int]] | None:
            leader, isr = metadata(cluster.bootstrap, topic)[0]
            return (leader, isr) if isr == [leader] else None

        leader, _ = wait_until(shrunk, timeout=30, interval=0.5, message="the ISR shrunk to the leader")
        with pytest.raises(AssertionError, match="timed out"):
            wait_isr(cluster.bootstrap, topic, [0, 1, 2], timeout=3)
        assert metadata(cluster.bootstrap, topic)[0] == (leader, [leader])
        logs = "".join(p.log_path.read_text() for p in cluster.processes)
        assert "Failed authentication with 127.0.0.1" in logs and "user admin" in logs

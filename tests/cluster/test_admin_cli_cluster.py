"""The admin commands against a 3-broker cluster (real ZooKeeper, broker processes):
cluster describe, topics with a replica assignment and replication factor 3, dynamic
broker configs at both levels (stored in ZooKeeper as Kafka stores them, applied by every
broker or only the one named), DeleteRecords waiting for the followers, DescribeLogDirs
of every broker, and leader elections: ElectLeaders reaches the active controller (other
brokers answer NOT_CONTROLLER), an unclean election revives a partition whose only ISR
member is gone, a preferred election moves leadership back once the preferred replica is
in sync again.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from integration.admin_cli import snakafka
from integration.helpers import Send, confluent_produce, wait_until
from kio.static.primitive import i8, i32
from support.zookeeper import ZooKeeperServer

from cluster.conftest import new_cluster
from snakafka.client.admin import (
    BROKER_RESOURCE,
    ELECT_LEADERS,
    AdminClient,
    AdminError,
)
from snakafka.client.requests import build, millis, request, schema
from snakafka.protocol.errors import ErrorCode
from snakafka.testing.cluster import LocalCluster

pytestmark = pytest.mark.timeout(180)


def describe(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    [described] = snakafka("topics", "describe", "--bootstrap-server", bootstrap, "--topic", topic,
                           "--output", "json").json()
    partitions: list[dict[str, Any]] = described["partitions"]
    return partitions


def broker_config(bootstrap: str, broker: int, name: str) -> dict[str, Any] | None:
    [described] = snakafka("configs", "--bootstrap-server", bootstrap, "--entity-type", "brokers", "--entity-name",
                           str(broker), "--describe", "--all", "--output", "json").json()
    return next((c for c in described["configs"] if c["name"] == name), None)


def source_of(bootstrap: str, broker: int, name: str) -> object:
    entry = broker_config(bootstrap, broker, name)
    return entry["source"] if entry else None


def test_admin_commands_on_a_cluster(cluster: LocalCluster, topic_name: str, tmp_path: Path) -> None:
    b = ("--bootstrap-server", cluster.bootstrap)
    described = snakafka("cluster", "describe", *b, "--output", "json").json()
    assert described["controller"] == cluster.controller()
    assert described["brokers"] == [{"id": i, "host": "127.0.0.1", "port": cluster.ports[i], "rack": None}
                                    for i in range(3)]

    snakafka("topics", "create", *b, "--topic", topic_name, "--replica-assignment", "1:2:0,2:0:1",
             "--config", "min.insync.replicas=2").ok()
    def in_sync() -> list[dict[str, Any]] | None:
        d = describe(cluster.bootstrap, topic_name)
        return d if all(sorted(p["isr"]) == [0, 1, 2] for p in d) else None

    partitions = wait_until(in_sync, timeout=30, message="full ISRs")
    assert [(p["leader"], p["replicas"], p["offline_replicas"]) for p in partitions] == [(1, [1, 2, 0], []),
                                                                                         (2, [2, 0, 1], [])]
    assert snakafka("topics", "describe", *b, "--topic", topic_name, "--under-replicated-partitions",
                    "--output", "json").json() == []
    confluent_produce(cluster.bootstrap, topic_name, [Send(None, b"r%d" % i, partition=i % 2) for i in range(20)],
                      conf={"acks": "all"})

    # DeleteRecords: the leader (broker 1) answers once both followers moved their log start too
    offsets = tmp_path / "offsets.json"
    offsets.write_text(json.dumps({"version": 1, "partitions": [{"topic": topic_name, "partition": 0, "offset": 6}]}))
    deleted = snakafka("delete-records", *b, "--offset-json-file", str(offsets), "--output", "json").json()
    assert deleted == [{"topic": topic_name, "partition": 0, "low_watermark": 6, "error": None}]
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "unused"})
    try:
        assert consumer.get_watermark_offsets(TopicPartition(topic_name, 0), timeout=10) == (6, 10)
    finally:
        consumer.close()

    # every broker has both partitions in its log dir
    dirs = snakafka("log-dirs", "--describe", *b, "--topic-list", topic_name, "--output", "json").json()
    assert {d["broker"]: sorted(p["partition"] for ld in d["logDirs"] for p in ld["partitions"])
            for d in dirs["brokers"]} == {i: [f"{topic_name}-0", f"{topic_name}-1"] for i in range(3)}

    # elections: the leaders are the preferred replicas already
    noop = snakafka("leader-election", *b, "--election-type", "preferred", "--topic", topic_name, "--output", "json")
    assert noop.json()["noop"] == [{"topic": topic_name, "partition": 0}, {"topic": topic_name, "partition": 1}]
    not_controller = asyncio.run(elect_at(cluster, next(i for i in range(3) if i != cluster.controller()), topic_name))
    assert not_controller == [ErrorCode.not_controller]

    # dynamic broker configs: the cluster-wide default reaches every broker, a broker's own only it
    try:
        snakafka("configs", *b, "--entity-type", "brokers", "--entity-default", "--alter",
                 "--add-config", "leader.replication.throttled.rate=1000000").ok()
        snakafka("configs", *b, "--entity-type", "brokers", "--entity-name", "1", "--alter",
                 "--add-config", "follower.replication.throttled.rate=2000000").ok()
        for broker in range(3):
            def applied(broker: int = broker) -> bool:
                return source_of(cluster.bootstrap, broker, "leader.replication.throttled.rate") == \
                    "DYNAMIC_DEFAULT_BROKER_CONFIG"
            wait_until(applied, message=f"default config on broker {broker}")
        assert broker_config(cluster.bootstrap, 1, "follower.replication.throttled.rate") == {
            "name": "follower.replication.throttled.rate", "value": "2000000", "source": "DYNAMIC_BROKER_CONFIG",
            "read_only": False, "sensitive": False, "synonyms": [
                {"name": "follower.replication.throttled.rate", "value": "2000000", "source": "DYNAMIC_BROKER_CONFIG"},
                {"name": "follower.replication.throttled.rate", "value": str(2**63 - 1), "source": "DEFAULT_CONFIG"}]}
        assert source_of(cluster.bootstrap, 2, "follower.replication.throttled.rate") == "DEFAULT_CONFIG"
        # stored where Kafka's AdminZkClient stores them, with a change notification
        assert json.loads(cluster._read("/config/brokers/<default>") or b"{}") == {
            "version": 1, "config": {"leader.replication.throttled.rate": "1000000"}}
        assert json.loads(cluster._read("/config/brokers/1") or b"{}")["config"] == {
            "follower.replication.throttled.rate": "2000000"}
        wrong_broker = asyncio.run(alter_at(cluster, broker_id=2, name="1"))
        assert wrong_broker.startswith("INVALID_REQUEST: Unexpected broker id, expected 2, but received 1")
    finally:
        snakafka("configs", *b, "--entity-type", "brokers", "--entity-default", "--alter",
                 "--delete-config", "leader.replication.throttled.rate").ok()
        snakafka("configs", *b, "--entity-type", "brokers", "--entity-name", "1", "--alter",
                 "--delete-config", "follower.replication.throttled.rate").ok()
    assert snakafka("configs", *b, "--entity-type", "brokers", "--entity-default", "--describe",
                    "--output", "json").json()[0]["configs"] == []
    snakafka("topics", "delete", *b, "--topic", topic_name).ok()


async def elect_at(cluster: LocalCluster, broker: int, topic: str) -> list[ErrorCode]:
    """ElectLeaders sent to one broker, not to the controller: its partition errors."""
    s = schema(ELECT_LEADERS, 2)
    req = request(ELECT_LEADERS, 2, election_type=i8(0), timeout=millis(10000), topic_partitions=(
        build(s.TopicPartitions, topic=topic, partitions=(i32(0),)),))
    async with AdminClient([("127.0.0.1", cluster.ports[0])]) as admin:
        await admin.describe_cluster()
        resp = await admin.send_to(broker, req)
    return [p.error_code for r in resp.replica_election_results for p in r.partition_result]


async def alter_at(cluster: LocalCluster, *, broker_id: int, name: str) -> str:
    """A per-broker config change sent to another broker than the one it names."""
    async with AdminClient([("127.0.0.1", cluster.ports[0])]) as admin:
        try:
            await admin.alter_configs(BROKER_RESOURCE, name, [("log.cleaner.threads", 0, "2")], broker_id=broker_id)
        except AdminError as exc:
            return str(exc)
    return "accepted"


@pytest.mark.slow
def test_unclean_then_preferred_election(zookeeper_server: ZooKeeperServer, tmp_path: Path, topic_name: str) -> None:
    """A partition on brokers 1 and 2: broker 2 stops (leaves the ISR), then broker 1 (the
    partition goes offline with ISR [1]); broker 2 returns but may not lead (unclean
    election is off) until an admin asks for an unclean election; broker 1 returns, catches
    up, and a preferred election gives it its leadership back."""
    with new_cluster(zookeeper_server, tmp_path / "cluster", **{"auto.leader.rebalance.enable": "false",
                                                                "replica.lag.time.max.ms": "5000"}) as cluster:
        boot = f"127.0.0.1:{cluster.ports[0]}"
        b = ("--bootstrap-server", boot)
        snakafka("topics", "create", *b, "--topic", topic_name, "--replica-assignment", "1:2").ok()
        wait_until(lambda: describe(boot, topic_name)[0]["isr"] in ([1, 2], [2, 1]), timeout=30, message="ISR 1,2")
        confluent_produce(boot, topic_name, [Send(None, b"x", partition=0) for _ in range(5)], conf={"acks": "all"})

        cluster.processes[2].stop()
        wait_until(lambda: describe(boot, topic_name)[0]["isr"] == [1], timeout=30, message="ISR [1]")
        cluster.processes[1].stop()
        wait_until(lambda: describe(boot, topic_name)[0]["leader"] is None, timeout=30, message="offline")
        cluster.start_broker(2)
        time.sleep(1)  # the controller had its chance to (wrongly) elect broker 2
        offline = describe(boot, topic_name)[0]
        assert (offline["leader"], offline["isr"], offline["offline_replicas"]) == (None, [1], [1])
        assert snakafka("topics", "describe", *b, "--topic", topic_name, "--unavailable-partitions",
                        "--output", "json").json()[0]["partitions"] == [offline]

        preferred = snakafka("leader-election", *b, "--election-type", "preferred", "--topic", topic_name,
                             "--partition", "0")
        assert preferred.exit_code == 1 and "PREFERRED_LEADER_NOT_AVAILABLE" in preferred.stderr
        unclean = snakafka("leader-election", *b, "--election-type", "unclean", "--topic", topic_name,
                           "--partition", "0").ok()
        assert unclean.stdout.strip() == f"Successfully completed leader election (UNCLEAN) for partitions {topic_name}-0"
        revived = describe(boot, topic_name)[0]
        assert (revived["leader"], revived["isr"]) == (2, [2])

        cluster.start_broker(1)
        wait_until(lambda: sorted(describe(boot, topic_name)[0]["isr"]) == [1, 2], timeout=60, message="1 back in ISR")
        assert describe(boot, topic_name)[0]["leader"] == 2
        moved = snakafka("leader-election", *b, "--election-type", "preferred", "--all-topic-partitions",
                         "--output", "json").json()
        assert moved["succeeded"] == [{"topic": topic_name, "partition": 0}] and moved["failed"] == []
        assert describe(boot, topic_name)[0]["leader"] == 1

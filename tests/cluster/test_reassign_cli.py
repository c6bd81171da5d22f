"""`snakafka reassign-partitions` end to end: a fourth broker joins a running 3-broker
cluster (real ZooKeeper, broker processes) and the command moves every partition of a
replication-factor-3 topic (min.insync.replicas 2) off broker 0 onto it while an
idempotent acks=all producer writes: --generate proposes, --execute (with --throttle)
starts and prints the rollback plan, --verify reports until done and clears the
throttles, --list shows nothing left, --cancel has nothing to cancel; broker 0's
replicas and logs are gone and every acknowledged record is read back once, at
contiguous offsets. (tests/cluster/test_reassignment.py covers the controller's side.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from integration.admin_cli import snakafka
from integration.helpers import wait_until
from support.zookeeper import ZooKeeperServer

from cluster.conftest import new_cluster
from cluster.test_cluster_brokers import BackgroundProducer, consume_all
from cluster.test_replication import FAST, check_log

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


def describe(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    [described] = snakafka("topics", "describe", "--bootstrap-server", bootstrap, "--topic", topic,
                           "--output", "json").json()
    partitions: list[dict[str, Any]] = described["partitions"]
    return partitions


def test_reassign_partitions_moves_a_topic_onto_a_new_broker(
        zookeeper_server: ZooKeeperServer, tmp_path: Path, topic_name: str) -> None:
    with new_cluster(zookeeper_server, tmp_path / "cluster", **FAST) as cluster:
        boot = f"127.0.0.1:{cluster.ports[0]}"
        b = ("--bootstrap-server", boot)
        snakafka("topics", "create", *b, "--topic", topic_name, "--replica-assignment", "0:1:2,1:2:0,2:0:1",
                 "--config", "min.insync.replicas=2").ok()
        producer = BackgroundProducer(boot, topic_name, 3).start()
        try:
            producer.wait_for_more(300, "records before the new broker")
            assert cluster.add_broker() == 3

            moves = tmp_path / "topics.json"
            moves.write_text(json.dumps({"topics": [{"topic": topic_name}], "version": 1}))
            generated = snakafka("reassign-partitions", *b, "--generate", "--topics-to-move-json-file", str(moves),
                                 "--broker-list", "1,2,3", "--output", "json").json()
            assert {p["partition"]: p["replicas"] for p in generated["current"]["partitions"]} == \
                {0: [0, 1, 2], 1: [1, 2, 0], 2: [2, 0, 1]}
            assert all(sorted(p["replicas"]) == [1, 2, 3] for p in generated["proposed"]["partitions"])

            plan = tmp_path / "plan.json"  # broker 0 leaves every partition, broker 3 joins each
            plan.write_text(json.dumps({"version": 1, "partitions": [
                {"topic": topic_name, "partition": 0, "replicas": [3, 1, 2]},
                {"topic": topic_name, "partition": 1, "replicas": [1, 2, 3]},
                {"topic": topic_name, "partition": 2, "replicas": [2, 3, 1]}]}))
            started = snakafka("reassign-partitions", *b, "--execute", "--reassignment-json-file", str(plan),
                               "--throttle", "50000000").ok().stdout
            assert f"Successfully started partition reassignments for {topic_name}-0,{topic_name}-1,{topic_name}-2" \
                in started
            rollback = json.loads(started.split("\n\n")[1])
            assert rollback["partitions"][0]["replicas"] == [0, 1, 2]

            def verified() -> bool:
                out = snakafka("reassign-partitions", *b, "--verify", "--reassignment-json-file", str(plan),
                               "--output", "json").json()
                return all(p["status"] == "completed" for p in out["partitions"]) and out["throttles_cleared"]

            wait_until(verified, timeout=90, interval=0.5, message="the reassignment to complete")
            producer.wait_for_more(300, "records after the reassignment")
        finally:
            producer.stop()
        described = describe(boot, topic_name)
        assert [p["replicas"] for p in described] == [[3, 1, 2], [1, 2, 3], [2, 3, 1]]
        assert [sorted(p["isr"]) for p in described] == [[1, 2, 3]] * 3
        assert described[0]["leader"] == 3  # broker 0 led partition 0: the first in-sync target replica leads
        assert snakafka("reassign-partitions", *b, "--list", "--output", "json").json() == []
        # broker 0 dropped its replicas (and their logs); broker 3 holds all three
        def hosted() -> dict[int, list[str]]:
            dirs = snakafka("log-dirs", "--describe", *b, "--topic-list", topic_name, "--output", "json").json()
            return {d["broker"]: sorted(p["partition"] for ld in d["logDirs"] for p in ld["partitions"])
                    for d in dirs["brokers"]}
        wait_until(lambda: hosted()[0] == [], timeout=30, message="broker 0's replicas gone")
        assert hosted()[3] == [f"{topic_name}-{p}" for p in range(3)]
        throttles = snakafka("configs", *b, "--entity-type", "topics", "--entity-name", topic_name, "--describe",
                             "--output", "json").json()[0]["configs"]
        assert not any("throttled" in c["name"] for c in throttles)

        seen = consume_all(boot, topic_name, 3, len(producer.acked))
        check_log(seen, producer.acked)

        cancel = snakafka("reassign-partitions", *b, "--cancel", "--reassignment-json-file", str(plan))
        assert cancel.exit_code == 1 and "NO_REASSIGNMENT_IN_PROGRESS" in cancel.stderr

"""Partition reassignment (KIP-455) in a running cluster: a fourth broker joins a 3-broker
cluster (real ZooKeeper, broker processes) and takes over partitions under an idempotent
acks=all producer (RF 3, min.insync.replicas 2), with nothing acknowledged lost.

AlterPartitionReassignments and ListPartitionReassignments are sent on the wire with
snakafka's protocol client (librdkafka and the Python clients have no such admin call).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from integration.helpers import wait_until
from kio.schema.alter_partition_reassignments.v0.request import (
    AlterPartitionReassignmentsRequest,
    ReassignablePartition,
    ReassignableTopic,
)
from kio.schema.errors import ErrorCode
from kio.schema.list_partition_reassignments.v0.request import (
    ListPartitionReassignmentsRequest,
)
from kio.schema.types import BrokerId, TopicName
from kio.static.primitive import i32
from support.zookeeper import ZooKeeperServer

from cluster.conftest import new_cluster
from cluster.test_cluster_brokers import BackgroundProducer, consume_all
from cluster.test_replication import FAST, check_log, create_replicated, metadata
from snakafka.client.connection import BrokerConnection
from snakafka.testing.cluster import LocalCluster

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


def send(port: int, request: Any) -> Any:
    async def go() -> Any:
        async with BrokerConnection("127.0.0.1", port) as connection:
            return await connection.send(request, timeout=30)
    return asyncio.run(go())


def reassign(cluster: LocalCluster, topic: str, targets: dict[int, list[int] | None], *, port: int | None = None) -> Any:
    request = AlterPartitionReassignmentsRequest(topics=(ReassignableTopic(name=TopicName(topic), partitions=tuple(
        ReassignablePartition(partition_index=i32(p), replicas=None if r is None else tuple(BrokerId(b) for b in r))
        for p, r in targets.items())),))
    return send(port if port is not None else cluster.processes[cluster.controller()].port, request)


def ongoing(cluster: LocalCluster) -> dict[tuple[str, int], tuple[list[int], list[int], list[int]]]:
    response = send(cluster.processes[cluster.controller()].port, ListPartitionReassignmentsRequest(topics=None))
    assert response.error_code == ErrorCode.none
    return {(t.name, int(p.partition_index)): (list(p.replicas), list(p.adding_replicas), list(p.removing_replicas))
            for t in response.topics for p in t.partitions}


def replicas_and_isr(bootstrap: str, topic: str) -> dict[int, tuple[list[int], list[int], int]]:
    """partition -> (replicas, ISR, leader), from one broker's one answer."""
    partitions = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=5).topics[topic].partitions
    return {p: (list(m.replicas), sorted(m.isrs), m.leader) for p, m in partitions.items()}


def test_a_new_broker_takes_over_partitions_under_an_acks_all_producer(zookeeper_server: ZooKeeperServer,
                                                                       tmp_path: Path) -> None:
    with new_cluster(zookeeper_server, tmp_path, **FAST) as cluster:
        topic = "growing"
        create_replicated(cluster, topic, 3)
        sender = BackgroundProducer(cluster.bootstrap, topic, 3).start()
        try:
            sender.wait_for_more(300, "records acknowledged before the new broker")
            new = cluster.add_broker()
            assert new == 3 and cluster.registered() == {0, 1, 2, 3}

            # Not on a broker that is not the controller, and nothing to cancel yet.
            other = next(b for b in range(3) if b != cluster.controller())
            refused = reassign(cluster, topic, {0: [3, 1, 2]}, port=cluster.processes[other].port)
            assert refused.error_code == ErrorCode.not_controller
            cancel = reassign(cluster, topic, {0: None})
            assert cancel.responses[0].partitions[0].error_code == ErrorCode.no_reassignment_in_progress
            bad = reassign(cluster, topic, {0: [3, 3, 1], 1: [1, 2, 7]})
            assert [p.error_code for p in bad.responses[0].partitions] == [ErrorCode.invalid_replica_assignment] * 2

            # Each partition's leader gives its place to broker 3, which comes first: once it
            # is in sync, the new broker leads.
            before = replicas_and_isr(cluster.bootstrap, topic)
            leaders = {p: leader for p, (leader, _) in metadata(cluster.bootstrap, topic).items()}
            targets: dict[int, list[int] | None] = {
                p: [3, *(b for b in replicas if b != leaders[p])] for p, (replicas, _, _) in before.items()}
            answer = reassign(cluster, topic, targets)
            assert answer.error_code == ErrorCode.none
            assert all(p.error_code == ErrorCode.none for p in answer.responses[0].partitions), answer
            sender.wait_for_more(200, "records acknowledged while the new replicas catch up")

            def moved() -> bool:  # one broker's one answer: replicas, ISR and the new broker leading
                found = replicas_and_isr(cluster.bootstrap, topic)
                return not ongoing(cluster) and all(
                    (replicas, isr, leader) == (targets[p], sorted(targets[p] or []), 3)
                    for p, (replicas, isr, leader) in found.items())
            wait_until(moved, timeout=60, interval=0.3,
                       message="every partition on its target replicas, all in sync, led by the new broker")
            sender.wait_for_more(200, "records acknowledged after the move")
        finally:
            sender.stop()
        assert not [e for e in sender.client_errors if e.fatal()], sender.client_errors[:5]
        check_log(consume_all(cluster.bootstrap, topic, 3, len(sender.acked)), sender.acked)

        # The removed replicas dropped their copies; broker 3 holds the partitions it took.
        def dropped() -> bool:
            return all(not (tmp_path / f"broker-{leaders[p]}" / f"{topic}-{p}").exists() for p in range(3))
        wait_until(dropped, timeout=30, interval=0.3, message="the removed replicas' logs deleted")
        assert all((tmp_path / "broker-3" / f"{topic}-{p}").is_dir() for p in range(3))

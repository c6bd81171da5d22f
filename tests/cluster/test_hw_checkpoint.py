"""The high watermark checkpoint in a 3-broker cluster (real ZooKeeper, broker processes,
confluent-kafka): every broker writes `replication-offset-checkpoint` in each log dir in
Kafka's format, and a leader restarted while its ISR still names followers that cannot
fetch (paused with SIGSTOP, their ZooKeeper sessions still alive) answers ListOffsets
with the high watermark it had, at once: not its log end, which holds records (acks=1)
the followers never got. Once they fetch again the high watermark moves on, and a
deleted topic's entries leave every broker's file."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from integration.helpers import wait_until
from kio.schema.errors import ErrorCode
from kio.schema.list_offsets.v7.request import (
    ListOffsetsPartition,
    ListOffsetsRequest,
    ListOffsetsTopic,
)
from kio.schema.types import BrokerId, TopicName
from kio.static.primitive import i8, i32, i64
from support.zookeeper import ZooKeeperServer

from cluster.conftest import new_cluster
from cluster.test_cluster_brokers import produce
from cluster.test_replication import metadata
from snakafka.client.connection import BrokerConnection
from snakafka.testing.cluster import LocalCluster

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

TOPIC = "hw-restart"
HW_FILE = "replication-offset-checkpoint"
COMMITTED = 50  # acks=all
TAIL = 7  # acks=1 while the followers are paused
OVERRIDES = {
    "replica.high.watermark.checkpoint.interval.ms": "200",
    # The paused followers must stay registered (and in the ISR) while the leader restarts,
    # and the leader must stop at once, still leading: a controlled shutdown would move
    # its leadership away (or wait on a paused controller).
    "zookeeper.session.timeout.ms": "30000",
    "controlled.shutdown.enable": "false",
}
_LINE = re.compile(r"^(\S+) (\d+) (\d+)$")


def checkpoint(cluster: LocalCluster, broker: int) -> dict[tuple[str, int], int]:
    """The broker's replication-offset-checkpoint, checked line by line against Kafka's
    format (version 0, entry count, `topic partition offset` lines); {} if not written yet."""
    path = cluster.processes[broker].data_dir / HW_FILE
    if not path.exists():
        return {}
    lines = path.read_text().split("\n")
    assert lines[-1] == "" and lines[0] == "0" and int(lines[1]) == len(lines) - 3, lines
    entries: dict[tuple[str, int], int] = {}
    for line in lines[2:-1]:
        match = _LINE.match(line)
        assert match is not None, f"not Kafka's checkpoint line: {line!r}"
        entries[(match[1], int(match[2]))] = int(match[3])
    return entries


def wait_checkpoints(cluster: LocalCluster, offset: int | None) -> None:
    """Wait until every broker's file holds `offset` for partition 0 (None: no entry, in a
    file that exists)."""
    def written() -> bool:
        found = [checkpoint(cluster, b) for b in range(len(cluster.processes))]
        if offset is None:
            return all((cluster.processes[b].data_dir / HW_FILE).exists() and (TOPIC, 0) not in entries
                       for b, entries in enumerate(found))
        return all(entries.get((TOPIC, 0)) == offset for entries in found)
    wait_until(written, timeout=15, interval=0.1, message=f"{TOPIC}-0 at {offset} in every broker's {HW_FILE}")


def high_watermark(cluster: LocalCluster, broker: int) -> int:
    """ListOffsets(latest) of partition 0 as `broker` answers it. Asked with snakafka's
    protocol client because it talks to that broker alone: librdkafka and kafka-python
    refresh metadata from any broker they know of, and stall on a paused one."""
    async def ask() -> int:
        request = ListOffsetsRequest(replica_id=BrokerId(-1), isolation_level=i8(0), topics=(ListOffsetsTopic(
            name=TopicName(TOPIC), partitions=(ListOffsetsPartition(partition_index=i32(0), timestamp=i64(-1)),)),))
        async with BrokerConnection("127.0.0.1", cluster.ports[broker], client_id="hw-checkpoint-test") as conn:
            response = await conn.send(request, timeout=10)
        [answer] = response.topics[0].partitions
        assert answer.error_code == ErrorCode.none, answer
        return int(answer.offset)
    return asyncio.run(ask())


def produce_acks_1(bootstrap: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "1", "enable.idempotence": False,
                         "message.timeout.ms": 10000})
    errors: list[object] = []
    for i in range(count):
        producer.produce(TOPIC, value=f"tail-{i}".encode(), partition=0,
                         on_delivery=lambda err, _msg: errors.append(err) if err is not None else None)
    assert producer.flush(15) == 0 and not errors, errors


@contextmanager
def paused(cluster: LocalCluster, brokers: list[int]) -> Iterator[None]:
    """SIGSTOP the brokers (each by its PID) and SIGCONT them on the way out, whatever happens."""
    pids = [cluster.processes[b].pid for b in brokers]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def test_restarted_leader_keeps_its_high_watermark(zookeeper_server: ZooKeeperServer, tmp_path: Path) -> None:
    with new_cluster(zookeeper_server, tmp_path, **OVERRIDES) as cluster:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=3)])[TOPIC].result(20)
        wait_until(lambda: metadata(cluster.bootstrap, TOPIC)[0][1] == [0, 1, 2], timeout=20, interval=0.2,
                   message="a full ISR")
        produce(cluster.bootstrap, TOPIC, COMMITTED, partitions=[0])
        leader = metadata(cluster.bootstrap, TOPIC)[0][0]
        followers = [b for b in range(3) if b != leader]
        wait_checkpoints(cluster, COMMITTED)  # the periodic write, on leader and followers alike

        with paused(cluster, followers):
            produce_acks_1(cluster.processes[leader].bootstrap, TAIL)
            assert high_watermark(cluster, leader) == COMMITTED
            assert cluster.processes[leader].stop() == 0, "a clean stop"
            assert checkpoint(cluster, leader)[(TOPIC, 0)] == COMMITTED, "the shutdown's write"
            restarted = cluster.start_broker(leader).bootstrap
            wait_until(lambda: metadata(restarted, TOPIC)[0] == (leader, [0, 1, 2]), timeout=15, interval=0.1,
                       message=f"broker {leader} leading {TOPIC} again with the full ISR")
            # At once: the followers cannot have fetched. The recovery point (the log end,
            # COMMITTED + TAIL) would hand consumers records no follower has.
            assert high_watermark(cluster, leader) == COMMITTED

        wait_until(lambda: high_watermark(cluster, leader) == COMMITTED + TAIL, timeout=20, interval=0.2,
                   message="the followers catching up")
        wait_checkpoints(cluster, COMMITTED + TAIL)

        admin.delete_topics([TOPIC])[TOPIC].result(20)
        wait_checkpoints(cluster, None)

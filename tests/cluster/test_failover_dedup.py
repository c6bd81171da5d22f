"""An idempotent producer's retry that reaches a new leader: the batch was written and
replicated, the answer never came back, leadership moved, and the client sends the same
batch (same producer id, epoch and sequence) to the new leader. The new leader must
answer with the batch's first offset and write nothing, which it can only do if, as a
follower, it kept the producer's sequences of every batch it replicated.

Sent as raw Produce requests (kio types over BrokerConnection) so the retry is exact and
deterministic; no client library could be made to lose one answer on cue. Run on the
real build and on a broken one whose followers forget their producers
(tests/support/broken_broker.py: follower-forgets-producers), where the new leader writes
the retry a second time: that is what shows the test catches the bug.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from kio.schema.errors import ErrorCode
from kio.schema.init_producer_id.v4 import request as init_producer_id_v4
from kio.schema.list_offsets.v4 import request as list_offsets_v4
from kio.schema.produce.v9 import request as produce_v9
from kio.schema.types import BrokerId, TopicName
from kio.static.primitive import Records, i8, i16, i32, i32Timedelta, i64
from support.broken_broker import launcher
from support.zookeeper import ZooKeeperServer

from cluster.conftest import CLUSTER_OVERRIDES
from cluster.test_replication import FAST, wait_isr
from snakafka.client.connection import BrokerConnection
from snakafka.protocol.records import NewRecord, encode_batch
from snakafka.testing.cluster import LocalCluster

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

TESTS_DIR = str(Path(__file__).resolve().parent.parent)
TOPIC = "retried"


def send(port: int, request: Any) -> Any:
    async def exchange() -> Any:
        async with BrokerConnection("127.0.0.1", port, client_id="failover-dedup") as conn:
            return await conn.send(request, timeout=15)
    return asyncio.run(asyncio.wait_for(exchange(), 30))


def producer_id(port: int) -> tuple[int, int]:
    """An idempotent (non-transactional) producer id and epoch, as a client gets one."""
    response = send(port, init_producer_id_v4.InitProducerIdRequest(
        transactional_id=None, transaction_timeout=i32Timedelta.parse(datetime.timedelta(seconds=60))))
    assert response.error_code == ErrorCode.none, response
    return int(response.producer_id), int(response.producer_epoch)


def batch(pid: int, epoch: int, sequence: int) -> bytes:
    return encode_batch([NewRecord(key=None, value=b"record-%d" % sequence, timestamp=0)],
                        producer_id=pid, producer_epoch=epoch, base_sequence=sequence)


def produce(port: int, data: bytes) -> tuple[ErrorCode, int]:
    """One acks=all Produce of `data` to partition 0: (error, base offset)."""
    response = send(port, produce_v9.ProduceRequest(
        transactional_id=None, acks=i16(-1), timeout=i32Timedelta.parse(datetime.timedelta(seconds=10)),
        topic_data=(produce_v9.TopicProduceData(name=TopicName(TOPIC), partition_data=(
            produce_v9.PartitionProduceData(index=i32(0), records=Records(data)),)),)))
    answer = response.responses[0].partition_responses[0]
    return answer.error_code, int(answer.base_offset)


def retry_after_failover(zookeeper_server: ZooKeeperServer, directory: Path, broken: str | None) -> list[int]:
    """Write sequences 0-2 through broker 0, move leadership to broker 1 (controlled
    shutdown of 0), retry sequence 2 there, then send sequence 3: the two base offsets
    broker 1 answers, and its log end offset."""
    cluster = LocalCluster(directory, brokers=3, zookeeper_connect=f"{zookeeper_server.connect}/d-{uuid.uuid4().hex[:12]}",
                           overrides={**CLUSTER_OVERRIDES, **FAST},
                           launcher=launcher(broken) if broken else None,
                           env={"PYTHONPATH": TESTS_DIR} if broken else {})
    with cluster:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        admin.create_topics([NewTopic(TOPIC, num_partitions=1, replica_assignment=[[0, 1, 2]],
                                      config={"min.insync.replicas": "2"})])[TOPIC].result(20)
        wait_isr(cluster.bootstrap, TOPIC, [0, 1, 2])
        pid, epoch = producer_id(cluster.ports[0])
        for sequence in range(3):
            assert produce(cluster.ports[0], batch(pid, epoch, sequence)) == (ErrorCode.none, sequence)

        cluster.processes[0].stop()  # controlled shutdown: the controller hands partition 0 to broker 1
        survivors = ",".join(cluster.processes[b].bootstrap for b in (1, 2))
        wait_isr(survivors, TOPIC, [1, 2])

        retried = produce(cluster.ports[1], batch(pid, epoch, 2))
        following = produce(cluster.ports[1], batch(pid, epoch, 3))
        assert retried[0] == ErrorCode.none and following[0] == ErrorCode.none, (retried, following)
        listed = send(cluster.ports[1], list_offsets_latest())
        return [retried[1], following[1], int(listed.topics[0].partitions[0].offset)]


def list_offsets_latest() -> Any:
    return list_offsets_v4.ListOffsetsRequest(
        replica_id=BrokerId(-1), isolation_level=i8(0),
        topics=(list_offsets_v4.ListOffsetsTopic(name=TopicName(TOPIC), partitions=(
            list_offsets_v4.ListOffsetsPartition(partition_index=i32(0), current_leader_epoch=i32(-1),
                                                 timestamp=i64(-1)),)),))


def test_a_new_leader_answers_a_retry_with_the_first_offset(zookeeper_server: ZooKeeperServer, tmp_path: Path) -> None:
    retried, following, end = retry_after_failover(zookeeper_server, tmp_path, None)
    assert (retried, following, end) == (2, 3, 4)


def test_a_new_leader_that_forgot_its_producers_is_caught(zookeeper_server: ZooKeeperServer, tmp_path: Path) -> None:
    retried, following, end = retry_after_failover(zookeeper_server, tmp_path, "follower-forgets-producers")
    assert retried == 3 and end == 5, (retried, following, end)  # the retry written twice

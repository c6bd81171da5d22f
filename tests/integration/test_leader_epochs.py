"""OffsetForLeaderEpoch at every version we advertise: where a leader epoch ended, as the
leader's epoch cache says, with Kafka's fencing of stale or future current epochs. Real
consumers (librdkafka, Java) ask it to validate a position that carries a leader epoch,
for instance a committed offset, and reset on a wrong answer."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from kio.schema.errors import ErrorCode
from kio.static.primitive import i32

from snakafka.client.connection import BrokerConnection
from snakafka.testing.process import BrokerProcess

from .group_wire import call, run, schema
from .helpers import Send, confluent_create_topic, confluent_produce

VERSIONS = (2, 3, 4)


def epoch_request(version: int, topic: str, *partitions: tuple[int, int, int]) -> Any:
    """partitions: (partition, current_leader_epoch, leader_epoch)."""
    m = schema("offset_for_leader_epoch", version)
    return m.OffsetForLeaderEpochRequest(topics=(m.OffsetForLeaderTopic(topic=topic, partitions=tuple(
        m.OffsetForLeaderPartition(partition=i32(p), current_leader_epoch=i32(current), leader_epoch=i32(epoch))
        for p, current, epoch in partitions
    )),))


def answers(response: Any) -> list[tuple[int, ErrorCode, int, int]]:
    return [(p.partition, p.error_code, p.leader_epoch, p.end_offset) for t in response.topics for p in t.partitions]


@pytest.mark.parametrize("version", VERSIONS)
def test_end_offsets_of_leader_epochs(broker: BrokerProcess, topic_name: str, version: int) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    confluent_produce(broker.bootstrap, topic_name, [Send(None, b"v%d" % i, (), partition=0) for i in range(5)])

    async def scenario(conn: BrokerConnection) -> None:
        got = answers(await call(conn, epoch_request(version, topic_name, (0, -1, 0), (0, 0, 0), (0, -1, 7), (0, -1, -1))))
        assert got == [
            (0, ErrorCode.none, 0, 5),  # the latest epoch ends at the log end offset
            (0, ErrorCode.none, 0, 5),  # current_leader_epoch matching the leader's
            (0, ErrorCode.none, -1, -1),  # an epoch above the latest is unknown
            (0, ErrorCode.none, -1, -1),  # so is -1
        ]
        fenced = answers(await call(conn, epoch_request(version, topic_name, (0, 1, 0), (1, -1, 0))))
        assert fenced == [
            (0, ErrorCode.unknown_leader_epoch, -1, -1),  # the caller knows a newer leader than this one
            (1, ErrorCode.none, 0, 0),  # a leader's epoch starts at its log end when it takes over, empty or not
        ]
        missing = answers(await call(conn, epoch_request(version, f"missing-{uuid.uuid4().hex[:8]}", (0, -1, 0))))
        assert missing == [(0, ErrorCode.unknown_topic_or_partition, -1, -1)]
        beyond = answers(await call(conn, epoch_request(version, topic_name, (9, -1, 0))))
        assert beyond == [(9, ErrorCode.unknown_topic_or_partition, -1, -1)]

    run(broker, scenario)


def test_librdkafka_validates_a_position_with_a_leader_epoch_and_consumes_on(broker: BrokerProcess, topic_name: str) -> None:
    """Assigning a position that carries a leader epoch makes librdkafka ask
    OffsetForLeaderEpoch before fetching; a right answer lets it fetch from there, a
    wrong one (-1 or an end offset below the position) would reset or seek it."""
    confluent_create_topic(broker.bootstrap, topic_name, 1)
    confluent_produce(broker.bootstrap, topic_name, [Send(None, b"v%d" % i, (), partition=0) for i in range(10)])
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"epoch-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        consumer.assign([TopicPartition(topic_name, 0, 6, leader_epoch=0)])
        values: list[bytes] = []
        for _ in range(100):
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                value = msg.value()
                assert value is not None
                values.append(value)
            if len(values) == 4:
                break
        assert values == [b"v6", b"v7", b"v8", b"v9"]
    finally:
        consumer.close()

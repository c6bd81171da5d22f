"""Fetch sessions (KIP-227) with a real client: kafka-python 3.x opens an incremental fetch
session by default. Its consumer reads every record of a 4-partition topic written in
rounds to one partition at a time, over a session whose incremental answers hold only the
partitions that changed (kafka-python logs how many partitions each answer implied, and
drops a session whose answer holds a partition it did not ask for). On the wire, an
unknown session id gets FETCH_SESSION_ID_NOT_FOUND."""

from __future__ import annotations

import asyncio
import datetime
import logging
import re
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kio.schema.errors import ErrorCode
from kio.schema.fetch.v12 import request as fetch_v12
from kio.static.primitive import i32, i32Timedelta, i64

from integration.test_kafka_python import create_topic
from snakafka.client.connection import BrokerConnection
from snakafka.testing.process import BrokerProcess

PARTITIONS = 4
ROUNDS = 8
PER_ROUND = 25


def test_kafka_python_consumes_over_an_incremental_fetch_session(broker: BrokerProcess,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    topic = f"sessions-{uuid.uuid4().hex[:8]}"
    create_topic(broker.bootstrap, topic, PARTITIONS)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=0)
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                             auto_offset_reset="earliest", fetch_max_wait_ms=100)
    consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
    caplog.set_level(logging.DEBUG, logger="kafka.consumer.fetcher")
    got: dict[int, list[bytes]] = {p: [] for p in range(PARTITIONS)}
    try:
        for n in range(ROUNDS):
            partition = n % PARTITIONS
            for i in range(PER_ROUND):
                producer.send(topic, f"{n}-{i}".encode(), partition=partition)
            producer.flush(10)
            want = (n + 1) * PER_ROUND
            for _ in range(100):
                for records in consumer.poll(timeout_ms=200).values():
                    for record in records:
                        got[record.partition].append(record.value)
                if sum(len(v) for v in got.values()) >= want:
                    break
            assert sum(len(v) for v in got.values()) == want
    finally:
        consumer.close()
        producer.close()
    for p in range(PARTITIONS):
        assert got[p] == [f"{n}-{i}".encode() for n in range(p, ROUNDS, PARTITIONS) for i in range(PER_ROUND)]
    text = caplog.text
    assert "created a new incremental fetch session" in text
    assert "invalid incremental fetch response" not in text
    implied = [int(m) for m in re.findall(r"incremental fetch response for session \d+ with \d+ response partitions "
                                          r"\((\d+) implied\)", text)]
    assert implied and max(implied) > 0, "incremental answers should leave unchanged partitions out"


def test_an_unknown_session_gets_fetch_session_id_not_found(broker: BrokerProcess) -> None:
    async def run() -> None:
        host, port = broker.bootstrap.rsplit(":", 1)
        request = fetch_v12.FetchRequest(
            replica_id=i32(-1),  # type: ignore[arg-type]
            max_wait=i32Timedelta.parse(datetime.timedelta(milliseconds=10)), min_bytes=i32(1),
            max_bytes=i32(1 << 20), session_id=i32(123456789), session_epoch=i32(1),
            topics=(fetch_v12.FetchTopic(topic="nope", partitions=(fetch_v12.FetchPartition(  # type: ignore[arg-type]
                partition=i32(0), current_leader_epoch=i32(-1), fetch_offset=i64(0), last_fetched_epoch=i32(-1),
                log_start_offset=i64(-1), partition_max_bytes=i32(1 << 20)),)),),
            forgotten_topics_data=())
        async with BrokerConnection(host, int(port)) as conn:
            response = await conn.send(request)
        assert response.error_code == ErrorCode.fetch_session_id_not_found and response.responses == ()
    asyncio.run(run())

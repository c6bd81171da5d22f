"""Transactional producers of the pure-Python clients, kafka-python and aiokafka, against a
snakafka broker subprocess: a committed transaction is visible to read_committed
consumers, an aborted one only to read_uncommitted ones; aiokafka also commits consumer
offsets inside a transaction (send_offsets_to_transaction)."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition as AioTopicPartition
from kafka import KafkaProducer

from integration.helpers import confluent_consume, confluent_create_topic
from snakafka.testing.process import BrokerProcess


def values(bootstrap: str, topic: str, isolation: str) -> list[bytes]:
    recs = confluent_consume(bootstrap, topic, [0], conf={"isolation.level": isolation})
    return [r.value for r in recs if r.value is not None]


def test_kafka_python_commit_and_abort(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 1)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=f"kp-{topic_name}")
    try:
        p.init_transactions()
        p.begin_transaction()
        for i in range(3):
            p.send(topic_name, value=b"kept-%d" % i, partition=0)
        p.commit_transaction()
        p.begin_transaction()
        for i in range(3):
            p.send(topic_name, value=b"dropped-%d" % i, partition=0)
        p.flush(timeout=20)
        p.abort_transaction()
    finally:
        p.close(timeout=10)
    assert values(broker.bootstrap, topic_name, "read_committed") == [b"kept-0", b"kept-1", b"kept-2"]
    assert values(broker.bootstrap, topic_name, "read_uncommitted") == [
        b"kept-0", b"kept-1", b"kept-2", b"dropped-0", b"dropped-1", b"dropped-2"]


def test_aiokafka_commit_abort_and_offsets(broker: BrokerProcess, topic_name: str) -> None:
    source, sink, group = topic_name, topic_name + "-out", f"g-{topic_name}"
    confluent_create_topic(broker.bootstrap, source, 1)
    confluent_create_topic(broker.bootstrap, sink, 1)

    async def scenario() -> int | None:
        p = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=f"aio-{topic_name}")
        await p.start()
        try:
            async with p.transaction():
                for i in range(4):
                    await p.send_and_wait(source, value=b"%d" % i, partition=0)
            await p.begin_transaction()
            await p.send_and_wait(sink, value=b"aborted", partition=0)
            await p.abort_transaction()
            # consume-transform-produce: output and input offsets in one transaction
            c = AIOKafkaConsumer(source, bootstrap_servers=broker.bootstrap, group_id=group,
                                 isolation_level="read_committed", enable_auto_commit=False,
                                 auto_offset_reset="earliest")
            await c.start()
            try:
                got = await c.getmany(timeout_ms=10000, max_records=4)
                msgs = [m for batch in got.values() for m in batch]
                while len(msgs) < 4:
                    more = await c.getmany(timeout_ms=10000)
                    assert more, f"only {len(msgs)} records"
                    msgs += [m for batch in more.values() for m in batch]
                async with p.transaction():
                    for m in msgs:
                        await p.send_and_wait(sink, value=b"out-" + m.value, partition=0)
                    await p.send_offsets_to_transaction({AioTopicPartition(source, 0): msgs[-1].offset + 1}, group)
                # The markers (which make the offsets visible) follow EndTxn's answer.
                committed: int | None = None
                for _ in range(100):
                    committed = await c.committed(AioTopicPartition(source, 0))
                    if committed == 4:
                        break
                    await asyncio.sleep(0.1)
            finally:
                await c.stop()
        finally:
            await p.stop()
        return committed

    committed = asyncio.run(asyncio.wait_for(scenario(), 90))
    assert committed == 4
    assert values(broker.bootstrap, source, "read_committed") == [b"0", b"1", b"2", b"3"]
    assert values(broker.bootstrap, sink, "read_committed") == [b"out-0", b"out-1", b"out-2", b"out-3"]
    assert values(broker.bootstrap, sink, "read_uncommitted")[0] == b"aborted"

"""Consumer groups with kafka-python and aiokafka: three members share six partitions,
and a restarted member resumes at the group's committed offset."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition as AioTP
from confluent_kafka import Producer
from kafka import KafkaConsumer
from kafka import TopicPartition as KpTP

from snakafka.testing.process import BrokerProcess

from .helpers import confluent_create_topic

SESSION_MS = 6000


def produce(bootstrap: str, topic: str, count: int, partitions: int) -> None:
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(count):
        p.produce(topic, value=b"%d" % i, partition=i % partitions)
    assert p.flush(20) == 0


def test_kafka_python_group(broker: BrokerProcess, topic_name: str) -> None:
    """kafka-python joins inside poll(), blocking until the rebalance completes, so each
    member polls in its own thread (as each would in its own service)."""
    import threading

    confluent_create_topic(broker.bootstrap, topic_name, 6)
    produce(broker.bootstrap, topic_name, 60, 6)
    group = f"kp-{uuid.uuid4().hex[:8]}"
    cs = [KafkaConsumer(topic_name, bootstrap_servers=broker.bootstrap, group_id=group, auto_offset_reset="earliest",
                        enable_auto_commit=False, session_timeout_ms=SESSION_MS, heartbeat_interval_ms=500)
          for _ in range(3)]
    stop = threading.Event()
    assigned: list[set[int]] = [set(), set(), set()]

    def loop(i: int) -> None:
        while not stop.is_set():
            cs[i].poll(timeout_ms=100)
            assigned[i] = {tp.partition for tp in cs[i].assignment()}

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(3)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = list(assigned)
            if sorted(len(a) for a in got) == [2, 2, 2] and set().union(*got) == set(range(6)):
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"kafka-python group never settled: {assigned}")
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    owner = next(c for c in cs if KpTP(topic_name, 0) in c.assignment())
    from kafka.structs import OffsetAndMetadata

    owner.commit({KpTP(topic_name, 0): OffsetAndMetadata(4, "", -1)})
    for c in cs:
        c.close()
    again = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False)
    try:
        assert again.committed(KpTP(topic_name, 0)) == 4
    finally:
        again.close()


def test_aiokafka_group(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 6)
    produce(broker.bootstrap, topic_name, 60, 6)
    group = f"ak-{uuid.uuid4().hex[:8]}"

    async def run() -> None:
        cs = [AIOKafkaConsumer(topic_name, bootstrap_servers=broker.bootstrap, group_id=group,
                               auto_offset_reset="earliest", enable_auto_commit=False,
                               session_timeout_ms=SESSION_MS, heartbeat_interval_ms=500) for _ in range(3)]
        for c in cs:
            await c.start()
        try:
            got: list[set[int]] = []
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                await asyncio.gather(*(c.getmany(timeout_ms=100) for c in cs))
                got = [{tp.partition for tp in c.assignment()} for c in cs]
                if sorted(len(a) for a in got) == [2, 2, 2] and set().union(*got) == set(range(6)):
                    break
            else:
                raise AssertionError(f"aiokafka group never settled: {got}")
            owner = next(c for c in cs if AioTP(topic_name, 1) in c.assignment())
            await owner.commit({AioTP(topic_name, 1): 7})
        finally:
            for c in cs:
                await c.stop()
        again = AIOKafkaConsumer(topic_name, bootstrap_servers=broker.bootstrap, group_id=group,
                                 enable_auto_commit=False, session_timeout_ms=SESSION_MS)
        await again.start()
        try:
            records: list[Any] = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any(r.partition == 1 for r in records):
                batch = await again.getmany(timeout_ms=200)
                records += [r for rs in batch.values() for r in rs]
            first_p1 = min(r.offset for r in records if r.partition == 1)
            assert first_p1 == 7, "resumes at the committed offset"
        finally:
            await again.stop()

    asyncio.run(run())

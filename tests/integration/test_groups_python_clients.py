"""Consumer groups with kafka-python and aiokafka: three members share six partitions,
and a restarted member resumes at the group's committed offset."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition as AioTP
from kafka import KafkaConsumer
from kafka import TopicPartition as KpTP

from snakafka.testing.process import BrokerProcess

from .group_clients import SESSION_MS, is_settled, produce_numbered
from .helpers import confluent_create_topic


def test_kafka_python_group(broker: BrokerProcess, topic_name: str) -> None:
    """kafka-python joins inside poll(), blocking until the rebalance completes, so each
    member polls in its own thread (as each would in its own service). The owner of
    partition 0 commits from its own thread while all keep polling: a consumer is not
    thread-safe, and a rebalance (the leader rejoins when it first sees the topic's
    metadata) only completes while every member polls."""
    import threading

    from kafka.errors import CommitFailedError
    from kafka.structs import OffsetAndMetadata

    confluent_create_topic(broker.bootstrap, topic_name, 6)
    produce_numbered(broker.bootstrap, topic_name, 60, 6)
    group = f"kp-{uuid.uuid4().hex[:8]}"
    cs = [KafkaConsumer(topic_name, bootstrap_servers=broker.bootstrap, group_id=group, auto_offset_reset="earliest",
                        enable_auto_commit=False, session_timeout_ms=SESSION_MS, heartbeat_interval_ms=500)
          for _ in range(3)]
    stop, commit_now, committed = threading.Event(), threading.Event(), threading.Event()
    assigned: list[set[int]] = [set(), set(), set()]
    retried: list[str] = []

    def loop(i: int) -> None:
        while not stop.is_set():
            cs[i].poll(timeout_ms=100)
            assigned[i] = {tp.partition for tp in cs[i].assignment()}
            if commit_now.is_set() and not committed.is_set() and 0 in assigned[i]:
                try:
                    cs[i].commit({KpTP(topic_name, 0): OffsetAndMetadata(4, "", -1)})
                    committed.set()
                except CommitFailedError as exc:  # a rebalance began: poll on, then commit again
                    retried.append(str(exc))

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(3)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if is_settled(list(assigned), set(range(6)), [2, 2, 2]):
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"kafka-python group never settled: {assigned}")
        commit_now.set()
        assert committed.wait(30), f"partition 0's owner could not commit: {retried}"
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    for c in cs:
        c.close()
    again = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False)
    try:
        assert again.committed(KpTP(topic_name, 0)) == 4
        again.assign([KpTP(topic_name, 0)])
        assert again.position(KpTP(topic_name, 0)) == 4, "a member of the group resumes at the committed offset"
        resumed = again.poll(timeout_ms=10_000, max_records=1)
        assert [r.offset for rs in resumed.values() for r in rs] == [4]
    finally:
        again.close()


def test_aiokafka_group(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 6)
    produce_numbered(broker.bootstrap, topic_name, 60, 6)
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
                if is_settled(got, set(range(6)), [2, 2, 2]):
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

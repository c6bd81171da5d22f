"""aiokafka against a real snakafka broker subprocess: AIOKafkaAdminClient,
AIOKafkaProducer, AIOKafkaConsumer with assign() and no group (asyncio.run per test)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    InvalidPartitionsError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    UnknownTopicOrPartitionError,
)

from integration.helpers import (
    BASE_TS,
    CODECS,
    CREATE_TIME,
    LARGE_VALUE_SIZE,
    LOG_APPEND_TIME,
    Rec,
    Send,
    assert_stored_codec,
    check_log,
    large_send,
    norm_headers,
    now_ms,
    offsets_for_times_sends,
    timestamp_type_name,
    workload,
)
from snakafka.testing.process import BrokerProcess

TIMEOUT_MS = 10_000
T = TypeVar("T")

# Kafka error codes as numbers: aiokafka's admin returns raw responses
NONE, TOPIC_ALREADY_EXISTS, UNKNOWN_TOPIC_OR_PARTITION = 0, 36, 3
DYNAMIC_TOPIC_CONFIG, DEFAULT_CONFIG = 1, 5


def run(coro_fn: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro_fn(), timeout)
    return asyncio.run(bounded())


async def admin_client(bootstrap: str) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS)
    await admin.start()
    return admin


async def wait_for(pred: Callable[[], Awaitable[Any]], timeout: float = 10, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await pred()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def create_topic(bootstrap: str, name: str, partitions: int, configs: dict[str, str] | None = None) -> None:
    admin = await admin_client(bootstrap)
    try:
        resp = await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})], timeout_ms=TIMEOUT_MS)
        assert [(t[0], t[1]) for t in resp.topic_errors] == [(name, NONE)], resp
        async def ready() -> bool:
            [t] = await admin.describe_topics([name])
            return t["error_code"] == 0 and len(t["partitions"]) == partitions
        await wait_for(ready, what=f"{name} in metadata")
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, sends: Sequence[Send], **conf: Any) -> list[Rec]:
    config: dict[str, Any] = {"bootstrap_servers": bootstrap, "linger_ms": 5, "request_timeout_ms": TIMEOUT_MS}
    config.update(conf)
    producer = AIOKafkaProducer(**config)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=s.value, key=s.key, partition=s.partition, timestamp_ms=s.timestamp,
                                       headers=list(s.headers) or None) for s in sends]
        out = []
        for s, f in zip(sends, futures, strict=True):
            md = await f
            out.append(Rec(md.partition, md.offset, s.key, s.value, norm_headers(s.headers), md.timestamp,
                           timestamp_type_name(md.timestamp_type)))
        return out
    finally:
        await producer.stop()


async def consume(bootstrap: str, topic: str, partitions: Iterable[int], timeout: float = 20, **conf: Any) -> list[Rec]:
    config: dict[str, Any] = {"bootstrap_servers": bootstrap, "group_id": None, "enable_auto_commit": False,
                              "auto_offset_reset": "earliest", "fetch_max_wait_ms": 100, "request_timeout_ms": TIMEOUT_MS}
    config.update(conf)
    consumer = AIOKafkaConsumer(**config)
    await consumer.start()
    parts = [TopicPartition(topic, p) for p in partitions]
    try:
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        out: list[Rec] = []
        deadline = time.monotonic() + timeout
        while True:
            positions = {tp: await consumer.position(tp) for tp in parts}
            if all(positions[tp] >= ends[tp] for tp in parts):
                break
            assert time.monotonic() < deadline, f"consume timed out at {positions}, ends {ends}"
            batches = await consumer.getmany(*parts, timeout_ms=200)
            for records in batches.values():
                for r in records:
                    out.append(Rec(r.partition, r.offset, r.key, r.value, norm_headers(r.headers), r.timestamp,
                                   timestamp_type_name(r.timestamp_type)))
        return out
    finally:
        await consumer.stop()


def _configs(resp: Any) -> dict[str, tuple[str, int]]:
    [r] = [r for response in resp for r in response.resources]
    assert r[0] == NONE, r
    return {e[0]: (e[1], e[3]) for e in r[4]}  # name -> (value, source)


# -- admin -------------------------------------------------------------------------------


def test_admin_create_list_describe_alter_partitions_delete(broker: BrokerProcess, topic_name: str) -> None:
    async def main() -> None:
        admin = await admin_client(broker.bootstrap)
        try:
            resp = await admin.create_topics([NewTopic(topic_name, 3, 1, topic_configs={"retention.ms": "3600000",
                                                                                       "cleanup.policy": "compact"})])
            assert [(t[0], t[1]) for t in resp.topic_errors] == [(topic_name, NONE)]
            assert topic_name in await admin.list_topics()
            [t] = await admin.describe_topics([topic_name])
            assert t["error_code"] == 0 and t["topic"] == topic_name and t["is_internal"] is False
            parts = sorted(t["partitions"], key=lambda p: p["partition"])
            assert [(p["partition"], p["leader"], p["replicas"], p["isr"], p["error_code"]) for p in parts] == \
                [(i, 0, [0], [0], 0) for i in range(3)]

            res = ConfigResource(ConfigResourceType.TOPIC, topic_name)
            cfg = _configs(await admin.describe_configs([res]))
            assert cfg["retention.ms"] == ("3600000", DYNAMIC_TOPIC_CONFIG)
            assert cfg["cleanup.policy"] == ("compact", DYNAMIC_TOPIC_CONFIG)
            assert cfg["segment.bytes"] == ("1073741824", DEFAULT_CONFIG)
            assert cfg["message.timestamp.type"] == ("CreateTime", DEFAULT_CONFIG)
            # only the named keys when asked for some
            named = _configs(await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic_name,
                                                                          {"retention.ms": None})]))
            assert set(named) == {"retention.ms"}

            resp = await admin.create_topics([NewTopic(topic_name, 1, 1)])
            assert [t[1] for t in resp.topic_errors] == [TOPIC_ALREADY_EXISTS]

            resp = await admin.create_partitions({topic_name: NewPartitions(6)})
            assert [t[1] for t in resp.topic_errors] == [NONE]
            async def six() -> bool:
                return len((await admin.describe_topics([topic_name]))[0]["partitions"]) == 6
            await wait_for(six, what="6 partitions")
            with pytest.raises(InvalidPartitionsError):
                await admin.create_partitions({topic_name: NewPartitions(2)})

            # AlterConfigs (not incremental) replaces the whole set of overrides
            resp = await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic_name, {"retention.ms": "1000"})])
            assert [r[0] for response in resp for r in response.resources] == [NONE]
            cfg = _configs(await admin.describe_configs([res]))
            assert cfg["retention.ms"] == ("1000", DYNAMIC_TOPIC_CONFIG)
            assert cfg["cleanup.policy"] == ("delete", DEFAULT_CONFIG)

            resp = await admin.delete_topics([topic_name])
            assert [(t[0], t[1]) for t in resp.topic_error_codes] == [(topic_name, NONE)]
            async def gone() -> bool:
                return topic_name not in await admin.list_topics()
            await wait_for(gone, what="topic gone")
            resp = await admin.delete_topics([topic_name])
            assert [t[1] for t in resp.topic_error_codes] == [UNKNOWN_TOPIC_OR_PARTITION]
        finally:
            await admin.close()
    run(main)


def test_delete_topic_without_auto_create(noauto_broker: BrokerProcess, topic_name: str) -> None:
    bootstrap = noauto_broker.bootstrap

    async def main() -> None:
        await create_topic(bootstrap, topic_name, 2)
        acked = await produce(bootstrap, topic_name, [Send(b"k", b"before", (), BASE_TS, partition=1)])
        assert (acked[0].partition, acked[0].offset) == (1, 0)
        admin = await admin_client(bootstrap)
        try:
            await admin.delete_topics([topic_name])
            async def gone() -> bool:
                return topic_name not in await admin.list_topics()
            await wait_for(gone, what="topic gone")
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=2000)
            await producer.start()
            try:
                # the topic never shows up in metadata again
                with pytest.raises((KafkaTimeoutError, UnknownTopicOrPartitionError)):
                    await asyncio.wait_for(producer.send_and_wait(topic_name, b"after"), 10)
            finally:
                await producer.stop()
            assert topic_name not in await admin.list_topics()
        finally:
            await admin.close()
    run(main)


# -- produce / consume ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["acks1", "idempotent-acks-all"])
def test_roundtrip_keyed_null_explicit_with_headers(broker: BrokerProcess, topic_name: str, mode: str) -> None:
    conf = {"acks": 1} if mode == "acks1" else {"acks": "all", "enable_idempotence": True}

    async def main() -> None:
        await create_topic(broker.bootstrap, topic_name, 3)
        sends = workload(3, keyed=20, null_key=8, explicit=9)
        acked = await produce(broker.bootstrap, topic_name, sends, **conf)
        # (only the type: aiokafka 0.14's MessageBatch.done() gives every record of a batch
        # the first record's CreateTime in its RecordMetadata, a client quirk)
        assert [a.timestamp_type for a in acked] == [CREATE_TIME] * len(sends)
        check_log(sends, acked, await consume(broker.bootstrap, topic_name, range(3)))
    run(main)


@pytest.mark.parametrize("codec", CODECS)
def test_compression(broker: BrokerProcess, topic_name: str, codec: str) -> None:
    async def main() -> None:
        await create_topic(broker.bootstrap, topic_name, 2)
        sends = workload(2, keyed=30, null_key=10, explicit=10, tag=codec, value_size=300)
        acked = await produce(broker.bootstrap, topic_name, sends, compression_type=codec, linger_ms=20)
        check_log(sends, acked, await consume(broker.bootstrap, topic_name, range(2)))
    run(main)
    assert_stored_codec(broker.bootstrap, topic_name, range(2), codec)


def test_large_record_near_one_megabyte(broker: BrokerProcess, topic_name: str) -> None:
    async def main() -> None:
        await create_topic(broker.bootstrap, topic_name, 1)
        sends = [Send(b"a", b"before", (), BASE_TS, partition=0), large_send(0, BASE_TS + 1),
                 Send(b"b", b"after", (), BASE_TS + 2, partition=0)]
        acked = await produce(broker.bootstrap, topic_name, sends, max_request_size=1_048_576 + 1024)
        assert [a.offset for a in acked] == [0, 1, 2]
        consumed = await consume(broker.bootstrap, topic_name, [0])
        large = consumed[1].value
        assert large is not None and len(large) == LARGE_VALUE_SIZE
        check_log(sends, acked, consumed)
    run(main)


def test_batch_above_topic_max_message_bytes(broker: BrokerProcess, topic_name: str) -> None:
    async def main() -> None:
        await create_topic(broker.bootstrap, topic_name, 1, {"max.message.bytes": "5000"})
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, request_timeout_ms=TIMEOUT_MS)
        await producer.start()
        try:
            with pytest.raises(MessageSizeTooLargeError):
                await asyncio.wait_for(producer.send_and_wait(topic_name, b"x" * 8000, partition=0), 15)
            md = await producer.send_and_wait(topic_name, b"fits", partition=0)
            assert md.offset == 0
        finally:
            await producer.stop()
    run(main)


def test_log_append_time(broker: BrokerProcess, topic_name: str) -> None:
    async def main() -> None:
        await create_topic(broker.bootstrap, topic_name, 2, {"message.timestamp.type": "LogAppendTime"})
        sends = workload(2, keyed=6, null_key=4, explicit=4, tag="lat")
        before = now_ms()
        acked = await produce(broker.bootstrap, topic_name, sends)
        after = now_ms()
        for a in acked:
            assert a.timestamp_type == LOG_APPEND_TIME, a
            assert before - 5 <= a.timestamp <= after + 5, (before, a.timestamp, after)
        consumed = await consume(broker.bootstrap, topic_name, range(2))
        check_log(sends, acked, consumed, timestamp_type=LOG_APPEND_TIME, append_window=(before - 5, after + 5))
        acked_ts = {(a.partition, a.offset): a.timestamp for a in acked}
        assert all(r.timestamp == acked_ts[(r.partition, r.offset)] for r in consumed)
    run(main)


def test_offsets_for_times(broker: BrokerProcess, topic_name: str) -> None:
    async def main() -> None:
        await create_topic(broker.bootstrap, topic_name, 2)
        sends = offsets_for_times_sends(partition=1, n=10, step=1000)
        acked = await produce(broker.bootstrap, topic_name, sends[:6])
        acked += await produce(broker.bootstrap, topic_name, sends[6:])
        assert [a.offset for a in acked] == list(range(10))
        tp0, tp1 = TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False,
                                    request_timeout_ms=TIMEOUT_MS, fetch_max_wait_ms=100)
        await consumer.start()
        try:
            async def lookup(ts: int, tp: TopicPartition = tp1) -> tuple[int, int] | None:
                found = (await consumer.offsets_for_times({tp: ts}))[tp]
                return None if found is None else (found.offset, found.timestamp)
            assert await lookup(BASE_TS + 5500) == (6, BASE_TS + 6000)  # first of the second batch
            assert await lookup(BASE_TS + 1) == (1, BASE_TS + 1000)
            assert await lookup(BASE_TS + 8000) == (8, BASE_TS + 8000)
            assert await lookup(0) == (0, BASE_TS)
            assert await lookup(BASE_TS + 10_000) is None
            assert await lookup(BASE_TS, tp0) is None
            assert await consumer.beginning_offsets([tp0, tp1]) == {tp0: 0, tp1: 0}
            assert await consumer.end_offsets([tp0, tp1]) == {tp0: 0, tp1: 10}
            consumer.assign([tp1])
            found = await lookup(BASE_TS + 7200)
            assert found is not None
            consumer.seek(tp1, found[0])
            msg = await asyncio.wait_for(consumer.getone(), 10)
            assert (msg.offset, msg.value, msg.timestamp) == (8, b"ts-8", BASE_TS + 8000)
        finally:
            await consumer.stop()
    run(main)


def test_out_of_range_position_resets_to_earliest(broker: BrokerProcess, topic_name: str) -> None:
    async def main() -> None:
        await create_topic(broker.bootstrap, topic_name, 1)
        await produce(broker.bootstrap, topic_name, [Send(None, b"r%d" % i, (), BASE_TS + i, partition=0) for i in range(4)])
        tp = TopicPartition(topic_name, 0)
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest", request_timeout_ms=TIMEOUT_MS, fetch_max_wait_ms=100)
        await consumer.start()
        try:
            consumer.assign([tp])
            consumer.seek(tp, 1000)  # past the end: OFFSET_OUT_OF_RANGE, then the reset
            got: list[Any] = []
            while len(got) < 4:
                batches = await asyncio.wait_for(consumer.getmany(tp, timeout_ms=200), 15)
                got += batches.get(tp, [])
            assert [(r.offset, r.value) for r in got] == [(i, b"r%d" % i) for i in range(4)]
        finally:
            await consumer.stop()
    run(main, timeout=30)

"""Transactions (KIP-98) with confluent-kafka (librdkafka) against a snakafka broker
subprocess: commit and abort as read_committed and read_uncommitted consumers see them,
fencing of a zombie producer by a new instance with the same transactional.id,
consume-transform-produce with send_offsets_to_transaction, and the abort of a
transaction that outlives its timeout.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from integration.helpers import confluent_consume, confluent_create_topic
from snakafka.testing.process import BrokerProcess

COMMITTED = {"isolation.level": "read_committed"}
UNCOMMITTED = {"isolation.level": "read_uncommitted"}
FENCED = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}


def txn_producer(bootstrap: str, transactional_id: str, **conf: Any) -> Producer:
    full = {"bootstrap.servers": bootstrap, "transactional.id": transactional_id, "linger.ms": 5}
    full.update(conf)
    p = Producer(full)
    p.init_transactions(30)
    return p


def values(bootstrap: str, topic: str, partitions: int = 1, conf: dict[str, str] | None = None) -> list[bytes]:
    return [r.value for r in confluent_consume(bootstrap, topic, range(partitions), conf=conf) if r.value is not None]


def produce_txn(p: Producer, topic: str, vals: list[bytes], *, commit: bool, partitions: int = 1) -> None:
    p.begin_transaction()
    for i, v in enumerate(vals):
        p.produce(topic, value=v, partition=i % partitions)
    p.flush(30)  # on the broker before the end, so an abort has records to hide
    if commit:
        p.commit_transaction(30)
    else:
        p.abort_transaction(30)


def test_commit_and_abort_as_consumers_see_them(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    p = txn_producer(broker.bootstrap, f"tx-{topic_name}")
    produce_txn(p, topic_name, [b"c1-%d" % i for i in range(6)], commit=True, partitions=2)
    produce_txn(p, topic_name, [b"a1-%d" % i for i in range(6)], commit=False, partitions=2)
    produce_txn(p, topic_name, [b"c2-%d" % i for i in range(6)], commit=True, partitions=2)
    p.flush(10)
    committed = sorted(values(broker.bootstrap, topic_name, 2, COMMITTED))
    assert committed == sorted([b"c1-%d" % i for i in range(6)] + [b"c2-%d" % i for i in range(6)])
    everything = sorted(values(broker.bootstrap, topic_name, 2, UNCOMMITTED))
    assert everything == sorted(committed + [b"a1-%d" % i for i in range(6)])


def test_open_transaction_is_invisible_until_commit(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 1)
    confluent_create_topic(broker.bootstrap, topic_name + "-plain", 1)
    p = txn_producer(broker.bootstrap, f"tx-{topic_name}")
    p.begin_transaction()
    for i in range(3):
        p.produce(topic_name, value=b"open-%d" % i)
    p.flush(30)
    # read_committed stops at the last stable offset: the open transaction is not read
    assert values(broker.bootstrap, topic_name, conf=COMMITTED) == []
    assert values(broker.bootstrap, topic_name, conf=UNCOMMITTED) == [b"open-0", b"open-1", b"open-2"]
    p.commit_transaction(30)
    assert values(broker.bootstrap, topic_name, conf=COMMITTED) == [b"open-0", b"open-1", b"open-2"]


def test_new_instance_fences_the_old_one(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 1)
    tid = f"tx-{topic_name}"
    old = txn_producer(broker.bootstrap, tid)
    old.begin_transaction()
    old.produce(topic_name, value=b"zombie")
    old.flush(30)
    new = txn_producer(broker.bootstrap, tid)  # aborts the old instance's transaction, bumps the epoch
    with pytest.raises(KafkaException) as caught:
        old.produce(topic_name, value=b"zombie-2")
        old.commit_transaction(30)
    error = caught.value.args[0]
    assert error.fatal() or error.code() in FENCED, error
    produce_txn(new, topic_name, [b"fresh"], commit=True)
    assert values(broker.bootstrap, topic_name, conf=COMMITTED) == [b"fresh"]
    assert b"zombie" in values(broker.bootstrap, topic_name, conf=UNCOMMITTED)


def _group_consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                     "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                     "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000})


def _poll_n(c: Consumer, n: int, timeout: float = 30.0) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(got) < n:
        assert time.monotonic() < deadline, f"got {len(got)} of {n} records"
        msg = c.poll(0.2)
        if msg is None:
            continue
        assert msg.error() is None, msg.error()
        got.append(msg)
    return got


def _committed(bootstrap: str, group: str, topic: str, isolation: str = "read_committed", timeout: float = 10) -> int:
    """The group's committed offset. A read_committed consumer asks for stable offsets
    (OffsetFetch require_stable): while a transaction holds offsets of the partition the
    broker answers UNSTABLE_OFFSET_COMMIT and librdkafka retries until it ends."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                  "isolation.level": isolation})
    try:
        return int(c.committed([TopicPartition(topic, 0)], timeout=timeout)[0].offset)
    finally:
        c.close()


def test_send_offsets_to_transaction(broker: BrokerProcess, topic_name: str) -> None:
    source, sink, group = topic_name, topic_name + "-out", f"g-{topic_name}"
    confluent_create_topic(broker.bootstrap, source, 1)
    confluent_create_topic(broker.bootstrap, sink, 1)
    feeder = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(10):
        feeder.produce(source, value=b"%d" % i)
    feeder.flush(10)
    c = _group_consumer(broker.bootstrap, group)
    c.subscribe([source])
    p = txn_producer(broker.bootstrap, f"tx-{topic_name}")
    try:
        def transform(batch: list[Any], commit: bool) -> None:
            p.begin_transaction()
            for msg in batch:
                p.produce(sink, value=b"out-" + msg.value())
            last = batch[-1]
            p.send_offsets_to_transaction([TopicPartition(source, 0, last.offset() + 1)],
                                          c.consumer_group_metadata(), 30)
            p.flush(30)
            if commit:
                p.commit_transaction(30)
            else:
                p.abort_transaction(30)

        transform(_poll_n(c, 5), commit=True)
        assert _committed(broker.bootstrap, group, source) == 5
        rest = _poll_n(c, 5)
        p.begin_transaction()
        for msg in rest:
            p.produce(sink, value=b"out-" + msg.value())
        p.send_offsets_to_transaction([TopicPartition(source, 0, rest[-1].offset() + 1)],
                                      c.consumer_group_metadata(), 30)
        p.flush(30)
        # the offsets are written but pending: not committed until the transaction is
        assert _committed(broker.bootstrap, group, source, "read_uncommitted") == 5
        with pytest.raises(KafkaException, match="Timed out"):
            _committed(broker.bootstrap, group, source, "read_committed", timeout=2)  # unstable: waits
        p.abort_transaction(30)
        assert _committed(broker.bootstrap, group, source) == 5, "aborted offsets were discarded"
    finally:
        c.close()
    assert values(broker.bootstrap, sink, conf=COMMITTED) == [b"out-%d" % i for i in range(5)]
    # a new member of the group resumes from the committed offset, 5
    c2 = _group_consumer(broker.bootstrap, group)
    c2.subscribe([source])
    try:
        assert [m.value() for m in _poll_n(c2, 5)] == [b"%d" % i for i in range(5, 10)]
    finally:
        c2.close()


@pytest.fixture
def quick_abort_broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    """A broker that looks for timed-out transactions every 200 ms (Kafka: 10 s)."""
    proc = BrokerProcess(tmp_path / "data", overrides={
        "group.initial.rebalance.delay.ms": "0",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms": "200",
    })
    proc.start()
    yield proc
    proc.stop()


def test_transaction_timeout_aborts_and_fences(quick_abort_broker: BrokerProcess, topic_name: str) -> None:
    bootstrap = quick_abort_broker.bootstrap
    confluent_create_topic(bootstrap, topic_name, 1)
    p = txn_producer(bootstrap, f"tx-{uuid.uuid4().hex[:8]}", **{"transaction.timeout.ms": 1500,
                                                                 "message.timeout.ms": 1500})
    p.begin_transaction()
    p.produce(topic_name, value=b"too-slow")
    p.flush(30)
    time.sleep(3)  # the coordinator aborts the transaction (and bumps the epoch)
    # The abort's marker makes the partition stable again: read_committed reads past it.
    assert values(bootstrap, topic_name, conf=COMMITTED) == []
    assert values(bootstrap, topic_name, conf=UNCOMMITTED) == [b"too-slow"]
    with pytest.raises(KafkaException):
        p.commit_transaction(30)

"""Durability across broker restarts: clean (SIGTERM) and kill -9 in the middle of a
produce load. Every acknowledged record must still be at its acknowledged offset,
offsets continue without gap or reuse, and topics, partition counts and topic configs
survive. Deleting a topic removes its data directory.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import ConfigResource, NewPartitions

from integration.helpers import (
    BASE_TS,
    LOG_APPEND_TIME,
    Rec,
    Send,
    by_partition,
    check_log,
    confluent_admin,
    confluent_consume,
    confluent_consumer,
    confluent_create_topic,
    confluent_produce,
    confluent_producer,
    now_ms,
    wait_until,
    workload,
)
from snakafka.testing.process import BrokerProcess

pytestmark = pytest.mark.slow
TIMEOUT = 10


@pytest.fixture
def durable_broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    """A broker of the test's own; deleted logs are removed 100 ms after deletion."""
    proc = BrokerProcess(tmp_path / "data", overrides={"log.segment.delete.delay.ms": "100",
                                                       "group.initial.rebalance.delay.ms": "0"})
    proc.start()
    yield proc
    proc.kill() if proc.proc is not None and proc.proc.poll() is None else None


def describe(bootstrap: str, topic: str) -> dict[str, Any]:
    admin = confluent_admin(bootstrap)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return {k: v.value for k, v in admin.describe_configs([res], request_timeout=TIMEOUT)[res].result(TIMEOUT).items()}


def partition_counts(bootstrap: str) -> dict[str, int]:
    md = confluent_admin(bootstrap).list_topics(timeout=TIMEOUT)
    return {name: len(t.partitions) for name, t in md.topics.items() if t.error is None and not name.startswith("__")}


def restart(broker: BrokerProcess, *, kill: bool) -> None:
    if kill:
        broker.kill()
        assert broker.proc is not None and broker.proc.returncode == -9
    else:
        assert broker.stop() == 0, "clean stop did not exit 0"
    broker.start()


# -- clean restart -----------------------------------------------------------------------


def test_clean_restart_keeps_topics_configs_and_records(durable_broker: BrokerProcess) -> None:
    b = durable_broker
    a, lat = f"dur-a-{uuid.uuid4().hex[:6]}", f"dur-lat-{uuid.uuid4().hex[:6]}"
    confluent_create_topic(b.bootstrap, a, 3, {"retention.ms": "987654321", "cleanup.policy": "delete"})
    confluent_create_topic(b.bootstrap, lat, 1, {"message.timestamp.type": "LogAppendTime"})
    admin = confluent_admin(b.bootstrap)
    admin.create_partitions([NewPartitions(a, 4)], request_timeout=TIMEOUT)[a].result(TIMEOUT)
    wait_until(lambda: partition_counts(b.bootstrap).get(a) == 4, TIMEOUT, message="4 partitions")

    sends = workload(4, keyed=30, null_key=10, explicit=12, value_size=100)
    acked = confluent_produce(b.bootstrap, a, sends)
    before = now_ms()
    lat_sends = [Send(b"k", b"lat-%d" % i, (), BASE_TS, partition=0) for i in range(5)]
    lat_acked = confluent_produce(b.bootstrap, lat, lat_sends)
    after = now_ms()

    restart(b, kill=False)
    assert (b.data_dir / ".kafka_cleanshutdown").exists() is False, "the clean-shutdown marker must be consumed at start"
    counts = partition_counts(b.bootstrap)
    assert counts.get(a) == 4 and counts.get(lat) == 1, counts
    cfg = describe(b.bootstrap, a)
    assert (cfg["retention.ms"], cfg["cleanup.policy"]) == ("987654321", "delete")
    assert describe(b.bootstrap, lat)["message.timestamp.type"] == "LogAppendTime"

    check_log(sends, acked, confluent_consume(b.bootstrap, a, range(4)))
    lat_got = confluent_consume(b.bootstrap, lat, [0])
    check_log(lat_sends, lat_acked, lat_got, timestamp_type=LOG_APPEND_TIME, append_window=(before - 5, after + 5))
    assert [r.timestamp for r in lat_got] == [r.timestamp for r in lat_acked], "append times changed over a restart"

    # offsets continue where they were, on every partition
    ends = {p: len(rs) for p, rs in by_partition(acked).items()}
    more = [Send(None, b"after-restart-%d" % p, (), BASE_TS + 99, partition=p) for p in range(4)]
    more_acked = confluent_produce(b.bootstrap, a, more)
    assert [(r.partition, r.offset) for r in more_acked] == [(p, ends.get(p, 0)) for p in range(4)]
    check_log(sends + more, acked + more_acked, confluent_consume(b.bootstrap, a, range(4)))

    # a second clean restart right away (no new writes to some partitions) is fine too
    restart(b, kill=False)
    check_log(sends + more, acked + more_acked, confluent_consume(b.bootstrap, a, range(4)))


def test_clean_stop_writes_marker_and_checkpoints(durable_broker: BrokerProcess) -> None:
    """Kafka's on-disk layout after a clean stop: the .kafka_cleanshutdown marker, the
    checkpoint files and a <topic>-<partition> directory per partition."""
    b = durable_broker
    t = f"dur-layout-{uuid.uuid4().hex[:6]}"
    confluent_create_topic(b.bootstrap, t, 2)
    confluent_produce(b.bootstrap, t, [Send(None, b"x", (), BASE_TS, partition=1)])
    assert b.stop() == 0
    names = {p.name for p in b.data_dir.iterdir()}
    assert ".kafka_cleanshutdown" in names, names
    assert {"recovery-point-offset-checkpoint", "meta.properties"} <= names, names
    assert {f"{t}-0", f"{t}-1"} <= names, names
    assert (b.data_dir / f"{t}-1" / "00000000000000000000.log").stat().st_size > 0
    b.start()
    assert [r.value for r in confluent_consume(b.bootstrap, t, [1])] == [b"x"]


# -- kill -9 under load ------------------------------------------------------------------


class LoadProducer(threading.Thread):
    """Produces as fast as it can (acks per `acks`), round-robin over partitions with
    explicit partition numbers, recording every acknowledged (partition, offset, value)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, acks: str, tag: str) -> None:
        super().__init__(daemon=True)
        self.topic, self.partitions, self.tag = topic, partitions, tag
        self.producer = confluent_producer(bootstrap, {"acks": acks, "linger.ms": 2, "message.timeout.ms": 1000,
                                                       "retries": 0, "queue.buffering.max.messages": 20000,
                                                       "socket.timeout.ms": 2000})
        self.acked: list[tuple[int, int, bytes]] = []
        self.failed = 0
        self.sent = 0
        self.stop_flag = threading.Event()

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is None:
            self.acked.append((msg.partition(), msg.offset(), msg.value()))
        else:
            self.failed += 1

    def run(self) -> None:
        while not self.stop_flag.is_set():
            value = b"%s-%08d-%s" % (self.tag.encode(), self.sent, b"p" * 60)
            try:
                self.producer.produce(self.topic, value, partition=self.sent % self.partitions, on_delivery=self._on_delivery)
                self.sent += 1
            except BufferError:
                self.producer.poll(0.01)
            self.producer.poll(0)
        # the broker is gone: whatever is in flight fails after message.timeout.ms
        self.producer.flush(15)

    def finish(self) -> None:
        self.stop_flag.set()
        self.join(30)
        assert not self.is_alive(), "load producer did not finish"


def run_load_and_kill(broker: BrokerProcess, topic: str, partitions: int, acks: str, tag: str,
                      min_acked: int = 3000, *, clean: bool = False) -> list[tuple[int, int, bytes]]:
    """Start the load, wait for `min_acked` acks, then kill -9 the broker (or SIGTERM it
    when `clean`) while the producer is still producing."""
    load = LoadProducer(broker.bootstrap, topic, partitions, acks, tag)
    load.start()
    wait_until(lambda: len(load.acked) >= min_acked, 30, interval=0.02, message=f"{min_acked} acks")
    assert load.is_alive() and not load.stop_flag.is_set()
    in_flight_at_kill = load.sent - len(load.acked)
    if clean:
        assert broker.stop() == 0, "SIGTERM under load did not exit 0"
        assert (broker.data_dir / ".kafka_cleanshutdown").exists(), "clean stop under load left no clean-shutdown marker"
    else:
        broker.kill()
    load.finish()
    assert load.acked, "nothing acknowledged"
    assert in_flight_at_kill > 0, "the load had stopped before the kill"
    return load.acked


def verify_acked(broker: BrokerProcess, topic: str, partitions: int,
                 acked: Sequence[tuple[int, int, bytes | None]]) -> dict[int, int]:
    """Every acked record at its offset; offsets contiguous from 0; time lookups agree
    with the records (the time indexes were rebuilt right); returns the end offsets."""
    consumed = confluent_consume(broker.bootstrap, topic, range(partitions), timeout=60)
    check_time_lookups(broker, topic, consumed)
    got = by_partition(consumed)
    ends = {}
    for p in range(partitions):
        recs = got.get(p, [])
        assert [r.offset for r in recs] == list(range(len(recs))), f"partition {p}: offsets not contiguous from 0"
        ends[p] = len(recs)
    at = {(r.partition, r.offset): r.value for r in consumed}
    missing = [(p, o) for p, o, v in acked if at.get((p, o)) != v]
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged records lost or changed, first {missing[:5]}"
    return ends


def check_time_lookups(broker: BrokerProcess, topic: str, consumed: list[Rec]) -> None:
    """offsets_for_times(T) is the first offset, in offset order, with a timestamp >= T."""
    consumer = confluent_consumer(broker.bootstrap)
    try:
        for p, recs in by_partition(consumed).items():
            for r in recs[:: max(1, len(recs) // 6)] + recs[-1:]:
                want = next(x.offset for x in recs if x.timestamp >= r.timestamp)
                [tp] = consumer.offsets_for_times([TopicPartition(topic, p, r.timestamp)], timeout=TIMEOUT)
                assert tp.offset == want, f"partition {p}: lookup of {r.timestamp} gave {tp.offset}, records say {want}"
    finally:
        consumer.close()


@pytest.mark.parametrize("acks,stop", [("1", "kill-9"), ("all", "kill-9"), ("all", "sigterm")])
def test_restart_during_produce_load(durable_broker: BrokerProcess, acks: str, stop: str) -> None:
    b = durable_broker
    clean = stop == "sigterm"
    topic = f"dur-load-{acks}-{uuid.uuid4().hex[:6]}"
    partitions = 3
    # small segments: the load rolls several, and recovery walks them and their indexes
    confluent_create_topic(b.bootstrap, topic, partitions, {"retention.ms": "600000000", "segment.bytes": "50000"})

    acked = run_load_and_kill(b, topic, partitions, acks, "r1", clean=clean)
    b.start()
    assert partition_counts(b.bootstrap).get(topic) == partitions
    cfg = describe(b.bootstrap, topic)
    assert (cfg["retention.ms"], cfg["segment.bytes"]) == ("600000000", "50000")
    ends = verify_acked(b, topic, partitions, acked)
    for p in range(partitions):
        top = max((o for q, o, _ in acked if q == p), default=-1)
        assert ends[p] >= top + 1

    # a second load on the recovered log, killed again: both rounds' acks survive
    acked2 = run_load_and_kill(b, topic, partitions, acks, "r2", min_acked=1500, clean=clean)
    assert all(o >= ends[p] for p, o, _ in acked2), "offsets reused after recovery"
    b.start()
    ends2 = verify_acked(b, topic, partitions, acked + acked2)

    # producing more continues every partition's offsets without gap or reuse
    more = [Send(None, b"final-%d" % p, (), BASE_TS, partition=p) for p in range(partitions)]
    more_acked = confluent_produce(b.bootstrap, topic, more)
    assert [(r.partition, r.offset) for r in more_acked] == [(p, ends2[p]) for p in range(partitions)]
    final = verify_acked(b, topic, partitions, acked + acked2 + [(r.partition, r.offset, r.value) for r in more_acked])
    assert final == {p: ends2[p] + 1 for p in range(partitions)}
    segments = [len(list((b.data_dir / f"{topic}-{p}").glob("*.log"))) for p in range(partitions)]
    assert all(n > 1 for n in segments), f"the load was meant to roll segments: {segments}"


def test_kill9_keeps_topics_partitions_and_configs(durable_broker: BrokerProcess) -> None:
    """Metadata changes acknowledged just before a kill -9 survive it."""
    b = durable_broker
    t1, t2 = f"dur-md1-{uuid.uuid4().hex[:6]}", f"dur-md2-{uuid.uuid4().hex[:6]}"
    confluent_create_topic(b.bootstrap, t1, 2, {"max.message.bytes": "300000"})
    confluent_create_topic(b.bootstrap, t2, 5)
    admin = confluent_admin(b.bootstrap)
    admin.create_partitions([NewPartitions(t1, 3)], request_timeout=TIMEOUT)[t1].result(TIMEOUT)
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry
    res = ConfigResource(ConfigResource.Type.TOPIC, t2, incremental_configs=[
        ConfigEntry("retention.ms", "4242", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([res], request_timeout=TIMEOUT)[res].result(TIMEOUT)
    restart(b, kill=True)
    counts = partition_counts(b.bootstrap)
    assert (counts.get(t1), counts.get(t2)) == (3, 5), counts
    assert describe(b.bootstrap, t1)["max.message.bytes"] == "300000"
    assert describe(b.bootstrap, t2)["retention.ms"] == "4242"


# -- delete ------------------------------------------------------------------------------


def test_delete_topic_removes_its_data_directory(durable_broker: BrokerProcess) -> None:
    b = durable_broker
    gone, kept = f"dur-del-{uuid.uuid4().hex[:6]}", f"dur-keep-{uuid.uuid4().hex[:6]}"
    confluent_create_topic(b.bootstrap, gone, 3)
    confluent_create_topic(b.bootstrap, kept, 1)
    confluent_produce(b.bootstrap, gone, workload(3, keyed=10, null_key=0, explicit=3))
    kept_acked = confluent_produce(b.bootstrap, kept, [Send(None, b"stay", (), BASE_TS, partition=0)])

    def dirs_of(topic: str) -> list[str]:
        return sorted(p.name for p in b.data_dir.iterdir() if p.name.startswith(f"{topic}-"))

    assert dirs_of(gone) == [f"{gone}-0", f"{gone}-1", f"{gone}-2"]
    admin = confluent_admin(b.bootstrap)
    admin.delete_topics([gone], request_timeout=TIMEOUT)[gone].result(TIMEOUT)
    wait_until(lambda: gone not in partition_counts(b.bootstrap), TIMEOUT, message="topic gone from metadata")
    # renamed <topic>-<p>.<id>-delete at once, removed after file.delete.delay.ms (100 ms here)
    wait_until(lambda: dirs_of(gone) == [], 15, interval=0.1, message=f"data directories of {gone} removed")
    assert dirs_of(kept) == [f"{kept}-0"]

    # the deletion survives a restart: the topic does not come back, the other one stays
    restart(b, kill=False)
    counts = partition_counts(b.bootstrap)
    assert gone not in counts and counts.get(kept) == 1
    assert dirs_of(gone) == []
    got = confluent_consume(b.bootstrap, kept, [0])
    assert [(r.offset, r.value) for r in got] == [(kept_acked[0].offset, b"stay")]


def test_delete_then_kill9_before_removal(tmp_path: Path) -> None:
    """A topic deleted just before a crash stays deleted, and its renamed directories
    are cleaned up by the next start."""
    b = BrokerProcess(tmp_path / "data", overrides={"log.segment.delete.delay.ms": "60000"})
    b.start()
    try:
        t = f"dur-delkill-{uuid.uuid4().hex[:6]}"
        confluent_create_topic(b.bootstrap, t, 2)
        confluent_produce(b.bootstrap, t, [Send(None, b"x", (), BASE_TS, partition=0)])
        admin = confluent_admin(b.bootstrap)  # keep the handle alive until the future resolves
        admin.delete_topics([t], request_timeout=TIMEOUT)[t].result(TIMEOUT)
        wait_until(lambda: t not in partition_counts(b.bootstrap), TIMEOUT, message="topic gone")
        assert not (b.data_dir / f"{t}-0").exists(), "the live directory name must be gone right after deletion"
        renamed = [p.name for p in b.data_dir.iterdir() if p.name.startswith(f"{t}-")]
        assert len(renamed) == 2 and all(n.endswith("-delete") for n in renamed), renamed  # <topic>-<p>.<id>-delete
        restart(b, kill=True)
        assert t not in partition_counts(b.bootstrap)
        wait_until(lambda: not any(p.name.startswith(f"{t}-") for p in b.data_dir.iterdir()), 70, interval=0.2,
                   message="renamed directories removed after restart")
    finally:
        b.stop()

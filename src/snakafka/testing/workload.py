"""The client side of a fault test: an idempotent acks=all producer that remembers every
acknowledgement (and when it came), and a consumer that reads every partition back.

Needs confluent-kafka (the `test` extra), so nothing imports this module by default.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
import uuid
from collections import defaultdict
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from snakafka.testing.invariants import UNKNOWN, AckedRecord, ReadRecord

log = logging.getLogger(__name__)

# Fast enough for tests: a request to a silent broker is given up after 5 s (then
# retried elsewhere once metadata moves), and nothing is dropped within a minute.
PRODUCER_CONFIG: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "linger.ms": 5,
    "request.timeout.ms": 5000,
    "message.timeout.ms": 60000,
    "topic.metadata.refresh.interval.ms": 2000,
    "retry.backoff.ms": 50,
    "retry.backoff.max.ms": 500,
}


def seq_of(value: bytes) -> int:
    """The send index carried in a workload value (`v-<seq>-...`)."""
    return int(value.split(b"-", 2)[1])


class AckingProducer:
    """Sends records round robin to `partitions` partitions of `topic` from its own thread
    (a client is not shared between threads) until stop(). `acked` lists every
    acknowledged record; `ack_times[p]` the monotonic times of partition p's
    acknowledgements and `ack_sent[p]` when each of those records was handed to the
    client (for failover figures); `errors` failed deliveries, `fatal` the fatal
    errors librdkafka reported (the producer is then replaced by a new one)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, *, pause_s: float = 0.002,
                 config: dict[str, Any] | None = None) -> None:
        self.bootstrap, self.topic, self.partitions, self.pause_s = bootstrap, topic, partitions, pause_s
        self.config = {**PRODUCER_CONFIG, **(config or {})}
        self.acked: list[AckedRecord] = []
        self.ack_times: dict[int, list[float]] = defaultdict(list)
        self.ack_sent: dict[int, list[float]] = defaultdict(list)
        self._sent_at: list[float] = []  # by send index
        self.errors: list[str] = []
        self.fatal: list[str] = []
        self.without_offset: list[tuple[int, bytes]] = []
        self.sent = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._drain_s = 90.0
        self._thread = threading.Thread(target=self._run, name=f"producer-{topic}", daemon=True)

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.errors.append(str(err))
            return
        partition, offset, value = msg.partition(), msg.offset(), msg.value()
        if partition is None or not isinstance(value, bytes):
            self.errors.append(f"delivery report without partition or value: {msg!r}")
            return
        if offset is None or offset < 0:  # acknowledged, but the client did not learn where
            self.without_offset.append((partition, value))
            offset = UNKNOWN
        now = time.monotonic()
        seq = seq_of(value)
        with self._lock:
            self.acked.append(AckedRecord(partition, offset, value, seq))
            self.ack_times[partition].append(now)
            self.ack_sent[partition].append(self._sent_at[seq])

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self.fatal.append(str(err))
            log.warning("producer fatal error: %s", err)

    def _new_producer(self) -> Producer:
        return Producer({"bootstrap.servers": self.bootstrap, "error_cb": self._on_error, **self.config})

    def _run(self) -> None:
        producer = self._new_producer()
        fatal_seen = 0
        while not self._stop.is_set():
            if len(self.fatal) > fatal_seen:  # a fatal error ends a producer: carry on with a new one
                fatal_seen = len(self.fatal)
                self._drain(producer, 10)
                producer = self._new_producer()
            seq = self.sent
            value = f"v-{seq}-{uuid.uuid4().hex[:6]}".encode()
            self._sent_at.append(time.monotonic())  # before produce(): its callback may run at once
            try:
                producer.produce(self.topic, key=b"k%d" % seq, value=value, partition=seq % self.partitions,
                                 on_delivery=self._delivered)
                self.sent += 1
                producer.poll(0)
            except BufferError:
                self._sent_at.pop()
            except (KafkaException, SystemError) as exc:  # a fatal state: replaced at the top of the loop
                if len(self._sent_at) > self.sent:  # produce() itself failed
                    self._sent_at.pop()
                if len(self.fatal) == fatal_seen:
                    self.fatal.append(str(exc))
            time.sleep(self.pause_s)
        self._drain(producer, self._drain_s)

    def _drain(self, producer: Producer, timeout: float) -> None:
        """Wait for the deliveries still pending (a fatal producer fails them at once)."""
        try:
            producer.flush(timeout)
        except (KafkaException, SystemError) as exc:  # SystemError: confluent-kafka's wrapping of a fatal error
            self.fatal.append(str(exc))

    def start(self) -> AckingProducer:
        self._thread.start()
        return self

    def acked_count(self) -> int:
        return len(self.acked)

    def wait_for_more(self, count: int, timeout: float = 30.0, partition: int | None = None) -> bool:
        """Wait until `count` more records (of `partition`, if given) than now are
        acknowledged; False on timeout."""
        def current() -> int:
            return len(self.ack_times[partition]) if partition is not None else len(self.acked)
        target = current() + count
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if current() >= target:
                return True
            time.sleep(0.05)
        return False

    def first_ack_after(self, partition: int, moment: float) -> float | None:
        """The monotonic time of the first acknowledgement of a record of `partition`
        handed to the client after `moment`. Acknowledgements that arrive after `moment`
        for records sent before it do not count: a leader killed at `moment` may have
        written them, and their answers still reach the client, so they say nothing about
        when the partition took writes again."""
        with self._lock:
            times, sent = self.ack_times[partition], self.ack_sent[partition]
            for i in range(bisect.bisect_right(times, moment), len(times)):
                if sent[i] > moment:
                    return times[i]
            return None

    def stop(self, timeout: float = 120.0, drain_s: float = 90.0) -> None:
        """Stop sending and wait up to `drain_s` for the last deliveries (acknowledged or
        failed); those still pending then are simply not acknowledged."""
        self._drain_s = drain_s
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("the producer did not finish flushing")


def read_back(bootstrap: str, topic: str, partitions: int, timeout: float = 60.0
              ) -> tuple[list[ReadRecord], dict[int, int], dict[int, tuple[int, int]]]:
    """Read every partition from its start up to its high watermark (asked first):
    (records in the order received, partition -> high watermark, partition -> (position,
    end) of each partition that could not be read to its end within `timeout`)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"checker-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "enable.partition.eof": True})
    try:
        deadline = time.monotonic() + timeout
        ends: dict[int, int] = {}
        for p in range(partitions):
            try:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), cached=False,
                                                         timeout=max(deadline - time.monotonic(), 1.0))
            except KafkaException:
                high = -1  # no leader answers: unreadable
            ends[p] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions) if ends[p] >= 0])
        records: list[ReadRecord] = []
        position = {p: 0 for p in range(partitions)}
        while any(0 <= ends[p] and position[p] < ends[p] for p in range(partitions)):
            if time.monotonic() > deadline:
                break
            for msg in consumer.consume(1000, timeout=0.5):
                if msg.error() is not None:
                    continue
                partition, offset, value = msg.partition(), msg.offset(), msg.value()
                assert partition is not None and offset is not None and isinstance(value, bytes)
                epoch = msg.leader_epoch()
                records.append(ReadRecord(partition, offset, value, -1 if epoch is None else epoch))
                position[partition] = offset + 1
        unread = {p: (position[p], ends[p]) for p in range(partitions) if ends[p] < 0 or position[p] < ends[p]}
        if unread:
            log.warning("could not read %s (partition: (position, end)) within %.0f s", unread, timeout)
        return records, ends, unread
    finally:
        consumer.close()


class StaleClient:
    """A client that knows only one broker and trusts its metadata: created while that
    broker leads a partition, it keeps sending there (acks=all) after leadership moved,
    as the clients still connected to an isolated leader did in Jepsen's 2013 test.
    `write` sends a burst and returns the records acknowledged (seq -1: not part of the
    main producer's order)."""

    def __init__(self, bootstrap: str, topic: str, partition: int) -> None:
        self.topic, self.partition = topic, partition
        self.producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER_CONFIG,
                                  "topic.metadata.refresh.interval.ms": 600000, "metadata.max.age.ms": 900000,
                                  "message.timeout.ms": 5000, "request.timeout.ms": 4000})
        self.acked: list[AckedRecord] = []
        self.write(1, timeout=5)  # learn the partition's leader now

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        partition, offset, value = msg.partition(), msg.offset(), msg.value()
        if err is None and partition is not None and isinstance(value, bytes):
            self.acked.append(AckedRecord(partition, UNKNOWN if offset is None or offset < 0 else offset, value, -1))

    def write(self, count: int, timeout: float = 15.0) -> list[AckedRecord]:
        before = len(self.acked)
        for _ in range(count):
            value = f"stale-{uuid.uuid4().hex[:10]}".encode()
            self.producer.produce(self.topic, value=value, partition=self.partition, on_delivery=self._delivered)
        self.producer.flush(timeout)
        return self.acked[before:]

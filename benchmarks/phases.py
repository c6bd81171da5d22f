"""The measured phases: produce, consume (Python client and kcat) and end-to-end latency.

Every phase takes a bootstrap address and a CpuMeter on the broker process and returns a
PhaseResult; none of them prints. Records are 100-byte values without keys or compression.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from benchmarks.measure import (
    RECORD_SIZE,
    CpuMeter,
    Span,
    cpu_per_gb,
    payload,
    percentile,
    stamp_of,
    stamped_payload,
)

# What a user tuning for throughput would set (the rest is librdkafka's default).
LATENCY_LINGER_MS = 0
PRODUCER_SETTINGS: dict[str, Any] = {
    "linger.ms": 5,
    "batch.size": 1_000_000,  # librdkafka's default, spelt out
    "compression.type": "none",
    "enable.idempotence": False,
    "queue.buffering.max.messages": 100_000,
    # Keyless records go to a random partition each (not 10 ms runs on one partition): every partition of
    # the 6-partition topic gets records. An empty partition fetched first costs kcat a 500 ms long poll.
    "sticky.partitioning.linger.ms": 0,
}
CONSUMER_SETTINGS: dict[str, Any] = {
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    "enable.partition.eof": False,
    # librdkafka (>= 2.4) pauses fetching for fetch.queue.backoff.ms (default 1000) whenever its queue holds
    # more than queued.min.messages (100000): with a 300k backlog every broker then reads at ~250k records/s.
    "fetch.queue.backoff.ms": 10,
    # fetch.wait.max.ms, fetch.max.bytes, max.partition.fetch.bytes: librdkafka's defaults
}
CONSUME_BATCH = 10_000
LATENCY_ACKS = "1"


@dataclass
class PhaseResult:
    """Outcome of one phase. `records` counts what was actually moved (may fall short on error)."""

    records: int = 0
    wall: float = 0.0
    cpu: float | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def records_per_s(self) -> float | None:
        return self.records / self.wall if self.wall > 0 and self.records and not self.error else None

    @property
    def mb_per_s(self) -> float | None:
        rate = self.records_per_s
        return None if rate is None else rate * RECORD_SIZE / 1e6

    @property
    def cpu_per_gb(self) -> float | None:
        return None if self.error else cpu_per_gb(self.cpu, self.records)


class PhaseError(RuntimeError):
    pass


# -- topics -------------------------------------------------------------------------------


def create_topic(bootstrap: str, name: str, partitions: int, timeout: float = 30.0) -> str:
    """Create a topic through CreateTopics; fall back to auto-creation if the broker lacks it.

    Returns a note describing how the topic came about ("" when CreateTopics worked).
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    note = ""
    try:
        admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=timeout)[name].result(timeout)
    except KafkaException as exc:
        err: KafkaError = exc.args[0]
        if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            pass
        elif err.code() in (KafkaError._UNSUPPORTED_FEATURE, KafkaError.UNSUPPORTED_VERSION, KafkaError.INVALID_REQUEST):
            note = f"CreateTopics failed ({err.str()}); topic {name} auto-created with the broker's default partitions"
            _auto_create(bootstrap, name)
        else:
            raise PhaseError(f"CreateTopics {name}: {err.str()}") from exc
    _wait_for_leaders(admin, name, 1 if note else partitions, timeout)
    return note


def _auto_create(bootstrap: str, name: str) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-meta", "allow.auto.create.topics": True})
    try:
        consumer.list_topics(name, timeout=10)
    finally:
        consumer.close()


def _wait_for_leaders(admin: AdminClient, name: str, partitions: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        meta = admin.list_topics(name, timeout=5).topics.get(name)
        if (meta is not None and meta.error is None and len(meta.partitions) >= max(partitions, 1)
                and all(p.leader >= 0 for p in meta.partitions.values())):
            return
        time.sleep(0.1)
    raise PhaseError(f"topic {name} has no leaders after {timeout}s")


def partition_count(bootstrap: str, topic: str) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    meta = admin.list_topics(topic, timeout=10).topics[topic]
    return len(meta.partitions)


def high_watermarks(bootstrap: str, topic: str) -> int:
    """Sum of the topic's high watermarks (= records in a fresh topic)."""
    parts = partition_count(bootstrap, topic)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-hw-{uuid.uuid4().hex[:8]}"})
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(parts))
    finally:
        consumer.close()


# -- produce ------------------------------------------------------------------------------


def produce(bootstrap: str, topic: str, acks: str, records: int, meter: CpuMeter, timeout: float = 300.0,
            settings: dict[str, Any] | None = None) -> PhaseResult:
    """produce() in a tight loop with poll(0), then flush(); errors are reported only on failure.
    `settings`: the producer's settings instead of PRODUCER_SETTINGS ({}: librdkafka's defaults)."""
    failures: list[str] = []

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None and len(failures) < 5:
            failures.append(err.str())

    chosen = PRODUCER_SETTINGS if settings is None else settings
    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, **chosen,
                         "delivery.report.only.error": True, "on_delivery": on_delivery})
    producer.list_topics(topic, timeout=10)  # connect and learn the leaders before the clock starts
    values = [payload(i) for i in range(1024)]
    send, poll = producer.produce, producer.poll
    result = PhaseResult()
    deadline = time.monotonic() + timeout
    sent = 0
    with Span(meter) as span:
        for i in range(records):
            value = values[i & 1023]
            try:
                send(topic, value)
            except BufferError:
                if not _send_when_room(producer, topic, value, deadline):
                    break
            poll(0)
            sent += 1
        left = producer.flush(max(1.0, deadline - time.monotonic()))
    result.wall, result.cpu = span.wall, span.cpu
    if failures:
        result.error = f"delivery failed: {failures[0]}"
    elif sent < records or left:
        result.error = f"timed out after {timeout:.0f}s: {sent - left}/{records} records delivered"
    else:
        # Only reported: a broker's ListOffsets may lag (the consume phases read every record back).
        result.extra["list_offsets_latest"] = high_watermarks(bootstrap, topic)
    result.records = records
    return result


def _send_when_room(producer: Producer, topic: str, value: bytes, deadline: float) -> bool:
    """The local queue is full: serve delivery reports until the record fits (False past the deadline)."""
    while time.monotonic() < deadline:
        producer.poll(0.005)
        try:
            producer.produce(topic, value)
            return True
        except BufferError:
            pass
    return False


# -- consume ------------------------------------------------------------------------------


def consume_python(bootstrap: str, topic: str, records: int, meter: CpuMeter, timeout: float = 300.0) -> PhaseResult:
    """Assign every partition from offset 0 and consume(num_messages=...) until all records are read."""
    parts = partition_count(bootstrap, topic)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex[:8]}", **CONSUMER_SETTINGS})
    consumer.list_topics(topic, timeout=10)
    count, error = 0, None
    deadline = time.monotonic() + timeout
    try:
        with Span(meter) as span:
            consumer.assign([TopicPartition(topic, p, 0) for p in range(parts)])
            while count < records and time.monotonic() < deadline:
                # consume() waits for num_messages or the timeout: never ask for more than is left
                for msg in consumer.consume(num_messages=min(CONSUME_BATCH, records - count), timeout=1.0):
                    err = msg.error()
                    if err is None:
                        count += 1
                    elif error is None:
                        error = err.str()
    finally:
        consumer.close()
    result = PhaseResult(records=count, wall=span.wall, cpu=span.cpu)
    if count < records:
        result.error = f"read {count}/{records} records in {timeout:.0f}s" + (f" (first error: {error})" if error else "")
    return result


@dataclass(frozen=True)
class Kcat:
    """kcat, optionally run against another librdkafka (LD_LIBRARY_PATH) than the system one."""

    binary: str = "kcat"
    library_dir: Path | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.library_dir is not None:
            env["LD_LIBRARY_PATH"] = str(self.library_dir)
        return env

    def librdkafka_version(self) -> str:
        out = subprocess.run([self.binary, "-V"], check=False, capture_output=True, text=True, env=self.env(), timeout=10).stdout
        marker = "librdkafka "
        at = out.find(marker)
        return out[at + len(marker):].split()[0] if at >= 0 else "?"


def wheel_librdkafka_dir(scratch: Path) -> Path | None:
    """A directory holding confluent-kafka's bundled librdkafka under the name kcat links to."""
    import confluent_kafka

    libs = Path(confluent_kafka.__file__).parent.parent / "confluent_kafka.libs"
    found = sorted(libs.glob("librdkafka*.so*")) if libs.is_dir() else []
    if not found:
        return None
    scratch.mkdir(parents=True, exist_ok=True)
    link = scratch / "librdkafka.so.1"
    if not link.exists():
        link.symlink_to(found[0])
    return scratch


def consume_kcat(kcat: Kcat, bootstrap: str, topic: str, records: int, meter: CpuMeter, timeout: float = 300.0) -> PhaseResult:
    """Time `kcat -C -o beginning -c N -e -q -f '%o\\n'` from start to exit, counting the offsets it prints.

    -c N ends kcat at the last record; -e alone would end it only at partition EOF, which librdkafka
    signals when an empty Fetch at the high watermark returns: fetch.wait.max.ms (500 ms) later on a
    broker that long-polls. -e stays as the guard against a topic holding fewer records.
    extra["stderr"] keeps the tail of kcat's diagnostics."""
    cmd = [kcat.binary, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-c", str(records), "-e", "-q", "-f", "%o\n"]
    with tempfile.TemporaryFile() as stderr:
        with Span(meter) as span:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, env=kcat.env())
            killer = threading.Timer(timeout, proc.kill)
            killer.start()
            count = 0
            assert proc.stdout is not None
            while chunk := proc.stdout.read(1 << 16):
                count += chunk.count(b"\n")
            code = proc.wait()
            killer.cancel()
        stderr.seek(0)
        tail = stderr.read().decode(errors="replace")[-400:]
    result = PhaseResult(records=count, wall=span.wall, cpu=span.cpu)
    if code != 0 or count != records:
        result.error = f"kcat exit {code}, read {count}/{records} records"
    result.extra["stderr"] = tail
    return result


# -- end-to-end latency -------------------------------------------------------------------


def latency(bootstrap: str, topic: str, meter: CpuMeter, rate: int = 1000, duration: float = 5.0,
            acks: str = LATENCY_ACKS) -> PhaseResult:
    """Paced produce at `rate` records/s; a consumer thread (default fetch.wait.max.ms) measures
    receive time minus the send time stamped in the value. extra: p50_ms, p99_ms, max_ms."""
    got: list[float] = []
    ready = threading.Event()
    stop = threading.Event()
    total = int(rate * duration)
    consumer_error: list[str] = []

    def consume_loop() -> None:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-lat-{uuid.uuid4().hex[:8]}", **CONSUMER_SETTINGS})
        try:
            consumer.assign([TopicPartition(topic, 0, 0)])
            while not stop.is_set() and len(got) < total:
                # poll(), not consume(num_messages=n): consume() would hold records back until n arrive
                msg = consumer.poll(0.1)
                now = time.time_ns()
                if msg is None:
                    continue
                err, value = msg.error(), msg.value()
                if err is not None or value is None:
                    consumer_error.append(err.str() if err is not None else "record without value")
                    continue
                sent = stamp_of(value)
                if sent == 0:
                    ready.set()
                else:
                    got.append((now - sent) / 1e6)
        except Exception as exc:  # noqa: BLE001 - surfaced in the result, the thread must not die silently
            consumer_error.append(repr(exc))
        finally:
            consumer.close()

    thread = threading.Thread(target=consume_loop, name="latency-consumer", daemon=True)
    thread.start()
    # linger.ms=0: each record leaves at once, so the figure is the broker's delivery
    # path (produce, wake the waiting fetch, answer) and not the producer's batching delay.
    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, **PRODUCER_SETTINGS, "linger.ms": LATENCY_LINGER_MS})
    result = PhaseResult()
    try:
        warm_deadline = time.monotonic() + 30
        while not ready.is_set() and time.monotonic() < warm_deadline:
            producer.produce(topic, stamped_payload(0), partition=0)
            producer.flush(5)
            ready.wait(1.0)
        if not ready.is_set():
            result.error = "consumer never saw the warm-up record" + (f": {consumer_error[0]}" if consumer_error else "")
            return result
        with Span(meter) as span:
            start = time.perf_counter()
            for i in range(total):
                wait = start + i / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                producer.produce(topic, stamped_payload(time.time_ns()), partition=0)
                producer.poll(0)
            producer.flush(10)
            end = time.monotonic() + 10
            while len(got) < total and time.monotonic() < end and thread.is_alive():
                time.sleep(0.01)
        result.wall, result.cpu = span.wall, span.cpu
    finally:
        stop.set()
        thread.join(15)
    values = sorted(got)
    result.records = len(values)
    result.extra.update(sent=total, received=len(values), rate=rate, duration=duration,
                        p50_ms=percentile(values, 50), p99_ms=percentile(values, 99),
                        max_ms=values[-1] if values else None)
    if len(values) < total:
        result.error = f"received {len(values)}/{total} records" + (f": {consumer_error[0]}" if consumer_error else "")
    return result

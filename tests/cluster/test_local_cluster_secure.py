"""`snakafka local-cluster --secure`: a SASL_SSL-only cluster made in one command, with
the client settings it prints (and writes to librdkafka.config) working as printed, a
plaintext client refused, and every process gone after SIGTERM."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from integration.helpers import wait_until
from integration.test_security_refusals import first_error

from cluster.test_local_cluster_cli import PID_LINE, clean_up, gone, two_free_ports

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]
LAST_LINE = "  ssl.ca.location="


def read_until(proc: subprocess.Popen[bytes], marker: str, timeout: float) -> list[str]:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    data = b""
    deadline = time.monotonic() + timeout
    while marker.encode() not in data or not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or proc.poll() is not None:
            raise AssertionError(f"local-cluster --secure did not report ready (exit {proc.poll()}): {data!r}")
        if selector.select(remaining):
            data += os.read(fd, 65536)
    return data.decode().splitlines()


def test_secure_local_cluster(tmp_path: Path) -> None:
    port = two_free_ports()
    data = tmp_path / "data"
    with open(tmp_path / "stderr.log", "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "snakafka", "local-cluster", "--secure", "--brokers", "1", "--port", str(port),
             "--zookeeper-port", "0", "--data-dir", str(data), "--override", "offsets.topic.num.partitions=4"],
            stdout=subprocess.PIPE, stderr=err, start_new_session=True)
    pids: dict[str, int] = {}
    try:
        lines = read_until(proc, LAST_LINE, 90)
        pids = {m[1]: int(m[3]) for m in map(PID_LINE.match, lines) if m is not None}
        assert set(pids) == {"zookeeper", "broker 0"}
        bootstrap = next(line for line in lines if line.startswith("bootstrap.servers=")).removeprefix("bootstrap.servers=")
        printed = dict(line.strip().split("=", 1) for line in lines[lines.index(next(
            line for line in lines if line.startswith("librdkafka"))) + 1:])
        written = dict(line.split("=", 1) for line in (data / "security" / "librdkafka.config").read_text().splitlines())
        assert printed == written and printed["security.protocol"] == "SASL_SSL"
        conf = {**written, "bootstrap.servers": bootstrap}

        producer = Producer({**conf, "acks": "all"})
        for i in range(10):
            producer.produce("secure-round-trip", value=f"v{i}".encode(), partition=0)
        assert producer.flush(30) == 0
        consumer = Consumer({**conf, "group.id": "cli", "auto.offset.reset": "earliest"})
        consumer.assign([TopicPartition("secure-round-trip", 0, 0)])
        values: list[bytes] = []

        def all_read() -> bool:
            values.extend(m.value() or b"" for m in consumer.consume(20, timeout=0.5) if m.error() is None)
            return len(values) == 10
        try:
            wait_until(all_read, timeout=30, interval=0, message="the 10 records back over SASL_SSL")
        finally:
            consumer.close()
        assert values == [f"v{i}".encode() for i in range(10)]
        assert "connection closed by peer" in first_error({"bootstrap.servers": bootstrap})  # no plaintext listener

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        wait_until(lambda: all(gone(pid) for pid in pids.values()), timeout=10, message="every started process gone")
    finally:
        clean_up(proc, pids)

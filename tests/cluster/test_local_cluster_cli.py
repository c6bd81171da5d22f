"""`snakafka local-cluster`: starts ZooKeeper and two brokers, serves a round trip through
both, and on SIGTERM stops every process it started (checked by the PIDs it printed)."""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from integration.helpers import wait_until

from snakafka.testing.process import free_port

pytestmark = pytest.mark.timeout(120)

PID_LINE = re.compile(r"^(zookeeper|broker \d+) (\S+) pid (\d+) ")


def two_free_ports() -> int:
    """A port p with p and p+1 both free on 127.0.0.1."""
    for _ in range(100):
        port = free_port()
        if port >= 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two consecutive free ports")


def read_status(proc: subprocess.Popen[bytes], timeout: float) -> list[str]:
    """stdout lines up to the bootstrap.servers one (raw reads: a buffered readline would
    hide lines that arrived together from select)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    data = b""
    deadline = time.monotonic() + timeout
    while b"bootstrap.servers=" not in data or not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or proc.poll() is not None:
            raise AssertionError(f"local-cluster did not report ready (exit {proc.poll()}): {data!r}")
        if selector.select(remaining):
            data += os.read(fd, 65536)
    return data.decode().splitlines()


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def clean_up(proc: subprocess.Popen[bytes], pids: dict[str, int]) -> None:
    """After a test of the command, passed or failed: stop it if it still runs (SIGTERM, so
    it stops its children itself, then SIGKILL), then SIGKILL whatever it said it started
    and is still there. By PID only."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
    for pid in pids.values():
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_local_cluster_round_trip_and_sigterm(tmp_path: Path) -> None:
    port = two_free_ports()
    with open(tmp_path / "stderr.log", "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "snakafka", "local-cluster", "--brokers", "2", "--port", str(port),
             "--zookeeper-port", "0", "--data-dir", str(tmp_path / "data"),
             "--override", "group.initial.rebalance.delay.ms=0", "--override", "offsets.topic.num.partitions=4"],
            stdout=subprocess.PIPE, stderr=err, start_new_session=True,
        )
    pids: dict[str, int] = {}
    try:
        lines = read_status(proc, 60)
        for line in lines[:-1]:
            match = PID_LINE.match(line)
            assert match is not None, line
            pids[match[1]] = int(match[3])
        assert set(pids) == {"zookeeper", "broker 0", "broker 1"}
        bootstrap = lines[-1].removeprefix("bootstrap.servers=")
        assert bootstrap == f"127.0.0.1:{port},127.0.0.1:{port + 1}"

        admin = AdminClient({"bootstrap.servers": bootstrap})
        wait_until(lambda: sorted(admin.list_topics(timeout=5).brokers) == [0, 1], timeout=20,
                   message="both brokers in the metadata")
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
        for i in range(20):
            producer.produce("cli-round-trip", key=str(i).encode(), value=f"v{i}".encode())
        assert producer.flush(30) == 0
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "cli", "auto.offset.reset": "earliest"})
        partitions = admin.list_topics("cli-round-trip", timeout=5).topics["cli-round-trip"].partitions
        consumer.assign([TopicPartition("cli-round-trip", p, 0) for p in partitions])
        values: set[bytes] = set()

        def all_read() -> bool:
            for msg in consumer.consume(50, timeout=0.5):
                value = msg.value()
                if msg.error() is None and isinstance(value, bytes):
                    values.add(value)
            return len(values) == 20
        try:
            wait_until(all_read, timeout=30, interval=0, message="the 20 records back")
        finally:
            consumer.close()

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        wait_until(lambda: all(gone(pid) for pid in pids.values()), timeout=10, message="every started process gone")
    finally:
        clean_up(proc, pids)

"""/readyz during a broker's start, observed for real: a cluster-mode broker process whose
ZooKeeper is not running yet serves /healthz (200) and /readyz (503, "starting") while it
waits for it, and does not listen for clients; once the ZooKeeper comes up the broker
registers and /readyz turns 200. The same broker logs JSON lines (logging.format=json),
each of which parses."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from integration.helpers import confluent_admin
from support.zookeeper import ZooKeeperServer, zookeeper_available

from snakafka.testing.process import BrokerProcess, free_port

pytestmark = pytest.mark.slow


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(url: str, status: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            got, body = get(url)
            if got == status:
                return body
            last = (got, body)
        except OSError as exc:  # not listening yet
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer {status} within {timeout}s (last: {last!r})")


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_readyz_is_503_while_waiting_for_zookeeper_then_200(tmp_path: Path) -> None:
    if not zookeeper_available():
        pytest.skip("ZooKeeper (Debian's zookeeper package) or java is not installed")
    zookeeper = ZooKeeperServer(tmp_path / "zookeeper")  # its port is chosen, nothing runs there yet
    metrics_port = free_port()
    broker = BrokerProcess(tmp_path / "broker", overrides={
        "zookeeper.connect": f"{zookeeper.connect}/readiness", "broker.id": "0",
        "zookeeper.connection.timeout.ms": "120000",
        "metrics.http.listener": f"http://127.0.0.1:{metrics_port}",
        "logging.format": "json",
    }, log_file=tmp_path / "broker.log")
    base = f"http://127.0.0.1:{metrics_port}"
    try:
        broker.launch()
        assert wait_for(f"{base}/healthz", 200, 30) == "ok\n"
        status, body = get(f"{base}/readyz")
        assert status == 503 and body.startswith("not ready: starting"), (status, body)
        assert not listening(broker.port)  # still waiting for ZooKeeper: no client listener yet
        assert get(f"{base}/metrics")[0] == 200  # request metrics only, but served
        zookeeper.start(timeout=60)
        assert wait_for(f"{base}/readyz", 200, 90) == "ready\n"
        brokers = confluent_admin(broker.bootstrap).list_topics(timeout=10).brokers
        assert [b.id for b in brokers.values()] == [0]
    finally:
        broker.stop()
        zookeeper.stop()

    lines = [line for line in (tmp_path / "broker.log").read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert records and all({"time", "level", "logger", "message"} <= r.keys() and r["broker_id"] == 0
                           for r in records)
    assert any(r["message"].startswith("broker 0 started") and r["logger"] == "snakafka.server.broker"
               for r in records)

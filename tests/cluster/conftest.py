"""Fixtures for the cluster tests: one real ZooKeeper server per test session, a chroot of
its own for every store test, so tests never see each other's znodes, and clusters of
broker processes (each in a chroot of its own): one shared by the tests that leave it
intact, and `new_cluster` for a test that kills brokers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient  # type: ignore[import-untyped]
from support.zookeeper import ZooKeeperEnsemble, ZooKeeperServer, zookeeper_available

from snakafka.testing.cluster import LocalCluster


@pytest.fixture(scope="session")
def zookeeper_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeperServer]:
    if not zookeeper_available():
        pytest.skip("ZooKeeper (Debian's zookeeper package) or java is not installed")
    server = ZooKeeperServer(tmp_path_factory.mktemp("zookeeper"))
    server.start(timeout=30.0)
    yield server
    server.stop()


@dataclass
class ZkChroot:
    """A test's own corner of the server: `connect` is Kafka-style "host:port/chroot";
    `raw` is a plain client at the server's root for reading znodes as Kafka wrote them."""

    server: ZooKeeperServer
    chroot: str
    raw: KazooClient

    @property
    def connect(self) -> str:
        return f"{self.server.connect}{self.chroot}"

    def path(self, path: str) -> str:
        return f"{self.chroot}{path}"

    def get(self, path: str) -> tuple[bytes, Any]:
        data, stat = self.raw.get(self.path(path))
        return data, stat

    def exists(self, path: str) -> bool:
        return self.raw.exists(self.path(path)) is not None


@pytest.fixture
def zk(zookeeper_server: ZooKeeperServer) -> Iterator[ZkChroot]:
    raw = KazooClient(hosts=zookeeper_server.connect, timeout=10.0)
    raw.start(timeout=10.0)
    try:
        yield ZkChroot(zookeeper_server, f"/t-{uuid.uuid4().hex[:12]}", raw)
    finally:
        raw.stop()
        raw.close()


# -- clusters of broker processes ---------------------------------------------------------

# Fast enough for tests: groups rebalance at once, a small offsets topic loads quickly.
CLUSTER_OVERRIDES = {
    "group.initial.rebalance.delay.ms": "0",
    "offsets.topic.num.partitions": "12",
    "log.flush.scheduler.interval.ms": "200",
}


def new_cluster(server: ZooKeeperServer, directory: Path, **overrides: str) -> LocalCluster:
    """Three brokers (ids 0, 1, 2) in a fresh chroot of the shared ZooKeeper server."""
    chroot = f"/c-{uuid.uuid4().hex[:12]}"
    return LocalCluster(directory, brokers=3, zookeeper_connect=f"{server.connect}{chroot}",
                        overrides={**CLUSTER_OVERRIDES, **overrides})


@pytest.fixture(scope="session")
def cluster(zookeeper_server: ZooKeeperServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One 3-broker cluster shared by the tests that do not disturb it (no kills)."""
    with new_cluster(zookeeper_server, tmp_path_factory.mktemp("cluster")) as started:  # starts, then stops
        yield started


# -- a ZooKeeper ensemble -------------------------------------------------------------------

# Brokers whose sessions end within 4 s of their death, and followers that leave the ISR
# within 5 s, so the ensemble tests wait seconds; 4 s still spans a ZooKeeper leader
# election (well under a second on 127.0.0.1) and the sessions' move to another server.
ENSEMBLE_OVERRIDES = {
    **CLUSTER_OVERRIDES,
    "zookeeper.session.timeout.ms": "4000",
    "replica.lag.time.max.ms": "5000",
    "replica.fetch.backoff.ms": "200",
}


@pytest.fixture
def ensemble_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """Three brokers on a ZooKeeper ensemble of three servers, all of the test's own
    (`cluster.zookeeper` is the ensemble): for tests that kill ZooKeeper servers and brokers."""
    if not zookeeper_available():
        pytest.skip("ZooKeeper (Debian's zookeeper package) or java is not installed")
    with LocalCluster(tmp_path / "cluster", brokers=3, zookeepers=3, overrides=dict(ENSEMBLE_OVERRIDES)) as started:
        yield started


@pytest.fixture
def zookeeper_ensemble(tmp_path: Path) -> Iterator[ZooKeeperEnsemble]:
    """A ZooKeeper ensemble of three servers of the test's own (it may kill some)."""
    if not zookeeper_available():
        pytest.skip("ZooKeeper (Debian's zookeeper package) or java is not installed")
    with ZooKeeperEnsemble(tmp_path / "ensemble", size=3) as started:
        yield started

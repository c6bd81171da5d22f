"""Fault injection against real broker processes and a real ZooKeeper: network
partitions made with black-holing proxies on every inter-broker link and ZooKeeper
session (snakafka.testing.network; clients reach every broker directly), long pauses
(SIGSTOP), kill -9 and restarts, each under an idempotent acks=all producer (replication
factor 3, min.insync.replicas=2), then one invariant checker over what was acknowledged,
what is read back and every replica's segment files (snakafka.testing.invariants).

Each scenario runs twice: on the real build, where no invariant may break, and on a
deliberately broken build (tests/support/broken_broker.py: a broker entry point that
monkeypatches one rule before running the CLI), where the checker must report a
violation: that is what shows the scenario catches the bug it targets.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.broken_broker import launcher
from support.zookeeper import ZooKeeperServer

from snakafka.testing.faults import FAULT_OVERRIDES, SCENARIOS, FaultRunner
from snakafka.testing.network import PartitionableCluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

TESTS_DIR = str(Path(__file__).resolve().parent.parent)

# scenario -> (the break it targets, extra broker configs for that scenario)
TARGETS: dict[str, tuple[str, dict[str, str]]] = {
    "isolated-leader": ("acks-early", {}),
    "leader-cut-from-zookeeper": ("no-truncation", {}),
    "zombie-controller": ("zombie-controller", {}),
    "paused-leader": ("stale-leader", {}),
    # Small replica fetches: the restarted follower takes a while to catch up, which is
    # when a broken ISR rule would let it in too early.
    "kip-101": ("isr-no-catchup", {"replica.fetch.max.bytes": "1024"}),
    "kip-279": ("no-truncation", {}),
    # min.insync.replicas=2 is what keeps this safe: nothing is acknowledged once the ISR is
    # the leader alone, so even an election that must pick an out-of-sync replica (with
    # unclean.leader.election.enable) loses nothing acknowledged. The broken build answers
    # acks=all whatever the ISR and elects out-of-sync replicas.
    "shrunk-isr": ("min-isr-ignored,unclean-election", {}),
}


def run_scenario(zookeeper_server: ZooKeeperServer, directory: Path, scenario: str, broken: str | None,
                 ) -> Iterator[FaultRunner]:
    """A fresh cluster (the real or the broken build) with a producer running; a broken
    build gets less patience: the reactions it breaks may never come."""
    overrides = {**FAULT_OVERRIDES, **TARGETS[scenario][1]}
    net = PartitionableCluster.on(
        zookeeper_server.connect, directory, f"/faults-{uuid.uuid4().hex[:8]}", overrides=overrides,
        launcher=launcher(broken) if broken else None, env={"PYTHONPATH": TESTS_DIR} if broken else None)
    with net:
        runner = FaultRunner(net, patience=0.5 if broken else 1.0).start()
        try:
            yield runner
        finally:
            runner.close()


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_keeps_every_acknowledged_write(zookeeper_server: ZooKeeperServer, tmp_path: Path,
                                                 scenario: str) -> None:
    for runner in run_scenario(zookeeper_server, tmp_path, scenario, None):
        SCENARIOS[scenario](runner)
        report = runner.verify()
        assert report.ok, f"{runner.faults}\n{report.summary()}\nnotes: {runner.notes}"
        assert report.acked > 500, report.summary()


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_catches_its_bug(zookeeper_server: ZooKeeperServer, tmp_path: Path, scenario: str) -> None:
    broken = TARGETS[scenario][0]
    for runner in run_scenario(zookeeper_server, tmp_path, scenario, broken):
        SCENARIOS[scenario](runner)
        report = runner.verify(settle_timeout=10, read_timeout=20)
        assert not report.ok, f"the {broken} build went unnoticed by {scenario}: {runner.faults}\n{report.summary()}"

"""Kafka's two leadership-balancing behaviours in a 3-broker cluster (real ZooKeeper,
broker processes, confluent-kafka):

- Controlled shutdown: a rolling SIGTERM restart of every broker in turn, under an
  idempotent acks=all producer (RF 3, min.insync.replicas 2), loses no acknowledged
  record and gives the producer no error; each stopping broker handed its leaderships
  over before it closed. The controller's side over the wire: a broker asking to shut
  down is moved off every leadership and ISR while it is still alive; a broker that is
  not the controller answers NOT_CONTROLLER. A leadership that cannot move (its other
  replica is alive but out of sync) makes the broker retry, then stop anyway.
- Preferred replica election: a killed broker's leaderships move away, and once it has
  rejoined the ISR the controller's periodic check moves them back to it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from integration.helpers import wait_until
from kazoo.client import KazooClient  # type: ignore[import-untyped]
from kio.schema.broker_heartbeat.v1.request import BrokerHeartbeatRequest
from kio.schema.errors import ErrorCode
from kio.schema.types import BrokerId
from kio.static.primitive import i64
from support.zookeeper import ZooKeeperServer

from cluster.conftest import new_cluster
from cluster.test_cluster_brokers import BackgroundProducer, consume_all
from cluster.test_replication import (
    FAST,
    check_log,
    create_replicated,
    kill,
    metadata,
    wait_isr,
)
from snakafka.client.connection import BrokerConnection
from snakafka.cluster.store.zk_data import BROKER_IDS_PATH, split_chroot, state_path

pytestmark = [pytest.mark.timeout(150), pytest.mark.slow]


def preferred_leaders(bootstrap: str, topic: str) -> dict[int, int]:
    """partition -> its preferred replica (the first of its assignment)."""
    partitions = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=5).topics[topic].partitions
    return {p: m.replicas[0] for p, m in partitions.items()}


class ZooKeeperTimeline:
    """What changed in ZooKeeper, in ZooKeeper's order (one client's watch events arrive in
    the order of the changes): the live broker ids and each partition's state. Shows
    whether a stopping broker's leaderships and ISR memberships moved while it was still
    registered, which only a controlled shutdown does."""

    def __init__(self, connect: str, topic: str, partitions: int) -> None:
        hosts, chroot = split_chroot(connect)
        self.events: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self.client = KazooClient(hosts=hosts, timeout=10.0)
        self.client.start(timeout=10.0)
        self.client.ChildrenWatch(f"{chroot}{BROKER_IDS_PATH}",
                                  lambda children: self.record("brokers", {int(c) for c in children}))
        for p in range(partitions):
            self.client.DataWatch(f"{chroot}{state_path(topic, p)}", self._state_watcher(p))

    def _state_watcher(self, partition: int) -> Any:
        def changed(data: bytes | None, _stat: Any) -> None:
            if data:
                self.record(f"state-{partition}", json.loads(data))
        return changed

    def record(self, kind: str, value: Any) -> None:
        with self._lock:
            self.events.append((kind, value))

    def deregistered(self, broker: int, since: int) -> bool:
        with self._lock:
            return any(kind == "brokers" and broker not in value for kind, value in self.events[since:])

    def moved_before_deregistered(self, broker: int, since: int, partitions: int) -> list[str]:
        """Partitions that still had `broker` as leader or ISR member when its registration
        went away (events after index `since`); empty for a controlled shutdown."""
        with self._lock:
            events = self.events[since:]
        gone = next(i for i, (kind, value) in enumerate(events) if kind == "brokers" and broker not in value)
        late = []
        for p in range(partitions):
            if not any(kind == f"state-{p}" and value["leader"] != broker and broker not in value["isr"]
                       for kind, value in events[:gone]):
                late.append(f"partition {p}")
        return late

    def close(self) -> None:
        self.client.stop()
        self.client.close()


def test_rolling_restart_with_controlled_shutdown_loses_nothing(zookeeper_server: ZooKeeperServer,
                                                                tmp_path: Path) -> None:
    with new_cluster(zookeeper_server, tmp_path, **FAST) as cluster:
        topic = "rolling"
        create_replicated(cluster, topic, 3)
        assert cluster.zookeeper_connect is not None
        timeline = ZooKeeperTimeline(cluster.zookeeper_connect, topic, 3)
        sender = BackgroundProducer(cluster.bootstrap, topic, 3).start()
        acked = sender.acked
        try:
            sender.wait_for_more(200, "records acknowledged before the restarts")
            for broker in range(3):
                since = len(timeline.events)
                started = time.monotonic()
                assert cluster.processes[broker].stop() == 0, f"broker {broker} did not stop cleanly"
                # Kafka's defaults (3 tries, 5 s apart) would show here as a stop of 10 s or more
                assert time.monotonic() - started < 8, f"broker {broker}'s controlled shutdown had to retry"
                wait_until(lambda: timeline.deregistered(broker, since), timeout=10,  # noqa: B023 - called at once
                           message=f"broker {broker} gone from ZooKeeper")
                late = timeline.moved_before_deregistered(broker, since, 3)
                assert late == [], f"broker {broker} still led or followed {late} when it went away"
                sender.wait_for_more(100, f"records acknowledged with broker {broker} down")
                cluster.start_broker(broker)
                wait_isr(cluster.bootstrap, topic, [0, 1, 2], timeout=30)
            sender.wait_for_more(100, "records acknowledged after the restarts")
        finally:
            sender.stop()
            timeline.close()
        assert not [e for e in sender.client_errors if e.fatal()], sender.client_errors[:5]
        check_log(consume_all(cluster.bootstrap, topic, 3, len(acked)), acked)


def heartbeat(port: int, broker_id: int) -> Any:
    """A BrokerHeartbeat asking that `broker_id` may shut down, sent to the broker at `port`."""
    async def send() -> Any:
        request = BrokerHeartbeatRequest(broker_id=BrokerId(broker_id), broker_epoch=i64(-1),
                                         current_metadata_offset=i64(-1), want_fence=False, want_shut_down=True)
        async with BrokerConnection("127.0.0.1", port) as connection:
            return await connection.send(request, timeout=20)
    return asyncio.run(send())


def test_leadership_returns_to_the_preferred_replica(zookeeper_server: ZooKeeperServer, tmp_path: Path) -> None:
    overrides = {**FAST, "leader.imbalance.check.interval.seconds": "1"}
    with new_cluster(zookeeper_server, tmp_path, **overrides) as cluster:
        topic = "preferred"
        create_replicated(cluster, topic, 3)
        preferred = preferred_leaders(cluster.bootstrap, topic)
        assert {p: leader for p, (leader, _) in metadata(cluster.bootstrap, topic).items()} == preferred
        victim = preferred[0]
        dead: set[int] = set()
        kill(cluster, victim, dead, topic)
        moved = metadata(",".join(p.bootstrap for i, p in enumerate(cluster.processes) if i != victim), topic)
        assert all(leader != victim for leader, _ in moved.values()), moved

        cluster.start_broker(victim)
        wait_isr(cluster.bootstrap, topic, [0, 1, 2], timeout=30)
        wait_until(lambda: {p: leader for p, (leader, _) in metadata(cluster.bootstrap, topic).items()} == preferred,
                   timeout=15, interval=0.2, message="leadership back on the preferred replicas")

        # The controller's side of a controlled shutdown, over the wire.
        controller = cluster.controller()
        other = next(b for b in range(3) if b != controller)
        refused = heartbeat(cluster.processes[other].port, other)
        assert refused.error_code == ErrorCode.not_controller and not refused.should_shut_down
        leaving = next(b for b in range(3) if b != controller)
        answer = heartbeat(cluster.processes[controller].port, leaving)
        assert answer.error_code == ErrorCode.none and answer.should_shut_down
        # The controller's own view: it answered only once its metadata showed the moves
        # (the other brokers learn them from ZooKeeper's watches a moment later).
        after = metadata(cluster.processes[controller].bootstrap, topic)
        # Only leadership is checked: the controller also drops `leaving` from every ISR, but
        # this broker is not really stopping (a real one stops its fetchers first), so the
        # leaders may take it back into their ISRs as soon as its next fetch catches up.
        assert all(leader != leaving for leader, _ in after.values()), after
        assert leaving in cluster.registered(), "it is still alive: nothing waited for its death"


def test_controlled_shutdown_gives_up_after_its_retries(zookeeper_server: ZooKeeperServer, tmp_path: Path) -> None:
    """A partition whose only other replica is alive but out of the ISR cannot move: the
    controller answers that it is still led, the broker retries controlled.shutdown.max.retries
    times, controlled.shutdown.retry.backoff.ms apart, then stops anyway (as Kafka does)."""
    overrides = {"zookeeper.session.timeout.ms": "20000", "replica.lag.time.max.ms": "2000",
                 "controlled.shutdown.retry.backoff.ms": "300"}
    with new_cluster(zookeeper_server, tmp_path, **overrides) as cluster:
        controller = cluster.controller()
        leader, frozen = (b for b in range(3) if b != controller)
        topic = "stuck"
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        admin.create_topics([NewTopic(topic, num_partitions=1, replica_assignment=[[leader, frozen]],
                                      config={"min.insync.replicas": "1"})])[topic].result(20)
        wait_isr(cluster.bootstrap, topic, [leader, frozen])
        others = ",".join(cluster.processes[b].bootstrap for b in (leader, controller))
        os.kill(cluster.processes[frozen].pid, signal.SIGSTOP)  # alive (its session lasts 20 s), not fetching
        try:
            wait_isr(others, topic, [leader], timeout=15)
            started = time.monotonic()
            assert cluster.processes[leader].stop() == 0
            elapsed = time.monotonic() - started
        finally:
            os.kill(cluster.processes[frozen].pid, signal.SIGCONT)
        log_text = cluster.processes[leader].log_path.read_text()
        assert log_text.count(f"broker {leader}: retrying controlled shutdown in 300 ms") == 2
        assert f"broker {leader}: controlled shutdown did not complete after 3 attempts" in log_text
        assert 0.6 <= elapsed < 10, elapsed

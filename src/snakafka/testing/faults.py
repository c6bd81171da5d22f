"""Fault scenarios over a partitionable cluster under an idempotent acks=all producer,
shared by tests/cluster/test_faults.py and the soak command (benchmarks/chaos.py).

A `FaultRunner` creates a topic (replication factor 3, min.insync.replicas=2), runs an
AckingProducer against it, and offers one method per fault. Each fault method leaves the
cluster healed with every broker running (not necessarily back in every ISR), so faults
can follow each other; `verify()` then waits for the cluster to settle and runs the
invariant checker over what was acknowledged, what is read back and what every replica
stored. Times are wall-clock bounded; a fault whose expected reaction does not come in
time is logged and the run goes on (the checker decides whether anything broke).

Needs confluent-kafka (the `test` extra).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import signal
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from kazoo.client import KazooClient  # type: ignore[import-untyped]
from kazoo.exceptions import NoNodeError  # type: ignore[import-untyped]

from snakafka.testing.evidence import leader_claims, replica_batches
from snakafka.testing.invariants import AckedRecord, Report, check
from snakafka.testing.network import PartitionableCluster
from snakafka.testing.workload import AckingProducer, StaleClient, read_back

log = logging.getLogger(__name__)

# Broker configs for fault runs: sessions that expire in 3 s, lagging followers out of
# the ISR in 5 s; leadership moves only because of faults (no preferred replica election).
FAULT_OVERRIDES = {
    "zookeeper.session.timeout.ms": "3000",
    "replica.lag.time.max.ms": "5000",
    "replica.fetch.backoff.ms": "200",
    "group.initial.rebalance.delay.ms": "0",
    "offsets.topic.num.partitions": "3",
    "log.flush.scheduler.interval.ms": "200",
    "auto.leader.rebalance.enable": "false",
    "controlled.shutdown.retry.backoff.ms": "500",
}


class FaultTimeout(Exception):
    pass


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise FaultTimeout(f"{what}: not within {timeout:.0f}s")
        time.sleep(interval)


@dataclass
class PartitionView:
    replicas: list[int]
    leader: int
    leader_epoch: int
    isr: list[int]


@dataclass
class FaultRunner:
    net: PartitionableCluster
    topic: str = "faults"
    partitions: int = 3
    session_timeout_s: float = 3.0
    patience: float = 1.0  # scales how long an expected reaction is waited for (a broken build's may never come)
    producer: AckingProducer | None = None
    min_insync: int = 2  # the topic's min.insync.replicas
    # Seconds from a leader's kill -9 to the first acknowledgement of a record sent after it,
    # when at least min_insync in-sync replicas were left alive (a failover proper) ...
    failovers: list[float] = field(default_factory=list)
    failovers_by_fault: dict[str, list[float]] = field(default_factory=dict)  # the same, by the fault that killed
    # ... and when fewer were: acks=all then waits, by design, until a replica returns.
    replica_waits: list[float] = field(default_factory=list)
    replica_waits_by_fault: dict[str, list[float]] = field(default_factory=dict)
    stale_acked: list[AckedRecord] = field(default_factory=list)  # what stale clients got acknowledged
    stale_clients: bool = True  # isolating a leader also has a client that trusts it write to it
    faults: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # expected reactions that did not come in time
    _zk: Any = None

    @property
    def reaction_s(self) -> float:
        """How long the cluster gets to react to a fault (a new leader, a new controller)."""
        return self.patience * (4 * self.session_timeout_s + 10)

    # -- set-up ------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> FaultRunner:
        self._zk = KazooClient(hosts=f"{self.net.zookeeper_host}:{self.net.zookeeper_port}", timeout=10.0)
        self._zk.start(timeout=10.0)
        admin = AdminClient({"bootstrap.servers": self.net.bootstrap})
        deadline = time.monotonic() + timeout
        while True:  # a loaded machine may drop a broker's session for a moment: it registers again
            try:
                admin.create_topics([NewTopic(self.topic, num_partitions=self.partitions, replication_factor=3,
                                              config={"min.insync.replicas": "2"})])[self.topic].result(timeout)
                break
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.INVALID_REPLICATION_FACTOR or time.monotonic() > deadline:
                    raise
                log.warning("creating %s: %s; trying again", self.topic, exc)
                time.sleep(1.0)
        self.wait_full_isr(timeout)
        self.producer = AckingProducer(self.net.bootstrap, self.topic, self.partitions).start()
        if not self.producer.wait_for_more(200, timeout):
            raise FaultTimeout("the producer got no acknowledgements before the first fault")
        return self

    def close(self) -> None:
        if self.producer is not None:
            self.producer.stop()
        if self._zk is not None:
            self._zk.stop()
            self._zk.close()

    # -- what ZooKeeper says -----------------------------------------------------------

    def _get(self, path: str) -> bytes | None:
        try:
            data, _ = self._zk.get(f"{self.net.chroot}{path}")
            return bytes(data)
        except NoNodeError:
            return None

    def view(self, partition: int) -> PartitionView:
        assignment = json.loads(self._get(f"/brokers/topics/{self.topic}") or b"{}")
        state = json.loads(self._get(f"/brokers/topics/{self.topic}/partitions/{partition}/state") or b"{}")
        return PartitionView(list(assignment["partitions"][str(partition)]), int(state["leader"]),
                             int(state["leader_epoch"]), list(state["isr"]))

    def controller(self) -> int:
        data = self._get("/controller")
        return -1 if data is None else int(json.loads(data)["brokerid"])

    def registered(self) -> set[int]:
        try:
            return {int(c) for c in self._zk.get_children(f"{self.net.chroot}/brokers/ids")}
        except NoNodeError:
            return set()

    def wait_full_isr(self, timeout: float) -> bool:
        """Wait until every partition has all three replicas in its ISR and a leader."""
        def full() -> bool:
            views = [self.view(p) for p in range(self.partitions)]
            return all(sorted(v.isr) == sorted(v.replicas) and v.leader >= 0 for v in views)
        try:
            wait_for(full, timeout, "every replica back in the ISR", interval=0.2)
            return True
        except FaultTimeout as exc:
            self._note(str(exc))
            return False

    def _note(self, text: str) -> None:
        log.warning("fault run: %s", text)
        self.notes.append(text)

    def _wait_new_leader(self, partition: int, old: PartitionView, timeout: float) -> PartitionView | None:
        """Wait until the controller gave the partition a leader other than old.leader."""
        try:
            result: PartitionView = wait_for(
                lambda: (v if (v := self.view(partition)).leader_epoch > old.leader_epoch and v.leader >= 0
                         and v.leader != old.leader else None), timeout, f"a new leader for partition {partition}")
            return result
        except FaultTimeout as exc:
            self._note(str(exc))
            return None

    def _acks_on(self, partition: int, count: int, timeout: float) -> None:
        assert self.producer is not None
        if not self.producer.wait_for_more(count, timeout, partition=partition):
            self._note(f"fewer than {count} acknowledgements on partition {partition} within {timeout:.0f}s")

    # -- processes -----------------------------------------------------------------------

    def kill(self, broker: int) -> float:
        """kill -9; returns the monotonic time of the kill."""
        moment = time.monotonic()
        self.net.local.processes[broker].kill()
        return moment

    def restart(self, broker: int, timeout: float = 60.0) -> None:
        """Start a dead broker again (same id, ports, data); waits until it registered.
        Waits first for its previous session's registration to go (a crash leaves it
        until the session times out)."""
        wait_for(lambda: broker not in self.registered(), timeout, f"broker {broker}'s old registration to expire",
                 interval=0.1)
        self.net.local.start_broker(broker, timeout)

    def relaunch(self, broker: int) -> None:
        """Start a dead broker again without waiting for it (it waits out its crashed
        predecessor's registration itself); the next fault waits for a healthy cluster."""
        local = self.net.local
        process = local._broker(broker)
        process.overrides = local._broker_overrides(broker)
        local.processes[broker] = process.launch()

    def relaunch_dead(self) -> None:
        for broker, process in enumerate(self.net.local.processes):
            if process.proc is None or process.proc.poll() is not None:
                self.relaunch(broker)

    def pause(self, broker: int) -> None:
        os.kill(self.net.local.processes[broker].pid, signal.SIGSTOP)

    def resume(self, broker: int) -> None:
        os.kill(self.net.local.processes[broker].pid, signal.SIGCONT)

    def survivors(self, partition: int, leader: int) -> int:
        """How many in-sync replicas of `partition` other than `leader` are alive (registered)
        now: taken just before a leader is killed, to tell a failover from a wait."""
        alive = self.registered()
        return sum(1 for b in self.view(partition).isr if b != leader and b in alive)

    def _failover(self, partition: int, killed_at: float, fault: str, survivors: int) -> None:
        """Record the time from a kill to the first acknowledgement of a record sent after
        it: as a failover when at least min.insync.replicas in-sync replicas survived the
        kill, else as a wait for a replica (no leader could take acks=all writes sooner)."""
        timeout = 30.0 * self.patience
        assert self.producer is not None
        producer = self.producer
        try:
            first = wait_for(lambda: producer.first_ack_after(partition, killed_at), timeout,
                             f"an acknowledgement on partition {partition} after the kill")
        except FaultTimeout as exc:
            self._note(str(exc))
            return
        if survivors >= self.min_insync:
            self.failovers.append(first - killed_at)
            self.failovers_by_fault.setdefault(fault, []).append(first - killed_at)
        else:
            self.replica_waits.append(first - killed_at)
            self.replica_waits_by_fault.setdefault(fault, []).append(first - killed_at)

    # -- the faults ----------------------------------------------------------------------

    def isolate_leader(self, partition: int = 0, *, zookeeper: bool = True, peers: bool = True) -> None:
        """The leader of `partition` cut off from its followers and/or ZooKeeper while
        clients still reach it; held until another leader acknowledges writes, then healed."""
        old = self.view(partition)
        what = "+".join(x for x, on in (("peers", peers), ("zookeeper", zookeeper)) if on)
        self.faults.append(f"isolate leader {old.leader} of partition {partition} from {what}")
        stale = StaleClient(self.net.local.processes[old.leader].bootstrap, self.topic, partition) \
            if self.stale_clients else None
        self.net.isolate(old.leader, peers=peers, zookeeper=zookeeper)
        try:
            if zookeeper:
                if self._wait_new_leader(partition, old, timeout=self.reaction_s) is not None:
                    self._acks_on(partition, 5, timeout=10)
                    # A client that still trusts the old leader writes to it now: it must
                    # not be told its records are committed.
                    if stale is not None:
                        self.stale_acked += stale.write(20, timeout=7)
            else:  # cut from peers only: the followers leave the ISR (replica.lag.time.max.ms)
                time.sleep(2.0)
        finally:
            self.net.heal()

    def isolate_controller_from_zookeeper(self, partition: int = 0) -> None:
        """The controller cut off from ZooKeeper (a zombie once its session expires) while
        the leader of a partition it follows dies; healed once another controller has
        elected a new leader. The partition chosen puts the controller right after the
        leader in the assignment, so a zombie's election would pick it."""
        controller = self.controller()
        views = {p: self.view(p) for p in range(self.partitions)}
        candidates = [p for p, v in views.items() if v.leader != controller and controller in v.replicas
                      and v.replicas.index(controller) < max(v.replicas.index(r) for r in v.replicas
                                                             if r not in (controller, v.leader))]
        others = [p for p, v in views.items() if v.leader not in (controller, -1)]
        if candidates:
            partition = candidates[0]
        elif others:
            partition = others[0]
        old = views[partition]
        if old.leader in (controller, -1):  # the controller leads everything: a zombie alone
            self.faults.append(f"isolate controller {controller} from zookeeper")
            self.net.cut_zookeeper(controller)
            try:
                wait_for(lambda: self.controller() not in (-1, controller), self.reaction_s,
                         "another controller", interval=0.1)
            finally:
                self.net.heal()
            return
        self.faults.append(f"isolate controller {controller} from zookeeper, kill leader {old.leader} "
                           f"of partition {partition}")
        self.net.cut_zookeeper(controller)
        try:
            wait_for(lambda: self.controller() not in (-1, controller), self.reaction_s,
                     "another controller", interval=0.1)
        except FaultTimeout as exc:
            self._note(str(exc))
        survivors = self.survivors(partition, old.leader)
        killed_at = self.kill(old.leader)
        self._wait_new_leader(partition, old, timeout=self.reaction_s)
        self.net.heal()
        try:
            wait_for(lambda: controller in self.registered(), 30, f"broker {controller} to register again",
                     interval=0.1)
        except FaultTimeout as exc:
            self._note(str(exc))
        time.sleep(0.5)  # the healed broker acts (or should not) on what it knew
        self.restart(old.leader)
        self._failover(partition, killed_at, "zombie-controller", survivors)

    def pause_leader(self, partition: int = 0) -> None:
        """SIGSTOP the leader for longer than the session timeout (a long GC pause), then
        SIGCONT once another leader acknowledges writes."""
        old = self.view(partition)
        self.faults.append(f"pause leader {old.leader} of partition {partition}")
        self.pause(old.leader)
        try:
            if self._wait_new_leader(partition, old, timeout=self.reaction_s) is not None:
                self._acks_on(partition, 5, timeout=10)
        finally:
            self.resume(old.leader)

    def restart_follower_then_kill_leader(self, partition: int = 0) -> None:
        """KIP-101: kill -9 a follower and start it again; as soon as it registers and is
        back in the ISR (or after a few seconds), kill -9 the leader."""
        old = self.view(partition)
        follower = next(r for r in old.replicas if r != old.leader)  # the first the election would pick
        self.faults.append(f"restart follower {follower}, then kill leader {old.leader} of partition {partition}")
        self.kill(follower)
        wait_for(lambda: follower not in self.registered(), 30, f"broker {follower}'s registration to expire",
                 interval=0.1)
        time.sleep(1.0)  # the leader writes on without it
        process = self.net.local.processes[follower]
        process.overrides = self.net.local._broker_overrides(follower)
        process.launch()
        wait_for(lambda: follower in self.registered(), 60, f"broker {follower} to register", interval=0.02)
        try:
            wait_for(lambda: follower in self.view(partition).isr, 2 * self.session_timeout_s,
                     f"broker {follower} back in the ISR", interval=0.02)
        except FaultTimeout:
            pass  # a follower still catching up stays out: kill the leader anyway
        survivors = self.survivors(partition, old.leader)
        killed_at = self.kill(old.leader)
        self._wait_new_leader(partition, old, timeout=self.reaction_s)
        self.restart(old.leader)
        self._failover(partition, killed_at, "kip-101", survivors)

    def leader_changes(self, partition: int = 0, changes: int = 3) -> None:
        """KIP-279: three leader changes in quick succession, each leader first cut off from
        its followers for a moment while a client writes to it (so it holds records nobody
        else has), then killed -9 and restarted at once."""
        self.faults.append(f"{changes} quick leader changes of partition {partition}")
        for _ in range(changes):
            old = self.view(partition)
            if old.leader < 0:
                break
            stale = StaleClient(self.net.local.processes[old.leader].bootstrap, self.topic, partition) \
                if self.stale_clients else None
            self.net.isolate(old.leader, peers=True, zookeeper=False)
            if stale is not None:  # records only the leader gets (a producer's own would wait in line)
                self.stale_acked += stale.write(5, timeout=0.5)
            else:
                time.sleep(0.5)
            survivors = self.survivors(partition, old.leader)
            killed_at = self.kill(old.leader)
            self.net.heal()
            new = self._wait_new_leader(partition, old, timeout=self.reaction_s)
            self.restart(old.leader)
            if new is None:  # offline (no in-sync replica left to elect): no failover to measure
                break
            self._failover(partition, killed_at, "kip-279", survivors)

    def shrink_isr_then_kill_leader(self, partition: int = 0) -> None:
        """The ISR shrunk to the leader alone (both followers cut off from it until they
        leave it), then the leader killed -9: with min.insync.replicas=2 the leader has
        acknowledged nothing since, so nothing acknowledged may be lost (the partition
        stays offline until the old leader returns)."""
        old = self.view(partition)
        followers = [r for r in old.replicas if r != old.leader]
        self.faults.append(f"shrink the ISR of partition {partition} to leader {old.leader}, then kill it")
        for follower in followers:
            self.net.cut(old.leader, follower)
        try:
            wait_for(lambda: self.view(partition).isr == [old.leader], 30, f"the ISR of partition {partition} "
                     f"to shrink to [{old.leader}]", interval=0.1)
        except FaultTimeout as exc:
            self._note(str(exc))
        time.sleep(0.5)
        self.kill(old.leader)
        self.net.heal()
        time.sleep(self.session_timeout_s + 1.0)  # the controller may not elect an out-of-sync follower
        self.restart(old.leader)  # offline until then: not a failover, so not measured

    def kill_leader(self, partition: int = 0) -> None:
        old = self.view(partition)
        self.faults.append(f"kill -9 leader {old.leader} of partition {partition}")
        survivors = self.survivors(partition, old.leader)
        killed_at = self.kill(old.leader)
        self._wait_new_leader(partition, old, timeout=self.reaction_s)
        self._failover(partition, killed_at, "kill-leader", survivors)
        self.relaunch(old.leader)

    def kill_controller(self) -> None:
        controller = self.controller()
        led = [p for p in range(self.partitions) if self.view(p).leader == controller]
        self.faults.append(f"kill -9 controller {controller}")
        survivors = {p: self.survivors(p, controller) for p in led}
        killed_at = self.kill(controller)
        wait_for(lambda: self.controller() not in (-1, controller), self.reaction_s,
                 "another controller", interval=0.1)
        for p in led:
            self._failover(p, killed_at, "kill-controller", survivors[p])
        self.relaunch(controller)

    # -- the verdict ---------------------------------------------------------------------

    def verify(self, settle_timeout: float = 45.0, read_timeout: float = 60.0) -> Report:
        """Stop the producer, let every replica rejoin the ISR (bounded), read everything
        back and check every invariant over all three replicas' files."""
        assert self.producer is not None
        self.net.heal()
        for broker, process in enumerate(self.net.local.processes):
            if process.proc is None or process.proc.poll() is not None:
                self.restart(broker)
        wait_for(lambda: self.registered() == set(range(self.net.brokers)), 60, "every broker registered",
                 interval=0.2)
        self.producer.stop(drain_s=90.0 if self.patience >= 1 else 10.0)
        self.wait_full_isr(settle_timeout)
        records, ends, unread = read_back(self.net.bootstrap, self.topic, self.partitions, read_timeout)
        local = self.net.local
        replicas = {b: {p: replica_batches(local.data_dir / f"broker-{b}", self.topic, p)
                        for p in range(self.partitions)} for b in range(self.net.brokers)}
        claims = [c for b in range(self.net.brokers)
                  for c in leader_claims(local.data_dir / f"broker-{b}.log", self.topic)]
        if not claims:
            raise AssertionError("no 'leader for epoch' line in any broker log: the claim check would see nothing")
        report = check([*self.producer.acked, *self.stale_acked], records, replicas,
                       {p: end for p, end in ends.items() if end >= 0}, claims)
        report.unreadable = [f"partition {p}: read to {position} of {end}" for p, (position, end) in sorted(unread.items())]
        return report


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (0 < fraction <= 1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered), math.ceil(fraction * len(ordered))) - 1)]


def failover_summary(values: list[float]) -> str:
    if not values:
        return "no failovers measured"
    return (f"failover after kill -9: median {statistics.median(values):.2f} s, p99 {percentile(values, 0.99):.2f} s, "
            f"max {max(values):.2f} s over {len(values)}")


SCENARIOS: dict[str, Callable[[FaultRunner], None]] = {
    "isolated-leader": lambda r: r.isolate_leader(0),
    "leader-cut-from-zookeeper": lambda r: r.isolate_leader(0, peers=False),
    "zombie-controller": lambda r: r.isolate_controller_from_zookeeper(0),
    "paused-leader": lambda r: r.pause_leader(0),
    "kip-101": lambda r: r.restart_follower_then_kill_leader(0),
    "kip-279": lambda r: r.leader_changes(0),
    "shrunk-isr": lambda r: r.shrink_isr_then_kill_leader(0),
}


# The soak's schedule: every fault, the quick ones (one session timeout and a restart)
# more often than the slow ones (several restarts, or a wait for the ISR to shrink).
WEIGHTS = {
    "kill-leader": 3, "kill-controller": 2, "isolated-leader": 3, "leader-cut-from-zookeeper": 3,
    "paused-leader": 3, "zombie-controller": 1, "kip-101": 1, "kip-279": 1, "shrunk-isr": 1,
}


def random_fault(runner: FaultRunner, rng: random.Random) -> str:
    """One fault of the soak's schedule, on a random partition, once the cluster is healthy."""
    partition = rng.randrange(runner.partitions)
    began = time.monotonic()
    runner.relaunch_dead()
    runner.wait_full_isr(30)  # each fault starts from a healthy cluster
    log.info("cluster healthy after %.1f s", time.monotonic() - began)
    choices: dict[str, Callable[[], None]] = {
        "isolated-leader": lambda: runner.isolate_leader(partition),
        "leader-cut-from-zookeeper": lambda: runner.isolate_leader(partition, peers=False),
        "zombie-controller": lambda: runner.isolate_controller_from_zookeeper(partition),
        "paused-leader": lambda: runner.pause_leader(partition),
        "kip-101": lambda: runner.restart_follower_then_kill_leader(partition),
        "kip-279": lambda: runner.leader_changes(partition),
        "shrunk-isr": lambda: runner.shrink_isr_then_kill_leader(partition),
        "kill-leader": lambda: runner.kill_leader(partition),
        "kill-controller": runner.kill_controller,
    }
    names = sorted(choices)
    name = rng.choices(names, weights=[WEIGHTS[n] for n in names])[0]
    began = time.monotonic()
    choices[name]()
    log.info("fault %s on partition %d took %.1f s", name, partition, time.monotonic() - began)
    return name

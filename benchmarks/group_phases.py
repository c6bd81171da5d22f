"""The consumer-group phases: consume through a group of three, and how long a rebalance takes.

Each member is a confluent-kafka Consumer in its own thread (a Consumer is not thread-safe,
so everything a member does, closing included, happens in its thread). Members record
when their assignments arrive; the phases read those times, never sleep-and-hope.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from benchmarks.measure import CpuMeter, Span
from benchmarks.phases import (
    CONSUME_BATCH,
    CONSUMER_SETTINGS,
    PhaseResult,
    partition_count,
)

GROUP_SIZE = 3
REBALANCE_ROUNDS = 5
# The remaining members learn of a rebalance from their next heartbeat: librdkafka's 3 s
# default would make the figure mostly "time until the next heartbeat". 100 ms keeps it
# about the broker's join and sync round.
REBALANCE_HEARTBEAT_MS = 100
REBALANCE_SESSION_TIMEOUT_MS = 10_000
POLL_S = 0.02


@dataclass
class Assigned:
    at: float
    partitions: frozenset[int]


@dataclass
class Member:
    """One group member: a thread that subscribes, polls, counts, and closes on request."""

    bootstrap: str
    group: str
    topic: str
    settings: dict[str, Any]
    high_watermarks: dict[int, int] = field(default_factory=dict)
    assignments: list[Assigned] = field(default_factory=list)
    read: int = 0
    left: int = 0  # records of the current assignment still to read (when high_watermarks are known)
    finished_at: float | None = None
    closed_at: float | None = None
    close_started: float | None = None
    error: str | None = None
    changed: threading.Condition = field(default_factory=threading.Condition)
    _leave: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"member-{self.group}", daemon=True)
        self._thread.start()

    def leave(self) -> None:
        """Ask the member to close (LeaveGroup); returns at once."""
        self._leave.set()

    def join(self, timeout: float) -> None:
        self._leave.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def current(self) -> frozenset[int] | None:
        return self.assignments[-1].partitions if self.assignments else None

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        now = time.perf_counter()
        parts = frozenset(p.partition for p in partitions)
        with self.changed:
            self.assignments.append(Assigned(now, parts))
            self.left = sum(self.high_watermarks.get(p, 0) for p in parts)
            self.finished_at = now if self.left == 0 else None
            self.changed.notify_all()

    def _on_revoke(self, _consumer: Consumer, _partitions: list[TopicPartition]) -> None:
        with self.changed:
            self.assignments.append(Assigned(time.perf_counter(), frozenset()))
            self.changed.notify_all()

    def _run(self) -> None:
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group, **self.settings})
        try:
            consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
            while not self._leave.is_set():
                # never ask for more than is left: consume() waits for the full count or the timeout
                want = min(CONSUME_BATCH, self.left) if self.left > 0 else 1
                batch = consumer.consume(num_messages=want, timeout=POLL_S)
                got = sum(1 for m in batch if m.error() is None)
                if got:
                    with self.changed:
                        self.read += got
                        self.left = max(0, self.left - got)
                        if self.left == 0 and self.finished_at is None:
                            self.finished_at = time.perf_counter()
                            self.changed.notify_all()
        except Exception as exc:  # noqa: BLE001 - surfaced in the phase result
            self.error = repr(exc)
        finally:
            self.close_started = time.perf_counter()
            consumer.close()
            with self.changed:
                self.closed_at = time.perf_counter()
                self.changed.notify_all()


class Group:
    """Members of one consumer group, and waiting on what they have seen."""

    def __init__(self, bootstrap: str, topic: str, settings: dict[str, Any], hws: dict[int, int] | None = None) -> None:
        self.bootstrap, self.topic, self.settings = bootstrap, topic, settings
        self.id = f"bench-group-{uuid.uuid4().hex[:8]}"
        self.partitions = frozenset(range(partition_count(bootstrap, topic)))
        self.hws = hws or {}
        self.members: list[Member] = []
        self.changed = threading.Condition()

    def add(self) -> Member:
        member = Member(self.bootstrap, self.id, self.topic, self.settings, self.hws, changed=self.changed)
        self.members.append(member)
        member.start()
        return member

    def live(self) -> list[Member]:
        return [m for m in self.members if m.closed_at is None and m.close_started is None]

    def wait(self, predicate: Any, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)

    def covering_since(self, since: float) -> float | None:
        """When every live member had an assignment received after `since`, disjoint and covering
        every partition: the latest of those assignment times (None if not so yet)."""
        members = self.live()
        if not members:
            return None
        latest = [m.assignments[-1] for m in members if m.assignments]
        if len(latest) < len(members) or any(a.at < since for a in latest):
            return None
        parts = [a.partitions for a in latest]
        if sum(len(p) for p in parts) != len(self.partitions) or frozenset().union(*parts) != self.partitions:
            return None
        return max(a.at for a in latest)

    def errors(self) -> list[str]:
        return [m.error for m in self.members if m.error]

    def close(self, timeout: float = 20.0) -> None:
        for m in self.members:
            m.leave()
        for m in self.members:
            m.join(timeout)


def _high_watermarks(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-hw-{uuid.uuid4().hex[:8]}"})
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    finally:
        consumer.close()


def consume_group(bootstrap: str, topic: str, records: int, meter: CpuMeter, timeout: float = 300.0) -> PhaseResult:
    """Three members subscribe at once and read the topic from the start. The throughput clock runs
    from the first assignment to the moment every partition has been read to its end by its
    current owner (so a rebalance during the read counts); the time from subscribe to the first
    assignment (the broker's group.initial.rebalance.delay.ms, 3 s by Kafka's default) is reported
    apart as join_ms."""
    hws = _high_watermarks(bootstrap, topic, partition_count(bootstrap, topic))
    group = Group(bootstrap, topic, dict(CONSUMER_SETTINGS), hws)
    result = PhaseResult()
    done_at: float | None = None

    def all_read() -> bool:
        nonlocal done_at
        members = group.live()
        if group.covering_since(0.0) is None or any(m.finished_at is None for m in members):
            return False
        done_at = max(m.finished_at for m in members if m.finished_at is not None)
        return True

    try:
        with Span(meter) as span:
            start = time.perf_counter()
            for _ in range(GROUP_SIZE):
                group.add()
            ok = group.wait(lambda: all_read() or bool(group.errors()), timeout)
    finally:
        group.close()
    firsts = [m.assignments[0].at for m in group.members if m.assignments]
    read = sum(m.read for m in group.members)
    result.cpu = span.cpu
    result.extra.update(members=GROUP_SIZE, per_member_read=[m.read for m in group.members],
                        assignments_seen=sum(1 for m in group.members for a in m.assignments if a.partitions),
                        join_ms=(min(firsts) - start) * 1000 if firsts else None)
    if not ok or done_at is None or not firsts:
        result.records = read
        result.error = f"group of {GROUP_SIZE} read {read}/{records} records in {timeout:.0f}s" + (
            f" ({group.errors()[0]})" if group.errors() else "")
        return result
    result.records = records
    result.wall = done_at - min(firsts)
    result.extra["records_read"] = read  # more than `records` if a rebalance made a partition be read again
    return result


def rebalance_on_leave(bootstrap: str, topic: str, meter: CpuMeter, rounds: int = REBALANCE_ROUNDS,
                       timeout: float = 60.0) -> PhaseResult:
    """A stable group of three on an idle topic; one member closes (LeaveGroup) and the clock runs
    until both others hold new assignments that cover every partition. Then a new member joins
    (timed the same way, from its start) to make three again; `rounds` times.
    extra: leave_ms and join_ms lists, and their medians and maxima."""
    settings = {**CONSUMER_SETTINGS, "heartbeat.interval.ms": REBALANCE_HEARTBEAT_MS,
                "session.timeout.ms": REBALANCE_SESSION_TIMEOUT_MS}
    group = Group(bootstrap, topic, settings)
    result = PhaseResult()
    leave_ms: list[float] = []
    join_ms: list[float] = []
    try:
        with Span(meter) as span:
            for _ in range(GROUP_SIZE):
                group.add()
            if not group.wait(lambda: len(group.live()) == GROUP_SIZE and group.covering_since(0.0) is not None,
                              timeout):
                result.error = f"a group of {GROUP_SIZE} never got a covering assignment in {timeout:.0f}s"
                return result
            for _ in range(rounds):
                leaving = group.live()[0]
                leaving.leave()
                if not group.wait(lambda m=leaving: m.close_started is not None, timeout):
                    result.error = "a member did not start closing"
                    return result
                since = leaving.close_started
                assert since is not None
                if not group.wait(lambda m=leaving, t=since: m.closed_at is not None and group.covering_since(t) is not None,
                                  timeout):
                    result.error = f"no covering assignment {timeout:.0f}s after a member left"
                    return result
                done = group.covering_since(since)
                assert done is not None
                leave_ms.append((done - since) * 1000)
                joined_at = time.perf_counter()
                group.add()
                if not group.wait(lambda t=joined_at: len(group.live()) == GROUP_SIZE
                                  and group.covering_since(t) is not None, timeout):
                    result.error = f"no covering assignment {timeout:.0f}s after a member joined"
                    return result
                done = group.covering_since(joined_at)
                assert done is not None
                join_ms.append((done - joined_at) * 1000)
    finally:
        group.close()
        if group.errors() and result.error is None:
            result.error = group.errors()[0]
    result.cpu = span.cpu
    result.extra.update(leave_ms=leave_ms, join_ms=join_ms, rounds=rounds,
                        heartbeat_interval_ms=REBALANCE_HEARTBEAT_MS)
    if leave_ms:
        result.extra.update(leave_median_ms=statistics.median(leave_ms), leave_max_ms=max(leave_ms))
    if join_ms:
        result.extra.update(join_median_ms=statistics.median(join_ms), join_max_ms=max(join_ms))
    return result

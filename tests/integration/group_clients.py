"""Helpers of the consumer-group tests with real clients (test_groups_*.py):
confluent-kafka group members, polling them in turns (`pump`), waiting for their
assignments to settle, and numbered records to consume.

Settled means what a group of joined members gets once the rebalance is over: the
assignments are disjoint, cover the topic's partitions, and are balanced (sizes differ
by at most one), which every assignor here (range, roundrobin, cooperative-sticky)
gives for one topic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Message

from .helpers import Rec, Send, confluent_produce

SESSION_MS = 6000


def produce_numbered(bootstrap: str, topic: str, count: int, partitions: int) -> list[Rec]:
    """Records with values b"0", b"1", ... b"<count - 1>", value i on partition
    i % partitions (so partition p holds p, p + partitions, ... in order); every one
    acknowledged (acks=all) within 20 s."""
    sends = [Send(None, b"%d" % i, partition=i % partitions) for i in range(count)]
    return confluent_produce(bootstrap, topic, sends, conf={"message.timeout.ms": 20_000}, flush_timeout=20.0)


def member(bootstrap: str, group: str, **conf: Any) -> Consumer:
    return Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
        "session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": 500, "enable.auto.commit": False, **conf,
    })


def position(m: Message) -> tuple[int, int]:
    """(partition, offset) of a consumed record: both are set unless it is an error event."""
    partition, offset = m.partition(), m.offset()
    assert partition is not None and offset is not None
    return partition, offset


def poll_positions(c: Consumer, count: int, timeout: float) -> list[tuple[int, int]]:
    """Poll one member until it has consumed `count` records or `timeout` seconds have
    passed (no assertion: the caller checks what it got); their (partition, offset)s."""
    seen: list[tuple[int, int]] = []
    deadline = time.monotonic() + timeout
    while len(seen) < count and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is not None and not m.error():
            seen.append(position(m))
    return seen


def pump(consumers: list[Consumer], seconds: float, sink: list[tuple[int, int, int]] | None = None) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for i, c in enumerate(consumers):
            m = c.poll(0.05)
            if m is not None and not m.error() and sink is not None:
                sink.append((i, *position(m)))


def pumping(consumers: list[Consumer], condition: Callable[[], object],
            sink: list[tuple[int, int, int]] | None = None) -> Callable[[], object]:
    """A wait_until predicate: pump the consumers for 0.2 s, then check `condition`."""
    def predicate() -> object:
        pump(consumers, 0.2, sink)
        return condition()
    return predicate


def assignments(consumers: list[Consumer]) -> list[set[int]]:
    return [{tp.partition for tp in c.assignment()} for c in consumers]


def balanced_sizes(partitions: int, members: int) -> list[int]:
    """The sorted assignment sizes of `members` members sharing `partitions` partitions
    evenly (they differ by at most one)."""
    if not members:
        return []
    q, r = divmod(partitions, members)
    return [q] * (members - r) + [q + 1] * r


def is_settled(got: list[set[int]], expect: set[int], sizes: list[int] | None = None) -> bool:
    """The members' assignments `got` are disjoint, cover `expect`, and have the sizes
    (sorted) `sizes`, by default the balanced ones."""
    if sizes is None:
        sizes = balanced_sizes(len(expect), len(got))
    return set().union(*got) == expect and sum(len(a) for a in got) == len(expect) and sorted(len(a) for a in got) == sizes


def settle(consumers: list[Consumer], expect: set[int], sizes: list[int] | None = None,
           timeout: float = 30.0) -> list[set[int]]:
    """Poll until the members' assignments are disjoint, cover `expect`, and have the
    sizes (sorted) `sizes`, by default the balanced ones a group of this many joined
    members gets."""
    deadline = time.monotonic() + timeout
    while True:
        pump(consumers, 0.3)
        got = assignments(consumers)
        if is_settled(got, expect, sizes):
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"assignments never settled: {got}")

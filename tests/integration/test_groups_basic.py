"""Consumer groups with confluent-kafka against a broker subprocess: assignment, idle
members, failover, commit/resume (also across a broker restart), queue and broadcast."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from snakafka.testing.process import BrokerProcess

from .group_clients import (
    SESSION_MS,
    assignments,
    member,
    poll_positions,
    produce_numbered,
    pump,
    pumping,
    settle,
)
from .helpers import confluent_create_topic, wait_until


@pytest.mark.parametrize("strategy", ["range", "roundrobin", "cooperative-sticky"])
def test_three_members_share_six_partitions(broker: BrokerProcess, topic_name: str, strategy: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 6)
    group = f"g-{uuid.uuid4().hex[:8]}"
    cs = [member(broker.bootstrap, group, **{"partition.assignment.strategy": strategy}) for _ in range(3)]
    try:
        for c in cs:
            c.subscribe([topic_name])
        got = settle(cs, set(range(6)), [2, 2, 2])
        assert set().union(*got) == set(range(6))
    finally:
        for c in cs:
            c.close()


def test_fourth_member_idles_and_a_leaving_member_is_replaced(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 3)
    group = f"g-{uuid.uuid4().hex[:8]}"
    cs = [member(broker.bootstrap, group) for _ in range(4)]
    try:
        for c in cs:
            c.subscribe([topic_name])
        got = settle(cs, {0, 1, 2}, [0, 1, 1, 1])
        leaving = next(i for i, a in enumerate(got) if a)
        started = time.monotonic()
        cs[leaving].close()
        rest = [c for i, c in enumerate(cs) if i != leaving]
        settle(rest, {0, 1, 2}, [1, 1, 1])
        assert time.monotonic() - started < SESSION_MS / 1000, "a clean leave rebalances at once"
    finally:
        for i, c in enumerate(cs):
            try:
                c.close()
            except RuntimeError:
                pass  # already closed


def test_commit_and_resume_in_the_same_group(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    produce_numbered(broker.bootstrap, topic_name, 40, 2)
    group = f"g-{uuid.uuid4().hex[:8]}"
    c = member(broker.bootstrap, group)
    c.subscribe([topic_name])
    seen = poll_positions(c, 20, timeout=20)
    assert len(seen) == 20
    committed: dict[int, int] = {}
    for p, o in seen:
        committed[p] = max(committed.get(p, -1), o + 1)
    c.commit(offsets=[TopicPartition(topic_name, p, o) for p, o in committed.items()], asynchronous=False)
    c.close()
    again = member(broker.bootstrap, group)
    again.subscribe([topic_name])
    rest = poll_positions(again, 20, timeout=20)
    again.close()
    assert sorted(seen + rest) == sorted((p, o) for p in range(2) for o in range(20)), "no loss, no duplicate"
    for p, o in rest:
        assert o >= committed.get(p, 0)


def test_queue_and_broadcast(broker: BrokerProcess, topic_name: str) -> None:
    """Records are produced once both groups are settled: without commits, a rebalance
    mid-read would (rightly) redeliver, which is at-least-once, not what this checks."""
    confluent_create_topic(broker.bootstrap, topic_name, 4)
    queue = [member(broker.bootstrap, f"q-{topic_name}") for _ in range(2)]
    other = [member(broker.bootstrap, f"b-{topic_name}")]
    got_queue: list[tuple[int, int, int]] = []
    got_other: list[tuple[int, int, int]] = []
    try:
        for c in queue + other:
            c.subscribe([topic_name])
        settle(queue, set(range(4)), [2, 2])
        settle(other, set(range(4)), [4])
        produce_numbered(broker.bootstrap, topic_name, 200, 4)
        deadline = time.monotonic() + 30
        while (len(got_queue) < 200 or len(got_other) < 200) and time.monotonic() < deadline:
            pump(queue, 0.1, got_queue)
            pump(other, 0.1, got_other)
    finally:
        for c in queue + other:
            c.close()
    queue_records = [(p, o) for _, p, o in got_queue]
    assert len(queue_records) == 200 and len(set(queue_records)) == 200, "the queue group gets each record once"
    assert {i for i, _, _ in got_queue} == {0, 1}, "both queue members took a share"
    assert len(got_other) == 200 and len({(p, o) for _, p, o in got_other}) == 200, "the other group gets every record too"


@pytest.mark.slow
def test_killed_member_is_replaced_after_the_session_timeout(broker: BrokerProcess, topic_name: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    confluent_create_topic(broker.bootstrap, topic_name, 2)
    group = f"g-{uuid.uuid4().hex[:8]}"
    script = tmp_path / "member.py"
    script.write_text(
        "import sys, time\nfrom confluent_kafka import Consumer\n"
        f"c = Consumer({{'bootstrap.servers': '{broker.bootstrap}', 'group.id': '{group}', "
        f"'session.timeout.ms': {SESSION_MS}, 'heartbeat.interval.ms': 500}})\n"
        f"c.subscribe(['{topic_name}'])\n"
        "while True:\n    c.poll(0.1)\n    if c.assignment():\n        print('assigned', flush=True)\n"
    )
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    survivor = member(broker.bootstrap, group)
    try:
        survivor.subscribe([topic_name])
        assert child.stdout is not None
        wait_until(pumping([survivor], lambda: assignments([survivor])[0] and len(assignments([survivor])[0]) == 1),
                   30, message="both members assigned")
        child.kill()  # SIGKILL: no LeaveGroup
        child.wait(10)
        killed_at = time.monotonic()
        wait_until(pumping([survivor], lambda: assignments([survivor])[0] == {0, 1}), 40,
                   message="survivor takes over")
        waited = time.monotonic() - killed_at
        assert waited >= SESSION_MS / 1000 * 0.8, f"reassigned after {waited:.1f}s, before the session timeout"
    finally:
        if child.poll() is None:
            child.kill()
        survivor.close()


@pytest.mark.slow
def test_committed_offsets_survive_a_broker_restart(tmp_path: Path) -> None:
    b = BrokerProcess(tmp_path / "data", overrides={"group.initial.rebalance.delay.ms": "0"})
    b.start()
    try:
        topic = f"restart-{uuid.uuid4().hex[:6]}"
        confluent_create_topic(b.bootstrap, topic, 1)
        produce_numbered(b.bootstrap, topic, 10, 1)
        c = member(b.bootstrap, "g-restart")
        c.subscribe([topic])
        wait_until(lambda: c.assignment() or (c.poll(0.2) and False), 30, message="assigned")
        c.commit(offsets=[TopicPartition(topic, 0, 7)], asynchronous=False)
        c.close()
        b.stop()
        b.start()
        again = member(b.bootstrap, "g-restart")
        committed = again.committed([TopicPartition(topic, 0)], timeout=20)
        assert committed[0].offset == 7
        again.subscribe([topic])
        m = None
        deadline = time.monotonic() + 30
        while m is None and time.monotonic() < deadline:
            m = again.poll(0.2)
        assert m is not None and m.offset() == 7 and m.value() == b"7"
        again.close()
    finally:
        b.stop()


def test_restarted_static_member_gets_its_partitions_back_without_a_rebalance(broker: BrokerProcess,
                                                                               topic_name: str) -> None:
    """KIP-345 with librdkafka: a static member closes (no LeaveGroup for static members) and
    a new process with the same group.instance.id comes back within the session timeout. It
    gets the same partitions, and the other member sees no revoke and no new assignment."""
    confluent_create_topic(broker.bootstrap, topic_name, 4)
    group = f"g-{uuid.uuid4().hex[:8]}"
    events: list[str] = []

    def static(instance: str) -> Consumer:
        return member(broker.bootstrap, group, **{"group.instance.id": instance, "session.timeout.ms": 10_000})

    first, other = static("a"), static("b")
    other.subscribe([topic_name], on_assign=lambda c, ps: events.append("assign"),
                    on_revoke=lambda c, ps: events.append("revoke"))
    first.subscribe([topic_name])
    before = settle([first, other], {0, 1, 2, 3}, [2, 2])
    pump([first, other], 1.0)  # a few heartbeats in the stable generation
    seen = list(events)
    first.close()

    again = static("a")
    try:
        again.subscribe([topic_name])
        wait_until(pumping([again, other], lambda: assignments([again])[0] == before[0]), 8,
                   message="the restarted static member gets its partitions back within the session timeout")
        pump([again, other], 2.0)  # long enough for any rebalance to reach the other member
        assert assignments([again, other]) == before
        assert events == seen, f"the other member went through a rebalance: {events[len(seen):]}"
    finally:
        again.close()
        other.close()


@pytest.mark.slow
def test_a_live_group_rides_out_a_broker_restart(tmp_path: Path) -> None:
    """The coordinator goes away (SIGTERM) and comes back while two members keep polling:
    it reloads the group from __consumer_offsets with its members and generation, so their
    heartbeats and commits are accepted again without a rebalance, and consumption goes on
    where it was."""
    b = BrokerProcess(tmp_path / "data", overrides={"group.initial.rebalance.delay.ms": "0"})
    b.start()
    members: list[Consumer] = []
    try:
        topic = f"live-{uuid.uuid4().hex[:6]}"
        confluent_create_topic(b.bootstrap, topic, 2)
        events: list[str] = []
        members = [member(b.bootstrap, "g-live", **{"session.timeout.ms": 10_000}) for _ in range(2)]
        for m in members:
            m.subscribe([topic], on_assign=lambda c, ps: events.append("assign"),
                        on_revoke=lambda c, ps: events.append("revoke"))
        before = settle(members, {0, 1}, [1, 1])
        produce_numbered(b.bootstrap, topic, 10, 2)
        got: list[tuple[int, int, int]] = []
        wait_until(pumping(members, lambda: len(got) == 10, got), 30, message="the first ten records")
        for m in members:
            m.commit(asynchronous=False)
        seen = list(events)

        b.stop()
        pump(members, 1.0)  # the members notice the coordinator is gone
        b.start()
        produce_numbered(b.bootstrap, topic, 10, 2)
        wait_until(pumping(members, lambda: len(got) == 20, got), 30, message="ten more after the restart")
        for m in members:
            m.commit(asynchronous=False)
        pump(members, 1.0)
        assert assignments(members) == before
        assert events == seen, f"the restart caused a rebalance: {events[len(seen):]}"
        assert sorted((p, o) for _, p, o in got) == sorted((p, o) for p in (0, 1) for o in range(10))
        committed = members[0].committed([TopicPartition(topic, p) for p in (0, 1)], timeout=10)
        assert [tp.offset for tp in committed] == [10, 10]
    finally:
        for m in members:
            m.close()
        b.stop()

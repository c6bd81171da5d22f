"""The purgatory on a manual clock: an op completes at once when it can, else waits under
its keys until a check of one of them finds it ready or its deadline passes; it completes
once, its answer is built once, and try_complete only looks."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

from hypothesis import given, settings
from hypothesis import strategies as st

from snakafka.clock import ManualClock
from snakafka.replication.purgatory import DelayedOperation, DelayedOperationPurgatory
from snakafka.scheduler import ManualScheduler


class Counter(DelayedOperation[str]):
    """Ready once `state[key]` reaches `target`; counts its calls."""

    def __init__(self, deadline_ms: int, state: dict[str, int], key: str, target: int) -> None:
        super().__init__(deadline_ms)
        self.state, self.key, self.target = state, key, target
        self.checks = 0
        self.answers = 0

    def try_complete(self) -> bool:
        self.checks += 1
        return self.state[self.key] >= self.target

    def on_complete(self, expired: bool) -> str:
        self.answers += 1
        return "expired" if expired else f"{self.key}={self.state[self.key]}"


def make() -> tuple[ManualScheduler, DelayedOperationPurgatory[str]]:
    scheduler = ManualScheduler(ManualClock(0))
    return scheduler, DelayedOperationPurgatory("test", scheduler)


def test_an_op_that_can_complete_does_so_at_once_and_is_not_watched() -> None:
    scheduler, purgatory = make()
    op = Counter(100, {"a": 5}, "a", 1)
    assert purgatory.try_complete_else_watch(op, ["a"])
    assert op.completed and op.result == "a=5" and purgatory.watched("a") == 0
    assert scheduler.pending == 0 and purgatory.delayed == 0


def test_a_check_of_its_key_completes_it_and_unwatches_every_key() -> None:
    scheduler, purgatory = make()
    state = {"a": 0, "b": 0}
    op = Counter(100, state, "a", 2)
    assert not purgatory.try_complete_else_watch(op, ["a", "b"])
    assert purgatory.watched("a") == purgatory.watched("b") == 1 and purgatory.delayed == 1
    state["a"] = 1
    assert purgatory.check_and_complete("a") == 0 and not op.completed
    state["a"] = 2
    assert purgatory.check_and_complete("b") == 1  # any of its keys
    assert op.completed and op.result == "a=2" and op.answers == 1
    assert purgatory.watched("a") == purgatory.watched("b") == 0 and purgatory.delayed == 0
    assert scheduler.pending == 0, "the expiry timer is cancelled on completion"
    assert purgatory.check_and_complete("a") == 0 and op.answers == 1


def test_the_deadline_expires_it_on_the_manual_clock() -> None:
    scheduler, purgatory = make()
    op = Counter(100, {"a": 0}, "a", 1)
    purgatory.try_complete_else_watch(op, ["a"])
    assert scheduler.advance(99) == 0 and not op.completed
    assert scheduler.advance(1) == 1
    assert op.completed and op.expired and op.result == "expired" and purgatory.watched("a") == 0


def test_wait_returns_the_answer_and_complete_all_answers_everything() -> None:
    async def run() -> None:
        _, purgatory = make()
        ops = [Counter(100, {"a": 0}, "a", 1) for _ in range(3)]
        for op in ops:
            purgatory.try_complete_else_watch(op, ["a"])
        waits = [asyncio.ensure_future(op.wait()) for op in ops]
        await asyncio.sleep(0)
        assert not any(w.done() for w in waits)
        purgatory.complete_all()
        assert [await w for w in waits] == ["expired"] * 3
        assert purgatory.delayed == 0
    asyncio.run(run())


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 3)), max_size=30),
       st.lists(st.tuples(st.sampled_from("abc"), st.integers(1, 4), st.integers(1, 50)), min_size=1, max_size=10),
       st.integers(0, 60))
def test_every_op_completes_exactly_once_when_ready_or_at_its_deadline(
        bumps: list[tuple[str, int]], specs: list[tuple[str, int, int]], advance: int) -> None:
    scheduler, purgatory = make()
    state = dict.fromkeys("abc", 0)
    ops = [Counter(deadline, state, key, target) for key, target, deadline in specs]
    for op in ops:
        keys: list[Hashable] = [op.key]
        purgatory.try_complete_else_watch(op, keys)
    for key, amount in bumps:
        state[key] += amount
        purgatory.check_and_complete(key)
    scheduler.advance(advance)
    for op in ops:
        assert op.answers == (1 if op.completed else 0)
        if op.completed and not op.expired:
            assert state[op.key] >= op.target
        if not op.completed:
            assert state[op.key] < op.target and op.deadline_ms > advance
            assert purgatory.watched(op.key) >= 1
    assert purgatory.delayed == sum(1 for op in ops if not op.completed)

"""Timers on a Clock, passed in rather than taken from the event loop, so that whatever
waits (acks=all produces, long-poll fetches) expires in tests when a ManualClock is moved
instead of after real sleeps.

`LoopScheduler` fires callbacks from the running asyncio loop at a Clock's monotonic
deadline; `ManualScheduler` keeps them in a heap and fires the due ones when the test
advances its ManualClock. Both run callbacks on the caller's thread, one at a time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Protocol

from snakafka.clock import Clock, ManualClock, SystemClock


class Timer(Protocol):
    def cancel(self) -> None:
        """Stop the callback from running (no-op once it ran)."""


class Scheduler(Protocol):
    @property
    def clock(self) -> Clock:
        """The clock whose monotonic time the deadlines are on."""

    def call_at(self, deadline_ms: int, callback: Callable[[], None]) -> Timer:
        """Run `callback` once the clock's monotonic time reaches `deadline_ms`."""


class LoopScheduler:
    """Timers on the running asyncio loop, deadlines read from `clock.monotonic_ms()`."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()

    def call_at(self, deadline_ms: int, callback: Callable[[], None]) -> Timer:
        delay = max(deadline_ms - self.clock.monotonic_ms(), 0) / 1000
        return asyncio.get_running_loop().call_later(delay, callback)


class _ManualTimer:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualScheduler:
    """Timers a test fires by moving time: `advance(ms)` moves the ManualClock and runs
    every callback whose deadline has come, in deadline order."""

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.clock: ManualClock = clock or ManualClock()
        self._timers: list[tuple[int, int, _ManualTimer]] = []
        self._seq = itertools.count()

    def call_at(self, deadline_ms: int, callback: Callable[[], None]) -> Timer:
        timer = _ManualTimer(callback)
        heapq.heappush(self._timers, (deadline_ms, next(self._seq), timer))
        return timer

    @property
    def pending(self) -> int:
        """Timers not yet fired nor cancelled."""
        return sum(1 for _, _, t in self._timers if not t.cancelled)

    def advance(self, ms: int) -> int:
        """Move the clock by `ms` and fire what is due; returns how many fired."""
        self.clock.advance(ms)
        return self.run_due()

    def run_due(self) -> int:
        fired = 0
        now = self.clock.monotonic_ms()
        while self._timers and self._timers[0][0] <= now:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                timer.cancelled = True
                timer.callback()
                fired += 1
        return fired

"""Deadlines on the injected clock's monotonic milliseconds, and their callbacks.

The coordinator owns one Timer. In a broker a background task sleeps until the next
deadline and calls run_due(); tests move a ManualClock and call run_due() themselves, so
session and rebalance timeouts are tested without sleeping. Cancelling is lazy: a
cancelled entry stays in the heap and is skipped when it comes up.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable

from snakafka.clock import Clock

log = logging.getLogger(__name__)


class TimerEntry:
    __slots__ = ("callback", "cancelled", "deadline_ms")

    def __init__(self, deadline_ms: int, callback: Callable[[], None]) -> None:
        self.deadline_ms = deadline_ms
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    @property
    def active(self) -> bool:
        return not self.cancelled


class Timer:
    def __init__(self, clock: Clock, on_earlier_deadline: Callable[[], None] | None = None) -> None:
        self.clock = clock
        self._heap: list[tuple[int, int, TimerEntry]] = []
        self._seq = itertools.count()
        self._on_earlier = on_earlier_deadline

    def now(self) -> int:
        return self.clock.monotonic_ms()

    def schedule_at(self, deadline_ms: int, callback: Callable[[], None]) -> TimerEntry:
        entry = TimerEntry(deadline_ms, callback)
        earlier = not self._heap or deadline_ms < self._heap[0][0]
        heapq.heappush(self._heap, (deadline_ms, next(self._seq), entry))
        if earlier and self._on_earlier is not None:
            self._on_earlier()
        return entry

    def schedule_in(self, delay_ms: int, callback: Callable[[], None]) -> TimerEntry:
        return self.schedule_at(self.now() + max(0, delay_ms), callback)

    def next_deadline(self) -> int | None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def run_due(self) -> int:
        """Fire every entry whose deadline has passed, in deadline order (entries that the
        callbacks schedule and that are already due fire too). Returns how many fired."""
        fired = 0
        now = self.now()
        while self._heap and self._heap[0][0] <= now:
            _, _, entry = heapq.heappop(self._heap)
            if entry.cancelled:
                continue
            entry.cancelled = True  # fired: a later cancel() is a no-op
            fired += 1
            try:
                entry.callback()
            except Exception:
                log.exception("timer callback failed")
        return fired

    def clear(self) -> None:
        for _, _, entry in self._heap:
            entry.cancelled = True
        self._heap.clear()

    def __len__(self) -> int:
        return sum(1 for _, _, e in self._heap if not e.cancelled)

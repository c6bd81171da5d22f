"""Time, passed in rather than read from globals, so timeouts are testable without sleeping."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def time_ms(self) -> int:
        """Wall-clock milliseconds since the epoch (record timestamps, retention)."""

    def monotonic_ms(self) -> int:
        """Monotonic milliseconds (deadlines, session timeouts)."""


class SystemClock:
    def time_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self.now = start_ms

    def time_ms(self) -> int:
        return self.now

    def monotonic_ms(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms

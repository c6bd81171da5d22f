"""Small measuring tools: the broker's CPU time, latency percentiles, record payloads."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Self

import psutil

RECORD_SIZE = 100
GB = 1_000_000_000  # decimal gigabyte: CPU figures are "broker CPU seconds per 10^9 payload bytes"


def payload(index: int) -> bytes:
    """A 100-byte value: the index, padded (incompressible enough for our purposes, no compression used)."""
    head = b"%020d" % index
    return head + b"x" * (RECORD_SIZE - len(head))


def stamped_payload(time_ns: int) -> bytes:
    """A 100-byte value carrying its send time (time.time_ns()) in its first 20 bytes."""
    return payload(time_ns)


def stamp_of(value: bytes) -> int:
    return int(value[:20])


class CpuMeter:
    """User+system CPU seconds of broker processes and their descendants (None when no PID is
    known): one PID for a single broker, several for a cluster (summed)."""

    def __init__(self, pid: int | None, *more: int) -> None:
        self._procs = [psutil.Process(p) for p in (pid, *more) if p is not None]

    def seconds(self) -> float | None:
        if not self._procs:
            return None
        total = 0.0
        for proc in [*self._procs, *self._children()]:
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def settled(self, quiet: float = 1.0, idle_share: float = 0.02, limit: float = 15.0) -> float | None:
        """CPU seconds once the broker has gone quiet: less than `idle_share` of a core for `quiet` seconds.

        Brokers may finish a phase's work after the client is done (noida-db writes its data out about half
        a second later); waiting for quiet counts that work in the phase that caused it.
        """
        last = self.seconds()
        if last is None:
            return None
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = self.seconds()
            assert now is not None
            if now - last <= idle_share * quiet:
                return now
            last = now
        return last

    def _children(self) -> list[psutil.Process]:
        children: list[psutil.Process] = []
        for proc in self._procs:
            try:
                children += proc.children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        return children


@dataclass
class Span:
    """Wall time across one phase, and broker CPU time from its start until the broker is quiet after it."""

    meter: CpuMeter
    wall_start: float = 0.0
    wall_end: float = 0.0
    cpu_start: float | None = None
    cpu_end: float | None = None

    def __enter__(self) -> Self:
        self.cpu_start = self.meter.seconds()
        self.wall_start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_end = time.perf_counter()
        self.cpu_end = self.meter.settled()

    @property
    def wall(self) -> float:
        return self.wall_end - self.wall_start

    @property
    def cpu(self) -> float | None:
        if self.cpu_start is None or self.cpu_end is None:
            return None
        return self.cpu_end - self.cpu_start


def cpu_per_gb(cpu_seconds: float | None, records: int) -> float | None:
    """Broker CPU seconds per GB (10^9 bytes) of payload moved: cpu / (records * 100 B / 1e9)."""
    if cpu_seconds is None or records <= 0:
        return None
    return cpu_seconds / (records * RECORD_SIZE / GB)


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]

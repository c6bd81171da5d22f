"""Requests that wait: long-poll fetches and (for replication) acks=all produces.

A waiting request is a small object with a deadline, completed early by an event
(data appended, high watermark moved). Kafka calls this the purgatory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Iterable


class Watchers:
    """Futures keyed by topic-partition, woken when that partition changes."""

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: dict[Hashable, list[asyncio.Future[None]]] = {}

    def watch(self, keys: Iterable[Hashable]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for key in keys:
            self._waiting.setdefault(key, []).append(future)
        return future

    def unwatch(self, keys: Iterable[Hashable], future: asyncio.Future[None]) -> None:
        for key in keys:
            waiting = self._waiting.get(key)
            if waiting is None:
                continue
            try:
                waiting.remove(future)
            except ValueError:
                pass
            if not waiting:
                del self._waiting[key]

    def wake(self, key: Hashable) -> None:
        waiting = self._waiting.pop(key, None)
        if waiting:
            for future in waiting:
                if not future.done():
                    future.set_result(None)

    def wake_all(self) -> None:
        for key in list(self._waiting):
            self.wake(key)


async def wait_until(future: asyncio.Future[None], timeout_s: float) -> bool:
    """True if the future completed before the timeout."""
    if timeout_s <= 0:
        return future.done()
    try:
        await asyncio.wait_for(asyncio.shield(future), timeout_s)
        return True
    except TimeoutError:
        return False

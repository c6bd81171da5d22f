"""Requests that wait: Kafka's delayed operations and their purgatory.

A request that cannot be answered yet (an acks=all produce until the ISR has its records,
a long-poll fetch until there is enough to read) becomes a DelayedOperation with a
deadline. The purgatory watches it under keys (a partition's "data" or "high watermark"
event); whoever changes a partition calls `check_and_complete(key)`, which asks each op
watched there whether it can complete. `try_complete` only looks: it has no side effect,
so asking it again and again (every high watermark move) costs a check and changes
nothing. `on_complete` builds the answer, once, when the op completes or expires.
Expiry comes from an injected Scheduler (snakafka.scheduler) on the broker's Clock, so
tests fire it by moving a ManualClock.

Single-threaded: everything runs on the broker's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

from snakafka.scheduler import Scheduler, Timer

log = logging.getLogger(__name__)

T = TypeVar("T")


class DelayedOperation(Generic[T]):
    """One waiting request. Subclasses say when it may complete (`try_complete`, pure)
    and what its answer is (`on_complete`)."""

    def __init__(self, deadline_ms: int) -> None:
        self.deadline_ms = deadline_ms
        self.completed = False
        self.expired = False
        self.result: T | None = None
        self._future: asyncio.Future[T] | None = None
        self._keys: tuple[Hashable, ...] = ()
        self._purgatory: DelayedOperationPurgatory[T] | None = None
        self._timer: Timer | None = None
        self._callbacks: list[Callable[[], None]] = []

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        """Call `callback` synchronously when the op completes (at once if it has):
        a connection sends the answer from there, without waiting for a loop turn."""
        if self.completed:
            callback()
        else:
            self._callbacks.append(callback)

    def try_complete(self) -> bool:
        """True once the operation can be answered. Must not change any state."""
        raise NotImplementedError

    def on_complete(self, expired: bool) -> T:
        """The answer, built once (`expired`: the deadline passed first)."""
        raise NotImplementedError

    def blocks_later(self, key: Hashable) -> bool:
        """True when this op, not completing, means that no op watched after it under
        `key` can complete either (acks=all produces of one partition wait for ever
        higher offsets in watch order): a check of `key` stops here instead of asking
        every waiting op. Pure, like try_complete."""
        return False

    def complete(self, *, expired: bool = False) -> bool:
        """Answer now (Kafka's forceComplete); False if already answered."""
        if self.completed:
            return False
        self.completed = True
        self.expired = expired
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._purgatory is not None:
            self._purgatory._unwatch(self)
        self.result = self.on_complete(expired)
        if self._future is not None and not self._future.done():
            self._future.set_result(self.result)
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # one listener's failure must not stop the completion of others
                log.exception("%s: a completion callback failed", type(self).__name__)
        return True

    async def wait(self) -> T:
        """The answer, once completed or expired. (One waiter per op: no shield, whose
        extra future would cost the answer one more event-loop turn.)"""
        if self.completed:
            return self.result  # type: ignore[return-value]
        if self._future is None:
            self._future = asyncio.get_running_loop().create_future()
        return await self._future


class DelayedOperationPurgatory(Generic[T]):
    """Operations watched by key until they complete or expire (Kafka's
    DelayedOperationPurgatory; one per kind: produce, fetch)."""

    def __init__(self, name: str, scheduler: Scheduler) -> None:
        self.name = name
        self.scheduler = scheduler
        # key -> ops watching it; a dict keeps insertion order and removes in O(1)
        self._watchers: dict[Hashable, dict[DelayedOperation[T], None]] = {}
        self._pending: dict[DelayedOperation[T], None] = {}

    def try_complete_else_watch(self, op: DelayedOperation[T], keys: Iterable[Hashable]) -> bool:
        """Complete `op` now if it can; otherwise watch it under `keys` and arm its expiry.
        True if it completed at once."""
        if op.try_complete():
            op.complete()
            return True
        op._keys = tuple(keys)
        op._purgatory = self
        for key in op._keys:
            self._watchers.setdefault(key, {})[op] = None
        self._pending[op] = None

        def expire() -> None:
            op.complete(expired=True)

        op._timer = self.scheduler.call_at(op.deadline_ms, expire)
        return False

    def check_and_complete(self, key: Hashable) -> int:
        """Complete the ops watching `key` that can complete now; returns how many."""
        ops = self._watchers.get(key)
        if not ops:
            return 0
        done = 0
        for op in list(ops):
            if op.completed:
                continue
            if op.try_complete():
                if op.complete():
                    done += 1
            elif op.blocks_later(key):
                break
        return done

    def watched(self, key: Hashable) -> int:
        """How many ops watch `key` (for tests and logging)."""
        return len(self._watchers.get(key, ()))

    @property
    def delayed(self) -> int:
        """Ops waiting (Kafka's PurgatorySize metric)."""
        return len(self._pending)

    def complete_all(self) -> None:
        """Answer every waiting op as expired (broker shutdown)."""
        for op in list(self._pending):
            op.complete(expired=True)

    def _unwatch(self, op: DelayedOperation[T]) -> None:
        self._pending.pop(op, None)
        for key in op._keys:
            ops = self._watchers.get(key)
            if ops is not None:
                ops.pop(op, None)
                if not ops:
                    del self._watchers[key]

"""Fetch sessions (KIP-227): incremental fetch requests that list only what changed.

A client (follower or consumer) that opens a session (session id 0, epoch 0) gets a
session id in its full response; its next requests carry that id and the next epoch and
list only the partitions whose fetch position or limits changed (plus those to forget).
The broker remembers each session's partitions and what it last told the client of them
(high watermark, last stable offset, log start offset), and an incremental response
holds only the partitions with records, an error, or one of those values changed.

Kafka's epochs: 0 (INITIAL_EPOCH) opens a new session (closing the one named, if any),
-1 (FINAL_EPOCH) closes the session named and fetches without one, 1.. continue a session
(wrapping after 2^31 - 1 back to 1). An unknown id answers FETCH_SESSION_ID_NOT_FOUND, a
wrong epoch INVALID_FETCH_SESSION_EPOCH. The cache holds at most
max.incremental.fetch.session.cache.slots sessions; when full, a new session takes the
slot of the least recently used session idle for over 2 minutes, or, for a follower, of
the least recently used consumer session; else the client gets session id 0 and fetches
without a session (as Kafka's FetchSessionCache.tryEvict, simplified: no size ranking).

Pure logic, no I/O; time is passed in.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from snakafka.protocol.errors import ErrorCode

INVALID_SESSION_ID = 0
INITIAL_EPOCH = 0
FINAL_EPOCH = -1
EVICTION_MS = 120_000  # Kafka's min.incremental.fetch.session.eviction.ms (not a config there either)
DEFAULT_SLOTS = 1000  # max.incremental.fetch.session.cache.slots

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class PartitionRequest:
    """What a fetch asks of one partition (the session remembers it)."""

    fetch_offset: int
    max_bytes: int
    current_leader_epoch: int = -1
    last_fetched_epoch: int = -1
    log_start_offset: int = -1  # a follower's own (DeleteRecords waits on it)


@dataclass(slots=True)
class CachedPartition:
    request: PartitionRequest
    # What the last response told the client (-1: never answered).
    high_watermark: int = -2
    last_stable_offset: int = -2
    log_start_offset: int = -2


class PartitionAnswer(NamedTuple):
    """The values of a partition's answer an incremental response compares (a tuple:
    one is built per partition of every fetch of a session)."""

    error: int
    high_watermark: int
    last_stable_offset: int
    log_start_offset: int
    has_records: bool
    diverged: bool = False


@dataclass(slots=True)
class FetchSession:
    id: int
    privileged: bool  # a follower's: may take a consumer session's slot
    partitions: dict[TopicPartition, CachedPartition] = field(default_factory=dict)
    epoch: int = 1  # the epoch the next request must carry
    last_used_ms: int = 0


def next_epoch(epoch: int) -> int:
    return 1 if epoch >= 0x7FFFFFFF else epoch + 1


@dataclass(slots=True)
class FetchContext:
    """One fetch request resolved against the cache: what to fetch, and how to answer."""

    session_id: int  # the id the response carries (0: no session)
    partitions: list[tuple[TopicPartition, PartitionRequest]]  # every partition to read, in order
    session: FetchSession | None = None
    incremental: bool = False
    error: ErrorCode = ErrorCode.none

    def keep(self, tp: TopicPartition, answer: PartitionAnswer) -> bool:
        """Whether `tp` goes into the response; remembers what the client is told.
        A full response holds every partition; an incremental one those that changed."""
        if self.session is None:
            return True
        cached = self.session.partitions.get(tp)
        if cached is None:
            return True
        changed = (answer.has_records or answer.error != 0 or answer.diverged
                   or cached.high_watermark != answer.high_watermark
                   or cached.last_stable_offset != answer.last_stable_offset
                   or cached.log_start_offset != answer.log_start_offset)
        cached.high_watermark = answer.high_watermark
        cached.last_stable_offset = answer.last_stable_offset
        cached.log_start_offset = answer.log_start_offset
        return changed or not self.incremental


class FetchSessionCache:
    def __init__(self, max_slots: int = DEFAULT_SLOTS, *, seed: int | None = None) -> None:
        self.max_slots = max_slots
        self.sessions: dict[int, FetchSession] = {}
        self._random = random.Random(seed)

    def new_context(self, session_id: int, epoch: int, requested: Iterable[tuple[TopicPartition, PartitionRequest]],
                    forgotten: Iterable[TopicPartition], *, privileged: bool, now_ms: int) -> FetchContext:
        """Resolve a request (Kafka's FetchManager.newContext)."""
        wanted = list(requested)
        if epoch == FINAL_EPOCH:
            if session_id != INVALID_SESSION_ID:
                self.sessions.pop(session_id, None)
            return FetchContext(INVALID_SESSION_ID, wanted)
        if epoch == INITIAL_EPOCH:
            if session_id != INVALID_SESSION_ID:
                self.sessions.pop(session_id, None)
            session = self._create(privileged, now_ms)
            if session is None:
                return FetchContext(INVALID_SESSION_ID, wanted)
            for tp, req in wanted:
                session.partitions[tp] = CachedPartition(req)
            return FetchContext(session.id, wanted, session)
        session = self.sessions.get(session_id)
        if session is None:
            return FetchContext(INVALID_SESSION_ID, [], error=ErrorCode.fetch_session_id_not_found)
        if session.epoch != epoch:
            return FetchContext(INVALID_SESSION_ID, [], error=ErrorCode.invalid_fetch_session_epoch)
        for tp in forgotten:
            session.partitions.pop(tp, None)
        for tp, req in wanted:
            cached = session.partitions.get(tp)
            if cached is None:
                session.partitions[tp] = CachedPartition(req)
            else:
                cached.request = req
        session.epoch = next_epoch(epoch)
        session.last_used_ms = now_ms
        partitions = [(tp, cached.request) for tp, cached in session.partitions.items()]
        return FetchContext(session.id, partitions, session, incremental=True)

    def _create(self, privileged: bool, now_ms: int) -> FetchSession | None:
        if self.max_slots <= 0:
            return None
        if len(self.sessions) >= self.max_slots and not self._evict(privileged, now_ms):
            return None
        session_id = self._new_id()
        session = FetchSession(session_id, privileged, last_used_ms=now_ms)
        self.sessions[session_id] = session
        return session

    def _evict(self, privileged: bool, now_ms: int) -> bool:
        by_age = sorted(self.sessions.values(), key=lambda s: s.last_used_ms)
        stale = [s for s in by_age if now_ms - s.last_used_ms > EVICTION_MS]
        victims = stale or ([s for s in by_age if not s.privileged] if privileged else [])
        if not victims:
            return False
        del self.sessions[victims[0].id]
        return True

    def _new_id(self) -> int:
        while True:
            session_id = self._random.randint(1, 0x7FFFFFFF)
            if session_id not in self.sessions:
                return session_id

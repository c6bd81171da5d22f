"""Helpers for group coordinator tests: an in-memory __consumer_offsets (the storage
interface only), a coordinator driven by a ManualClock, and small client-side helpers."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from snakafka.clock import ManualClock
from snakafka.coordinator.group import (
    GroupConfig,
    GroupCoordinator,
    JoinResult,
    SyncResult,
)
from snakafka.coordinator.group.storage import Record
from snakafka.protocol.consumer_protocol import encode_subscription
from snakafka.protocol.errors import ErrorCode, KafkaError

E = ErrorCode


class MemoryOffsetsLog:
    """OffsetsLog in memory. `fail` makes appends raise that error; `gate`, while set to
    an unset Event, holds appends until it is set."""

    def __init__(self) -> None:
        self.records: dict[int, list[Record]] = defaultdict(list)
        self.fail: ErrorCode | None = None
        self.gate: asyncio.Event | None = None
        self.appends = 0

    async def append(self, partition: int, records: list[Record]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise KafkaError(self.fail)
        self.records[partition].extend(records)
        self.appends += 1
        await asyncio.sleep(0)

    def read(self, partition: int) -> Iterable[Record]:
        return list(self.records[partition])

    def all_records(self) -> list[Record]:
        return [r for p in sorted(self.records) for r in self.records[p]]


def config(**overrides: Any) -> GroupConfig:
    defaults: dict[str, Any] = {"offsets_topic_num_partitions": 1, "group_initial_rebalance_delay_ms": 0}
    defaults.update(overrides)
    return GroupConfig(**defaults)


def sub(*topics: str) -> bytes:
    return encode_subscription(list(topics))


@dataclass
class Env:
    coord: GroupCoordinator
    log: MemoryOffsetsLog
    clock: ManualClock
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def advance(self, ms: int, step: int = 100) -> None:
        """Move the clock by `ms` in steps, firing due timers and letting everything run."""
        end = self.clock.now + ms
        while self.clock.now < end:
            self.clock.advance(min(step, end - self.clock.now))
            self.coord.run_due_timers()
            await self.coord.settle()

    async def settle(self) -> None:
        """Let requests already sent reach the coordinator, then fire due timers and run
        everything they wake."""
        for _ in range(5):
            await asyncio.sleep(0)
        self.coord.run_due_timers()
        await self.coord.settle()

    def join(self, group: str, member_id: str = "", *, instance: str | None = None, client: str = "client",
             protocols: list[tuple[str, bytes]] | None = None, session: int = 10_000, rebalance: int = 30_000,
             protocol_type: str = "consumer", require_known: bool = True,
             skip: bool = False) -> asyncio.Task[JoinResult]:
        protos = protocols if protocols is not None else [("range", sub("t"))]
        return asyncio.get_running_loop().create_task(self.coord.join_group(
            group, member_id, instance, client, "/127.0.0.1", session, rebalance, protocol_type, protos,
            require_known, skip,
        ))

    def sync(self, group: str, generation: int, member_id: str, assignments: dict[str, bytes] | None = None,
             instance: str | None = None) -> asyncio.Task[SyncResult]:
        return asyncio.get_running_loop().create_task(self.coord.sync_group(
            group, generation, member_id, instance, "consumer", None, assignments or {},
        ))

    async def join_new(self, group: str, **kw: Any) -> asyncio.Task[JoinResult]:
        """A dynamic member's first join (v4+): MEMBER_ID_REQUIRED, then the join with that id."""
        first = await self.join(group, **kw)
        assert first.error_code == E.member_id_required, first
        return self.join(group, first.member_id, **kw)

    async def reload(self, cfg: GroupConfig | None = None) -> Env:
        """A new coordinator over the same log, with every partition loaded."""
        coord = GroupCoordinator(cfg or self.coord.config, self.log, self.clock, run_timers=False)
        for p in range(coord.config.offsets_topic_num_partitions):
            await coord.load_partition(p)
        return Env(coord, self.log, self.clock)


async def make_env(cfg: GroupConfig | None = None, log: MemoryOffsetsLog | None = None) -> Env:
    cfg = cfg or config()
    clock = ManualClock()
    log = log or MemoryOffsetsLog()
    coord = GroupCoordinator(cfg, log, clock, run_timers=False)
    for p in range(cfg.offsets_topic_num_partitions):
        await coord.load_partition(p)
    return Env(coord, log, clock)


async def joined_pair(env: Env, group: str) -> tuple[str, str, int]:
    """Two dynamic members joined in one generation, neither synced yet (the group is
    CompletingRebalance): (leader, follower, generation)."""
    tasks = [await env.join_new(group) for _ in range(2)]
    await env.settle()
    results = [await t for t in tasks]
    assert all(r.error_code == E.none for r in results), results
    leader = results[0].leader
    follower = next(r.member_id for r in results if r.member_id != leader)
    return leader, follower, results[0].generation_id


async def stable_group(env: Env, group: str, n: int, *, static: bool = False,
                       protocols: list[tuple[str, bytes]] | None = None) -> tuple[list[str], int, str]:
    """Form a Stable group of n members (ids, generation, leader); assignment of member i is b"a<i>"."""
    tasks = []
    for i in range(n):
        if static:
            tasks.append(env.join(group, instance=f"inst-{i}", client=f"c{i}", protocols=protocols))
        else:
            tasks.append(await env.join_new(group, client=f"c{i}", protocols=protocols))
        await asyncio.sleep(0)
    await env.settle()
    results = [await t for t in tasks]
    assert all(r.error_code == E.none for r in results), results
    gen, leader = results[0].generation_id, results[0].leader
    ids = [r.member_id for r in results]
    assignments = {m: f"a{i}".encode() for i, m in enumerate(ids)}
    syncs = [env.sync(group, gen, m, assignments if m == leader else None,
                      instance=f"inst-{i}" if static else None) for i, m in enumerate(ids)]
    await env.settle()
    for i, s in enumerate(syncs):
        r = await s
        assert r.error_code == E.none and r.assignment == f"a{i}".encode(), r
    return ids, gen, leader


def run(coro: Any) -> Any:
    return asyncio.run(coro)

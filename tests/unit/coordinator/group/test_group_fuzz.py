"""Random join / sync / heartbeat / leave / commit / clock / restart sequences from four
clients against one group, with an in-memory __consumer_offsets (hypothesis).

Whatever the interleaving:
* an acknowledged commit is what OffsetFetch returns until a later acknowledged commit of
  the same partition replaces it, across coordinator restarts (a reload from the log);
* in every generation, each member that SyncGroup answers gets exactly what that
  generation's leader assigned it, so no partition is handed to two members of one
  generation;
* a generation whose assignment was stored is never handed out again, restarts included.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support.group_coordinator import E, Env, make_env, run

from snakafka.coordinator.group import JoinResult, SyncResult

CLIENTS = 4
PARTITIONS = 6
TOPIC = "t"
GROUP = "g"
SESSION_MS = 6000
REBALANCE_MS = 8000


@dataclass
class Client:
    """What a consumer knows of its membership, moved one protocol step at a time by act().
    A crash starts a new incarnation: answers to the old one's requests are still checked
    but no longer change what the client knows."""

    name: str
    member_id: str = ""
    generation: int = -1
    synced_generation: int = -1
    rejoin: bool = False
    members: list[str] = field(default_factory=list)  # set when it leads its generation
    incarnation: int = 0
    waiting: bool = False  # a join or sync of this incarnation is in flight

    def forget(self) -> None:
        self.member_id, self.generation, self.synced_generation, self.rejoin = "", -1, -1, False

    def crash(self) -> None:
        self.forget()
        self.incarnation += 1
        self.waiting = False


@dataclass
class InFlight:
    client: Client
    incarnation: int
    task: asyncio.Task[Any]
    member_id: str
    generation: int = -1
    sent: dict[str, bytes] | None = None  # a leader's SyncGroup assignment

    @property
    def current(self) -> bool:
        return self.client.incarnation == self.incarnation


def assign(members: list[str]) -> dict[str, bytes]:
    """The leader's assignment: partitions dealt round-robin over the sorted members."""
    ordered = sorted(members)
    return {m: ",".join(str(p) for p in range(PARTITIONS) if p % len(ordered) == i).encode()
            for i, m in enumerate(ordered)}


class World:
    def __init__(self, env: Env) -> None:
        self.env = env
        self.clients = [Client(f"c{i}") for i in range(CLIENTS)]
        self.in_flight: list[InFlight] = []
        self.committed: dict[tuple[str, int], int] = {}  # the model: latest acknowledged commit
        self.leader_sent: dict[int, dict[str, bytes]] = {}  # generation -> leader's assignment
        self.received: dict[int, dict[str, bytes]] = {}  # generation -> member -> assignment
        self.max_generation = 0

    # -- harvesting answers ------------------------------------------------------------

    def harvest(self) -> None:
        done = [f for f in self.in_flight if f.task.done()]
        self.in_flight = [f for f in self.in_flight if not f.task.done()]
        for f in done:
            if f.current:
                f.client.waiting = False
            result = f.task.result()
            if isinstance(result, JoinResult):
                self._joined(f, result)
            else:
                self._synced(f, result)

    def _joined(self, f: InFlight, r: JoinResult) -> None:
        c = f.client
        if r.error_code == E.none:
            # a generation whose assignment was stored is never handed out again; one that a
            # restart lost before any SyncGroup stored it may be (as in Kafka)
            stored = max(self.leader_sent, default=0)
            assert r.generation_id >= stored, (r.generation_id, stored)
            self.max_generation = max(self.max_generation, r.generation_id)
            if r.leader == r.member_id:
                assert r.member_id in [m.member_id for m in r.members]
        if not f.current:
            return
        if r.error_code == E.member_id_required:
            c.member_id = r.member_id
        elif r.error_code == E.none:
            c.member_id, c.generation, c.rejoin = r.member_id, r.generation_id, False
            c.members = [m.member_id for m in r.members] if r.leader == r.member_id else []
        elif r.error_code == E.unknown_member_id:
            c.forget()
        else:
            c.rejoin = True

    def _synced(self, f: InFlight, r: SyncResult) -> None:
        c = f.client
        if r.error_code == E.none:
            if f.sent is not None:
                assert self.leader_sent.setdefault(f.generation, f.sent) == f.sent
            self.received.setdefault(f.generation, {})[f.member_id] = r.assignment
        if not f.current:
            return
        if r.error_code == E.none:
            c.synced_generation = f.generation
        elif r.error_code == E.unknown_member_id:
            c.forget()
        else:
            c.rejoin = True

    def check_generations(self) -> None:
        for gen, got in self.received.items():
            sent = self.leader_sent.get(gen)
            if sent is None:
                continue  # the leader's own answer is still to be harvested
            for member, assignment in got.items():
                assert assignment == sent[member], (gen, member, assignment, sent)
            taken = [p for a in got.values() for p in a.split(b",") if p]
            assert len(taken) == len(set(taken)), (gen, got)

    # -- operations --------------------------------------------------------------------

    async def step(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        env = self.env
        if kind == "advance":
            await env.advance(op[1], step=500)
        elif kind == "restart":
            await env.coord.close()
            await asyncio.sleep(0)
            self.harvest()  # waiting requests were answered NOT_COORDINATOR
            self.env = await env.reload()
            await self.check_offsets()
        elif kind == "fetch":
            await self.check_offsets()
        elif kind == "round":  # every client takes its next step, in the order given
            for i in op[1]:
                await self.act(self.clients[i])
                await env.settle()
                self.harvest()
        else:
            c = self.clients[op[1]]
            if kind == "crash":  # the process dies: its member stays until its session expires
                c.crash()
            elif kind == "leave" and c.member_id:
                await env.coord.leave_group(GROUP, [(c.member_id, None)])
                c.forget()
            elif kind == "commit" and c.member_id:
                tp, offset = (TOPIC, op[2]), op[3]
                answer = await env.coord.commit_offsets(GROUP, c.member_id, None, c.generation, {tp: (offset, -1, "")})
                if answer[tp] == E.none:
                    self.committed[tp] = offset
        await env.settle()
        self.harvest()
        self.check_generations()

    async def act(self, c: Client) -> None:
        """The client's next step, as a consumer takes them: join (again), sync, heartbeat."""
        env = self.env
        if c.waiting:
            return
        if not c.member_id or c.generation < 0 or c.rejoin:
            task: asyncio.Task[Any] = env.join(GROUP, c.member_id, client=c.name, session=SESSION_MS,
                                               rebalance=REBALANCE_MS)
            self.in_flight.append(InFlight(c, c.incarnation, task, c.member_id))
            c.waiting = True
        elif c.synced_generation != c.generation:
            sent = assign(c.members) if c.members else None
            task = env.sync(GROUP, c.generation, c.member_id, sent)
            self.in_flight.append(InFlight(c, c.incarnation, task, c.member_id, c.generation, sent))
            c.waiting = True
        else:
            code = await env.coord.heartbeat(GROUP, c.member_id, None, c.generation)
            if code == E.unknown_member_id:
                c.forget()
            elif code != E.none:
                c.rejoin = True

    async def check_offsets(self) -> None:
        error, fetched = await self.env.coord.fetch_offsets(GROUP, [(TOPIC, p) for p in range(PARTITIONS)])
        assert error == E.none
        got = {tp: f.offset for tp, f in fetched.items() if f.offset >= 0}
        assert got == self.committed


client = st.integers(0, CLIENTS - 1)
BY_KIND = {
    "round": st.tuples(st.just("round"), st.permutations(range(CLIENTS))),
    "commit": st.tuples(st.just("commit"), client, st.integers(0, PARTITIONS - 1), st.integers(0, 1000)),
    "leave": st.tuples(st.just("leave"), client),
    "crash": st.tuples(st.just("crash"), client),
    "advance": st.tuples(st.just("advance"), st.sampled_from([100, 1000, 3000, 7000])),
    "fetch": st.tuples(st.just("fetch")),
    "restart": st.tuples(st.just("restart")),
}
# mostly clients going about their protocol; now and then a commit, and rarely a disruption
KINDS = ["round"] * 12 + ["commit"] * 4 + ["leave", "crash", "advance", "advance", "fetch", "restart"]
operation = st.sampled_from(KINDS).flatmap(lambda kind: BY_KIND[kind])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=20, max_size=80))
def test_random_group_traffic_keeps_offsets_and_assignments(ops: list[tuple[Any, ...]]) -> None:
    async def main() -> None:
        world = World(await make_env())
        try:
            for op in ops:
                await world.step(op)
            await world.step(("fetch",))
        finally:
            await world.env.coord.close()
            await asyncio.sleep(0)
        world.harvest()
        world.check_generations()
        event(f"generations with a full sync: {min(len(world.leader_sent), 3)}+")
        event(f"acknowledged commits: {min(len(world.committed), 3)}+")
        event(f"generations: {min(world.max_generation, 5)}+")

    run(main())

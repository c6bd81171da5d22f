"""Pipelined produce on the wire: a connection's next produce requests are appended while
an earlier acks=all request still waits for the ISR, and the answers go back in request
order. One leader (a ReplicaManager leading t-0 and t-1 with follower 1 in the ISR) behind
the real socket server and produce handler; the test plays follower 1 by fetching, and
the client is snakafka's pipelining BrokerConnection, which fails a request whose answer
comes out of order (correlation ids are matched in request order)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from kio.static.primitive import i16, i32
from support.batches import make_batch
from support.leader_setup import Setup

from snakafka.client.connection import BrokerConnection
from snakafka.client.requests import build, millis, request, schema
from snakafka.replication.replica_manager import ReplicaManager
from snakafka.server.dispatch import Api, Dispatcher
from snakafka.server.handlers.produce import handle_produce
from snakafka.server.network import SocketServer
from snakafka.server.services import BrokerServices

PRODUCE = 0


def produce(acks: int, partitions: dict[int, bytes]) -> Any:
    s = schema(PRODUCE, 9)
    return request(PRODUCE, 9, transactional_id=None, acks=i16(acks), timeout=millis(30_000), topic_data=(
        build(s.TopicProduceData, name="t", partition_data=tuple(
            build(s.PartitionProduceData, index=i32(p), records=data) for p, data in partitions.items())),))


async def serve(manager: ReplicaManager) -> SocketServer:
    services = SimpleNamespace(replica_manager=manager, acls=SimpleNamespace(authorizer=None))  # what the handler uses
    server = SocketServer(cast(BrokerServices, services), Dispatcher([Api(PRODUCE, 3, 9, handle_produce)]),
                          "PLAINTEXT", "127.0.0.1", 0, 1 << 20)
    await server.start()
    return server


async def until(check: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def answer(response: Any) -> tuple[int, int, int]:
    part = response.responses[0].partition_responses[0]
    return int(part.index), int(part.error_code.value), int(part.base_offset)


def test_the_next_produce_is_appended_while_the_first_waits_for_the_isr(tmp_path: Path) -> None:
    async def run() -> None:
        setup = Setup(tmp_path, isr=(0, 1))
        manager = await setup.start()
        part = manager.partitions[("t", 0)]
        server = await serve(manager)
        async with BrokerConnection("127.0.0.1", server.port) as conn:
            first = asyncio.ensure_future(conn.send(produce(-1, {0: make_batch(3)})))
            second = asyncio.ensure_future(conn.send(produce(-1, {0: make_batch(2)})))
            # One request at a time would leave the log end at 3 until the first is acknowledged.
            await until(lambda: part.log.log_end_offset == 5)
            assert not first.done() and not second.done() and part.high_watermark == 0
            await setup.follower_fetch(3)  # the follower has the first request's records
            assert answer(await asyncio.wait_for(first, 10)) == (0, 0, 0)
            await asyncio.sleep(0.05)
            assert not second.done()
            await setup.follower_fetch(5)
            assert answer(await asyncio.wait_for(second, 10)) == (0, 0, 3)
        await server.stop()
        await setup.stop()
    asyncio.run(run())


def test_answers_keep_request_order_when_a_later_request_completes_first(tmp_path: Path) -> None:
    async def run() -> None:
        setup = Setup(tmp_path, isr=(0, 1), partitions=2)
        manager = await setup.start()
        server = await serve(manager)
        log1 = manager.partitions[("t", 1)].log
        async with BrokerConnection("127.0.0.1", server.port) as conn:
            first = asyncio.ensure_future(conn.send(produce(-1, {0: make_batch(2)})))
            second = asyncio.ensure_future(conn.send(produce(-1, {1: make_batch(4)})))
            third = asyncio.ensure_future(conn.send(produce(1, {1: make_batch(1)})))  # acks=1: no wait of its own
            await until(lambda: log1.log_end_offset == 5)
            await setup.follower_fetch(5, partition=1)  # the second's records are committed first
            await asyncio.sleep(0.1)
            # An answer sent out of order would fail the client's correlation check.
            assert not first.done() and not second.done() and not third.done()
            await setup.follower_fetch(2, partition=0)
            results = await asyncio.wait_for(asyncio.gather(first, second, third), 10)
            assert [answer(r) for r in results] == [(0, 0, 0), (1, 0, 0), (1, 0, 4)]
        await server.stop()
        await setup.stop()
    asyncio.run(run())

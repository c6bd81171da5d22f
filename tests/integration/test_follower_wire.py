"""A follower replicating over the wire, in one process: broker 1's ReplicaManager follows
t-0 and t-1 from broker 0's, whose fetch handler sits behind the real socket server. The
follower's fetcher speaks the hand-written Fetch v12 codec and holds a fetch session
(KIP-227) with the leader: after its first full request it lists only partitions whose
position changed, and the leader's session keeps the others. acks=all answers once the
follower has the records."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from support.batches import make_batch
from support.leader_setup import Setup

from snakafka.cluster.model import BrokerInfo, Endpoint
from snakafka.log.log_config import LogConfig
from snakafka.log.log_manager import LogManager
from snakafka.protocol.errors import ErrorCode
from snakafka.replication.fetcher import FetcherConfig
from snakafka.replication.replica_manager import ReplicaManager
from snakafka.server.dispatch import Api, Dispatcher
from snakafka.server.handlers.fetch import handle_fetch
from snakafka.server.network import SocketServer
from snakafka.server.services import BrokerServices


async def until(check: Any, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_a_follower_replicates_over_an_incremental_fetch_session(tmp_path: Path) -> None:
    async def run() -> None:
        setup = Setup(tmp_path, isr=(0, 1), partitions=2)
        leader = await setup.start()
        services = SimpleNamespace(replica_manager=leader, clock=setup.scheduler.clock, acls=SimpleNamespace(authorizer=None))
        server = SocketServer(cast(BrokerServices, services), Dispatcher([Api(1, 4, 12, handle_fetch)]), "PLAINTEXT",
                              "127.0.0.1", 0, 1 << 20)
        await server.start()
        await setup.store.register_broker(BrokerInfo(0, (Endpoint("PLAINTEXT", "127.0.0.1", server.port),)))
        await setup.cache.refresh()
        follower = ReplicaManager(1, LogManager([tmp_path / "follower"], setup.scheduler.clock, LogConfig()), setup.cache,
                                  lambda _topic: LogConfig(min_insync_replicas=2), store=setup.store,
                                  fetcher_config=FetcherConfig(1, "PLAINTEXT", max_wait_ms=200))
        follower.apply_metadata()
        t0, t1 = follower.partitions[("t", 0)], follower.partitions[("t", 1)]

        acked = await asyncio.wait_for(leader.append_and_wait(-1, {("t", 0): make_batch(3), ("t", 1): make_batch(2)},
                                                              30_000), 20)
        assert all(r.error == ErrorCode.none for r in acked.values())
        assert t0.log.log_end_offset == 3 and t1.log.log_end_offset == 2

        [fetcher] = follower.fetchers._fetchers.values()
        await until(lambda: fetcher.session_id != 0)
        session = leader.fetch_sessions.sessions[fetcher.session_id]
        assert session.privileged and session.partitions.keys() == {("t", 0), ("t", 1)}
        epoch = session.epoch
        for n in range(3):  # only t-0 moves; the session keeps t-1 at its position
            await asyncio.wait_for(leader.append_and_wait(-1, {("t", 0): make_batch(1)}, 30_000), 20)
        assert t0.log.log_end_offset == 6 and t1.log.log_end_offset == 2
        assert leader.fetch_sessions.sessions[fetcher.session_id] is session and session.epoch > epoch
        assert session.partitions[("t", 0)].request.fetch_offset >= 5 and session.partitions[("t", 1)].request.fetch_offset == 2
        assert fetcher.session_partitions[("t", 1)].fetch_offset == 2

        await follower.close()
        follower.log_manager.shutdown()
        await server.stop()
        await setup.stop()
    asyncio.run(run())

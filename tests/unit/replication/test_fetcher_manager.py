"""num.replica.fetchers: the partitions a broker follows under one leader are spread over
that many fetcher tasks (each with its own connection) as Kafka spreads them."""

from __future__ import annotations

import asyncio

from snakafka.replication.fetcher import (
    FetcherConfig,
    ReplicaFetcherManager,
    fetcher_id,
)


def test_fetcher_id_is_kafkas() -> None:
    """Kafka's getFetcherId: Utils.abs(31 * topic.hashCode + partition) % num.replica.fetchers."""
    assert [fetcher_id("t", p, 3) for p in range(4)] == [(31 * 116 + p) % 3 for p in range(4)]  # "t".hashCode() 116
    assert fetcher_id("t", 5, 1) == 0
    # "hello world".hashCode() == 1794106052: 31 times it overflows to a negative int32
    h = (31 * 1794106052 + 2) & 0xFFFFFFFF
    assert h >= 1 << 31 and fetcher_id("hello world", 2, 7) == abs(h - (1 << 32)) % 7


def test_partitions_of_one_leader_spread_over_the_fetchers() -> None:
    async def run() -> None:
        manager = ReplicaFetcherManager(FetcherConfig(1, "PLAINTEXT", backoff_ms=60_000, num_fetchers=3),
                                        lambda _tp: None, lambda _broker: None)
        wanted = {("t", p): (0, 5) for p in range(9)} | {("u", 0): (2, 1)}
        manager.update(wanted)
        ids = manager.fetcher_ids
        assert ids == {tp: (leader, fetcher_id(tp[0], tp[1], 3)) for tp, (leader, _) in wanted.items()}
        assert {key for tp, key in ids.items() if tp[0] == "t"} == {(0, 0), (0, 1), (0, 2)}
        tasks = {t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("replica-fetcher")}
        assert tasks == {f"replica-fetcher-{i}-{leader}" for leader, i in set(ids.values())}
        manager.update({("u", 0): (2, 1)})  # leadership of t moved away: its fetchers stop
        await asyncio.sleep(0)
        assert set(manager.fetcher_ids.values()) == {(2, fetcher_id("u", 0, 3))}
        await manager.close()
    asyncio.run(run())

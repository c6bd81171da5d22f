"""Offsets committed inside transactions (TxnOffsetCommit) in the group coordinator:
pending until the producer's marker, committed or dropped by it, and rebuilt the same
way from the log (markers honoured, unfinished transactions left pending)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from support.group_coordinator import Env, config, stable_group

from snakafka.clock import ManualClock
from snakafka.coordinator.group import GroupCoordinator
from snakafka.coordinator.internal_topic_log import LogEntry, TxnMarkerRecord, TxnRecord
from snakafka.protocol.errors import ErrorCode

E = ErrorCode
TP = ("in", 0)
Record = tuple[bytes, bytes | None]


class MemoryTxnOffsetsLog:
    """An OffsetsLog with transactional batches, the way InternalTopicLog reads them back."""

    def __init__(self) -> None:
        self.entries: list[LogEntry] = []

    async def append(self, partition: int, records: list[Record]) -> None:
        self.entries.extend(records)
        await asyncio.sleep(0)

    async def append_txn(self, partition: int, records: list[Record], producer_id: int, producer_epoch: int) -> None:
        self.entries.extend(TxnRecord(producer_id, k, v) for k, v in records)
        await asyncio.sleep(0)

    def marker(self, producer_id: int, commit: bool) -> None:
        self.entries.append(TxnMarkerRecord(producer_id, commit))

    def read(self, partition: int) -> Iterable[LogEntry]:
        return list(self.entries)


async def coordinator(log: MemoryTxnOffsetsLog) -> GroupCoordinator:
    coord = GroupCoordinator(config(), log, ManualClock(), run_timers=False)  # type: ignore[arg-type]
    await coord.load_partition(0)
    return coord


async def offset(coord: GroupCoordinator, group: str, require_stable: bool = False) -> tuple[int, ErrorCode]:
    error, fetched = await coord.fetch_offsets(group, [TP], require_stable)
    assert error is E.none
    return fetched[TP].offset, fetched[TP].error


def test_pending_until_commit_marker() -> None:
    async def main() -> None:
        log = MemoryTxnOffsetsLog()
        coord = await coordinator(log)
        assert await coord.commit_txn_offsets("g", 7, 0, "", None, -1, {TP: (5, -1, "m")}) == {TP: E.none}
        assert await offset(coord, "g") == (-1, E.none)
        assert await offset(coord, "g", require_stable=True) == (-1, E.unstable_offset_commit)
        log.marker(7, True)
        coord.complete_txn(7, [0], commit=True)
        assert await offset(coord, "g", require_stable=True) == (5, E.none)
        await coord.close()

    asyncio.run(main())


def test_abort_marker_drops_them() -> None:
    async def main() -> None:
        log = MemoryTxnOffsetsLog()
        coord = await coordinator(log)
        await coord.commit_offsets("g", "", None, -1, {TP: (2, -1, "")})
        await coord.commit_txn_offsets("g", 7, 0, "", None, -1, {TP: (5, -1, "")})
        coord.complete_txn(8, [0], commit=True)  # another producer's marker changes nothing
        assert await offset(coord, "g", True) == (-1, E.unstable_offset_commit)
        log.marker(7, False)
        coord.complete_txn(7, [0], commit=False)
        assert await offset(coord, "g", True) == (2, E.none)
        await coord.close()

    asyncio.run(main())


def test_a_later_plain_commit_wins_over_the_transaction() -> None:
    async def main() -> None:
        log = MemoryTxnOffsetsLog()
        coord = await coordinator(log)
        await coord.commit_txn_offsets("g", 7, 0, "", None, -1, {TP: (5, -1, "")})
        await coord.commit_offsets("g", "", None, -1, {TP: (9, -1, "")})
        log.marker(7, True)
        coord.complete_txn(7, [0], commit=True)
        assert await offset(coord, "g") == (9, E.none)
        await coord.close()

    asyncio.run(main())


def test_reload_honours_markers_and_keeps_open_transactions_pending() -> None:
    async def main() -> None:
        log = MemoryTxnOffsetsLog()
        coord = await coordinator(log)
        await coord.commit_txn_offsets("committed", 1, 0, "", None, -1, {TP: (10, -1, "")})
        await coord.commit_txn_offsets("aborted", 2, 0, "", None, -1, {TP: (20, -1, "")})
        await coord.commit_txn_offsets("open", 3, 0, "", None, -1, {TP: (30, -1, "")})
        log.marker(1, True)
        log.marker(2, False)
        await coord.close()
        again = await coordinator(log)
        assert await offset(again, "committed", True) == (10, E.none)
        assert await offset(again, "aborted", True) == (-1, E.none)
        assert await offset(again, "open", True) == (-1, E.unstable_offset_commit)
        again.complete_txn(3, [0], commit=True)  # the coordinator finishes the transaction later
        assert await offset(again, "open", True) == (30, E.none)
        await again.close()

    asyncio.run(main())


def test_member_and_generation_are_checked() -> None:
    async def main() -> None:
        log = MemoryTxnOffsetsLog()
        coord = await coordinator(log)
        env = Env(coord, log, ManualClock())  # type: ignore[arg-type]
        ids, generation, _ = await stable_group(env, "grp", 1)
        ok = await coord.commit_txn_offsets("grp", 7, 0, ids[0], None, generation, {TP: (1, -1, "")})
        assert ok == {TP: E.none}
        stale = await coord.commit_txn_offsets("grp", 7, 0, ids[0], None, generation + 1, {TP: (1, -1, "")})
        assert stale == {TP: E.illegal_generation}
        unknown = await coord.commit_txn_offsets("grp", 7, 0, "nobody", None, generation, {TP: (1, -1, "")})
        assert unknown == {TP: E.unknown_member_id}
        await coord.close()

    asyncio.run(main())

"""Transactions in the partition log: producer state fed by appends, `.txnindex` entries
for aborts, aborted-transaction lookups for READ_COMMITTED fetches, and the same state
after a clean restart, a crash (recovery), a truncation, retention and compaction."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.txn_batches import marker, txn_batch

from snakafka.clock import ManualClock
from snakafka.log import producer_snapshot, txn_state
from snakafka.log.cleaner import LogCleaner
from snakafka.log.log_config import LogConfig
from snakafka.log.partition_log import PartitionLog
from snakafka.log.producer_state import InvalidProducerEpoch, ProducerStateManager
from snakafka.log.txn_index import AbortedTxn
from snakafka.protocol.batch import BatchError, BatchHeader, read_header

SMALL = LogConfig(segment_bytes=400, index_interval_bytes=100)


def open_log(directory: Path, clock: ManualClock, config: LogConfig = SMALL, **kwargs: object) -> PartitionLog:
    return PartitionLog.open(directory / "t-0", "t", 0, config, clock, **kwargs)  # type: ignore[arg-type]


def lso(plog: PartitionLog) -> int | None:
    """The last stable offset with the high watermark at the log end; None: no open
    transaction (the LSO is the log end)."""
    value = plog.last_stable_offset(plog.log_end_offset)
    return None if value == plog.log_end_offset else value


def txn_files(plog: PartitionLog) -> list[str]:
    return sorted(p.name for p in plog.directory.iterdir() if p.name.endswith(".txnindex"))


def test_abort_marker_writes_an_index_entry(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_log(tmp_path, clock, LogConfig())
    plog.append(txn_batch(1, 0, [b"a", b"b"]))  # 0-1
    plog.append(txn_batch(2, 0, [b"c"]))  # 2
    assert lso(plog) == 0
    plog.append(marker(1, commit=False))  # 3
    assert lso(plog) == 2
    plog.append(marker(2, commit=True))  # 4
    assert lso(plog) is None
    assert plog.active_segment.txn_index.entries == [AbortedTxn(1, 0, 3, 2)]
    assert plog.aborted_transactions(0, 5) == [AbortedTxn(1, 0, 3, 2)]
    assert plog.aborted_transactions(4, 5) == []  # the abort ended before the range
    plog.close()
    again = open_log(tmp_path, clock, LogConfig(), needs_recovery=False)
    assert txn_files(again) == ["00000000000000000000.txnindex"]
    assert again.aborted_transactions(0, 5) == [AbortedTxn(1, 0, 3, 2)]
    assert lso(again) is None


def test_open_transaction_survives_a_restart_and_the_marker_closes_it(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_log(tmp_path, clock)
    for i in range(10):  # several segments before and after the transaction starts
        plog.append(txn_batch(1, i, [b"x" * 40], transactional=False))
    start = plog.append(txn_batch(2, 0, [b"t" * 40])).first_offset
    for i in range(10, 20):
        plog.append(txn_batch(1, i, [b"x" * 40], transactional=False))
    assert len(plog.segments) > 3 and lso(plog) == start
    plog.close()
    for recovery in (False, True):
        again = open_log(tmp_path, clock, needs_recovery=recovery)
        assert lso(again) == start
        again.close()
    again = open_log(tmp_path, clock)
    again.append(marker(2, commit=True))
    assert lso(again) is None


def test_markers_are_fenced_by_the_producer_epoch(tmp_path: Path) -> None:
    plog = open_log(tmp_path, ManualClock())
    plog.append(txn_batch(1, 0, [b"a"], epoch=3))
    with pytest.raises(InvalidProducerEpoch):
        plog.append(marker(1, commit=True, epoch=2))
    assert plog.log_end_offset == 1 and lso(plog) == 0
    with pytest.raises(BatchError):  # a control batch that is not a marker
        from snakafka.protocol.records import NewRecord, encode_batch
        plog.append(encode_batch([NewRecord(b"\x00\x00\x00\x07", b"")], control=True, producer_id=1,
                                 producer_epoch=3))


def test_crash_recovery_rebuilds_the_index_and_reopens_a_torn_marker(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_log(tmp_path, clock, LogConfig())
    plog.append(txn_batch(1, 0, [b"a"]))  # 0
    plog.append(marker(1, commit=False))  # 1
    plog.append(txn_batch(1, 1, [b"b"]))  # 2
    plog.append(marker(1, commit=False))  # 3
    plog.flush()
    plog.close()
    os.unlink(tmp_path / "t-0" / "00000000000000000000.txnindex")  # lost with the crash
    log_file = tmp_path / "t-0" / "00000000000000000000.log"
    with open(log_file, "r+b") as f:  # the last marker was torn
        f.truncate(os.path.getsize(log_file) - 5)
    again = open_log(tmp_path, clock, LogConfig(), needs_recovery=True, recovery_point=0)
    assert again.log_end_offset == 3
    assert lso(again) == 2, "the second transaction's marker is gone: it is open again"
    assert again.aborted_transactions(0, 3) == [AbortedTxn(1, 0, 1, 2)]
    assert txn_files(again) == ["00000000000000000000.txnindex"]


def test_truncation_reopens_transactions_and_trims_the_index(tmp_path: Path) -> None:
    plog = open_log(tmp_path, ManualClock())
    plog.append(txn_batch(1, 0, [b"a" * 50]))  # 0
    plog.append(txn_batch(2, 0, [b"b" * 50]))  # 1
    for i in range(6):
        plog.append(txn_batch(3, i, [b"c" * 50], transactional=False))  # 2..7
    plog.append(marker(1, commit=False))  # 8
    plog.append(marker(2, commit=False))  # 9
    assert lso(plog) is None and len(plog.aborted_transactions(0, 10)) == 2
    plog.truncate_to(9)
    assert lso(plog) == 1
    assert plog.aborted_transactions(0, 9) == [AbortedTxn(1, 0, 8, 1)]
    plog.truncate_to(1)
    assert lso(plog) == 0 and plog.aborted_transactions(0, 1) == []
    assert txn_files(plog) == []
    plog.truncate_fully_and_start_at(20)
    assert lso(plog) is None


def test_retention_deletes_the_index_with_its_segment(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_log(tmp_path, clock, LogConfig(segment_bytes=400, retention_ms=1_000))
    plog.append(txn_batch(1, 0, [b"a" * 100], timestamp=clock.now))
    plog.append(marker(1, commit=False, timestamp=clock.now))
    plog.roll()
    plog.append(txn_batch(2, 0, [b"b"], transactional=False, timestamp=clock.now + 10_000))
    assert txn_files(plog) == ["00000000000000000000.txnindex"]  # written when the segment rolled
    clock.advance(5_000)
    for segment in plog.delete_old_segments():
        segment.delete()
    assert txn_files(plog) == [] and plog.log_start_offset == 2


def test_an_open_transaction_bounds_the_cleaner_and_cleaning_keeps_the_index(tmp_path: Path) -> None:
    clock = ManualClock()
    config = LogConfig(segment_bytes=300, index_interval_bytes=100, cleanup_policy=("compact",),
                       min_cleanable_dirty_ratio=0.0)
    plog = open_log(tmp_path, clock, config)
    plog.append(txn_batch(1, 0, [b"old"], key=b"k"))  # 0: aborted below
    plog.append(marker(1, commit=False))  # 1
    for i in range(4):
        plog.append(txn_batch(2, i, [b"v%d" % i * 30], key=b"k", transactional=False))  # 2..5
    open_at = plog.append(txn_batch(3, 0, [b"open" * 20], key=b"k")).first_offset
    for i in range(4, 12):
        plog.append(txn_batch(2, i, [b"w%d" % i * 30], key=b"k", transactional=False))
    cleaner = LogCleaner(clock)
    plan = cleaner.prepare(plog)
    assert plan is not None and plan.clean_end <= open_at, "never clean at or past an open transaction"
    result = cleaner.clean(plan)
    for segment in cleaner.commit(plog, result):
        segment.delete()
    assert plog.segments[0].txn_index.entries == [AbortedTxn(1, 0, 1, 2)]
    assert plog.aborted_transactions(0, open_at) == [AbortedTxn(1, 0, 1, 2)]
    plog.append(marker(3, commit=True))
    plan = cleaner.prepare(plog)
    assert plan is not None and plan.clean_end > open_at
    plan.close()


# -- against a model, across restarts --------------------------------------------------


@dataclass
class Model:
    next_offset: int = 0
    open: dict[int, int] = field(default_factory=dict)
    aborted: list[AbortedTxn] = field(default_factory=list)

    def overlapping(self, fetch_offset: int, upper: int) -> list[AbortedTxn]:
        if upper <= fetch_offset:
            return []  # an empty fetch has no aborted transactions to report
        return [a for a in self.aborted if a.last_offset >= fetch_offset and a.first_offset < upper]


events = st.lists(st.tuples(st.integers(1, 3), st.sampled_from(["txn", "txn", "plain", "commit", "abort", "roll"]),
                            st.integers(1, 3)), min_size=1, max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(evs=events, data=st.data())
def test_log_matches_the_model_across_restarts(tmp_path_factory: pytest.TempPathFactory,
                                               evs: list[tuple[int, str, int]], data: st.DataObject) -> None:
    directory = tmp_path_factory.mktemp("log")
    clock = ManualClock()
    plog = open_log(directory, clock)
    model = Model()
    seqs: dict[int, int] = {}
    for pid, kind, count in evs:
        offset = model.next_offset
        if kind == "roll":
            plog.roll()
            continue
        if kind in ("txn", "plain"):
            seq = seqs.get(pid, 0)
            plog.append(txn_batch(pid, seq, [b"v" * 30] * count, transactional=kind == "txn"))
            seqs[pid] = seq + count
            if kind == "txn":
                model.open.setdefault(pid, offset)
            model.next_offset += count
        else:
            plog.append(marker(pid, commit=kind == "commit"))
            first = model.open.pop(pid, offset)
            if kind == "abort":
                model.aborted.append(AbortedTxn(pid, first, offset, min([*model.open.values(), offset + 1])))
            model.next_offset += 1
    end = model.next_offset
    fetch = data.draw(st.integers(0, end), label="fetch offset")
    upper = data.draw(st.integers(fetch, end), label="upper bound")

    def check(log_: PartitionLog) -> None:
        assert lso(log_) == min(model.open.values(), default=None)
        got = log_.aborted_transactions(fetch, upper)
        assert got == model.overlapping(fetch, upper)

    check(plog)
    plog.close()
    clean = open_log(directory, clock, needs_recovery=False)
    check(clean)
    clean.close()
    for path in directory.glob("t-0/*.txnindex"):
        path.unlink()  # a crash before the indexes were written: recovery rebuilds them
    recovered = open_log(directory, clock, needs_recovery=True, recovery_point=0)
    check(recovered)
    recovered.close()


def producers(state: ProducerStateManager) -> dict[int, tuple[object, ...]]:
    return {pid: (e.epoch, list(e.batches), e.coordinator_epoch, e.current_txn_first_offset)
            for pid, e in state.producers.items()}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(evs=events, data=st.data())
def test_truncation_replays_the_tail_to_the_same_state(tmp_path_factory: pytest.TempPathFactory,
                                                       evs: list[tuple[int, str, int]], data: st.DataObject) -> None:
    """After a truncation the log replays from a copy of its state at a recent roll; the
    result must equal a replay of the whole log."""
    plog = open_log(tmp_path_factory.mktemp("log"), ManualClock())
    seqs: dict[int, int] = {}
    for pid, kind, count in evs:
        if kind == "roll":
            plog.roll()
        elif kind in ("txn", "plain"):
            plog.append(txn_batch(pid, seqs.get(pid, 0), [b"v" * 30] * count, transactional=kind == "txn"))
            seqs[pid] = seqs.get(pid, 0) + count
        else:
            plog.append(marker(pid, commit=kind == "commit"))
    for segment in plog.truncate_to(data.draw(st.integers(0, plog.log_end_offset), label="truncate to")):
        segment.delete()
    full = ProducerStateManager()
    txn_state.replay(full, plog.segments, plog.log_start_offset, set(), plog.name)
    assert producers(plog.producer_state) == producers(full)
    assert plog.producer_state.ongoing == full.ongoing
    plog.close()


def test_a_clean_close_leaves_a_snapshot_the_next_open_starts_from(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    clock = ManualClock()
    plog = open_log(tmp_path, clock)
    plog.append(txn_batch(1, 0, [b"a", b"b"], epoch=2))  # 0-1: open
    plog.append(txn_batch(2, 0, [b"c"], transactional=False))  # 2
    plog.append(marker(3, commit=False, coordinator_epoch=4))  # 3: a producer with only a marker
    plog.append(txn_batch(2, 1, [b"d"], transactional=False))  # 4
    before = plog.producer_state
    plog.close()
    assert [p.name for p in plog.directory.glob("*.snapshot")] == ["00000000000000000005.snapshot"]

    replays: list[int] = []
    with monkeypatch.context() as patch:
        patch.setattr(txn_state, "replay", lambda *args, **kwargs: replays.append(1))
        again = open_log(tmp_path, clock, needs_recovery=False)
    assert replays == [], "a clean shutdown's snapshot spares the replay"
    assert list(plog.directory.glob("*.snapshot")) == [], "taken once: a later crash never reuses it"
    state = again.producer_state
    assert state.ongoing == {1: 0} and lso(again) == 0
    assert {pid: (e.epoch, e.coordinator_epoch, list(e.batches)) for pid, e in state.producers.items()} == {
        pid: (e.epoch, e.coordinator_epoch, list(e.batches)) for pid, e in before.producers.items()}
    assert again.producer_state.check(txn_batch_header(2, 1)) is not None, "a retry is still recognised"
    again.close()
    # a snapshot that does not match the log end is ignored (and the log replayed)
    (plog.directory / "00000000000000000005.snapshot").rename(plog.directory / "00000000000000000004.snapshot")
    third = open_log(tmp_path, clock, needs_recovery=False)
    assert third.producer_state.ongoing == {1: 0}
    corrupt = producer_snapshot.encode(third.producer_state)[:-3]
    with pytest.raises(ValueError):
        producer_snapshot.decode(corrupt)


def txn_batch_header(producer_id: int, sequence: int) -> BatchHeader:
    return read_header(txn_batch(producer_id, sequence, [b"d"], transactional=False))

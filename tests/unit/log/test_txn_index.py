"""The `.txnindex` file: Kafka's 34-byte entries, round trip, truncation, search."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snakafka.log.index import IndexCorruptError
from snakafka.log.txn_index import (
    ENTRY_SIZE,
    AbortedTxn,
    TransactionIndex,
    decode_entries,
)


def entries_strategy() -> st.SearchStrategy[list[AbortedTxn]]:
    def build(spans: list[tuple[int, int, int, int]]) -> list[AbortedTxn]:
        out, last = [], 0
        for pid, length, gap, lso_gap in spans:
            last += gap + 1
            out.append(AbortedTxn(pid, max(last - length, 0), last, last + lso_gap))
        return out
    return st.lists(st.tuples(st.integers(0, 2**63 - 1), st.integers(0, 50), st.integers(0, 50),
                              st.integers(-20, 20)), max_size=20).map(build)


def test_entry_layout_is_kafkas(tmp_path: Path) -> None:
    index = TransactionIndex(tmp_path / "0.txnindex", create=True)
    assert not (tmp_path / "0.txnindex").exists(), "no entries, no file"
    index.append(AbortedTxn(producer_id=5, first_offset=10, last_offset=20, last_stable_offset=21))
    index.flush()
    data = (tmp_path / "0.txnindex").read_bytes()
    assert ENTRY_SIZE == 34
    assert data == struct.pack(">hqqqq", 0, 5, 10, 20, 21)


@given(entries_strategy())
def test_round_trip(tmp_path_factory: pytest.TempPathFactory, entries: list[AbortedTxn]) -> None:
    path = tmp_path_factory.mktemp("idx") / "0.txnindex"
    index = TransactionIndex(path, create=True)
    for entry in entries:
        index.append(entry)
    index.flush(fsync=True)
    assert TransactionIndex(path).entries == entries


def test_torn_tail_is_ignored_and_bad_entries_refused(tmp_path: Path) -> None:
    path = tmp_path / "0.txnindex"
    good = AbortedTxn(1, 0, 5, 6).encode()
    path.write_bytes(good + good[:20])
    assert TransactionIndex(path).entries == [AbortedTxn(1, 0, 5, 6)]
    with pytest.raises(IndexCorruptError, match="version"):
        decode_entries(struct.pack(">hqqqq", 1, 1, 0, 5, 6))
    with pytest.raises(IndexCorruptError, match="order"):
        decode_entries(good + good)


def test_truncation_drops_entries_at_or_after_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "0.txnindex"
    index = TransactionIndex(path, create=True)
    for last in (5, 9, 14):
        index.append(AbortedTxn(last, last - 2, last, last + 1))
    index.flush()
    index.truncate_to(9)
    index.flush()
    assert [e.last_offset for e in TransactionIndex(path).entries] == [5]
    index.truncate_to(0)
    index.flush()
    assert not path.exists()
    with pytest.raises(ValueError):
        index.append(AbortedTxn(1, 0, 3, 4))
        index.append(AbortedTxn(1, 0, 3, 4))


def test_collect_stops_when_the_lso_passes_the_upper_bound(tmp_path: Path) -> None:
    index = TransactionIndex(tmp_path / "0.txnindex", create=True)
    index.append(AbortedTxn(1, 0, 4, 2))  # pid 2's transaction (from 2) still open
    index.append(AbortedTxn(3, 5, 8, 2))
    index.append(AbortedTxn(2, 2, 12, 13))
    index.append(AbortedTxn(4, 20, 22, 23))
    result = index.collect(5, 10)
    assert [e.producer_id for e in result.aborted] == [3, 2] and result.complete
    assert index.collect(0, 30).complete is False
    assert [e.producer_id for e in index.collect(13, 30).aborted] == [4]

"""client/aborted.py: read_committed filtering of fetched batches, checked against a
model of a partition log written by several transactional producers (plus plain and
idempotent ones), fetched from any batch boundary with the aborted-transaction list the
broker would send for that fetch."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from snakafka.client.aborted import AbortedTransactions
from snakafka.protocol.batch import CONTROL_MASK, TRANSACTIONAL_MASK, BatchHeader

PLAIN, IDEMPOTENT = -1, 100
TXN_PRODUCERS = (1, 2, 3)


def header(base: int, count: int, producer_id: int, *, transactional: bool = False, control: bool = False) -> BatchHeader:
    attributes = (TRANSACTIONAL_MASK if transactional else 0) | (CONTROL_MASK if control else 0)
    return BatchHeader(base, 0, 0, 2, 0, attributes, count - 1, 0, 0, producer_id, 0, 0, count)


@dataclass
class Batch:
    header: BatchHeader
    abort_marker: bool
    committed: bool | None  # for data batches of transactions: how the transaction ended


def build_log(ops: list[tuple[str, int, int]]) -> tuple[list[Batch], list[tuple[int, int, int]]]:
    """Batches in offset order and every aborted transaction as (producer id, first offset,
    marker offset). Open transactions are ended (alternately commit/abort) at the end."""
    batches: list[Batch] = []
    aborted: list[tuple[int, int, int]] = []
    open_txns: dict[int, tuple[int, list[Batch]]] = {}
    offset = 0

    def end(pid: int, commit: bool) -> None:
        nonlocal offset
        first, members = open_txns.pop(pid)
        for b in members:
            b.committed = commit
        batches.append(Batch(header(offset, 1, pid, transactional=True, control=True), not commit, None))
        if not commit:
            aborted.append((pid, first, offset))
        offset += 1

    for kind, pid, n in ops:
        if kind == "plain":
            batches.append(Batch(header(offset, n, pid), False, None))
            offset += n
        elif kind == "txn":
            b = Batch(header(offset, n, pid, transactional=True), False, None)
            open_txns.setdefault(pid, (offset, []))[1].append(b)
            batches.append(b)
            offset += n
        elif pid in open_txns:
            end(pid, kind == "commit")
    for i, pid in enumerate(sorted(open_txns)):
        end(pid, i % 2 == 0)
    return batches, aborted


ops = st.lists(st.one_of(
    st.tuples(st.just("plain"), st.sampled_from((PLAIN, IDEMPOTENT)), st.integers(1, 3)),
    st.tuples(st.just("txn"), st.sampled_from(TXN_PRODUCERS), st.integers(1, 3)),
    st.tuples(st.sampled_from(("commit", "abort")), st.sampled_from(TXN_PRODUCERS), st.just(0)),
), max_size=40)


@given(ops, st.data())
def test_read_committed_returns_exactly_committed_and_plain_batches(log_ops: list[tuple[str, int, int]],
                                                                   data: st.DataObject) -> None:
    batches, aborted = build_log(log_ops)
    start_index = data.draw(st.integers(0, len(batches)))
    fetched = batches[start_index:]
    start = fetched[0].header.base_offset if fetched else 0
    # the broker lists the aborted transactions that end at or after the fetch offset
    listed = [(pid, first) for pid, first, marker in aborted if marker >= start]
    f = AbortedTransactions(data.draw(st.permutations(listed)))
    kept = [b.header.base_offset for b in fetched if f.keep(b.header, b.abort_marker)]
    expected = [b.header.base_offset for b in fetched
                if not b.header.is_control and (not b.header.is_transactional or b.committed)]
    assert kept == expected


def test_control_batches_are_never_returned() -> None:
    f = AbortedTransactions(None)
    assert not f.keep(header(0, 1, 7, transactional=True, control=True), False)
    assert not f.keep(header(1, 1, 7, transactional=True, control=True), True)
    assert f.keep(header(2, 5, PLAIN), False)


def test_aborted_producer_is_readable_again_after_its_marker() -> None:
    # producer 1: offsets 0-1 aborted (marker at 2), then 3-4 committed (marker at 5)
    f = AbortedTransactions([(1, 0)])
    assert not f.keep(header(0, 2, 1, transactional=True), False)
    assert not f.keep(header(2, 1, 1, transactional=True, control=True), True)
    assert f.keep(header(3, 2, 1, transactional=True), False)
    assert not f.keep(header(5, 1, 1, transactional=True, control=True), False)


def test_idempotent_batches_of_an_aborted_producer_id_are_kept() -> None:
    f = AbortedTransactions([(1, 0)])
    assert f.keep(header(0, 3, 1), False), "not transactional: never skipped"

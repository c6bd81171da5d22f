"""Producer state's transaction tracking: ongoing transactions, markers, fencing, and the
first unstable offset against a simple model (hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snakafka.log.producer_state import (
    CompletedTxn,
    InvalidProducerEpoch,
    InvalidTxnState,
    ProducerStateManager,
    TransactionCoordinatorFenced,
)
from snakafka.protocol.batch import CONTROL_MASK, TRANSACTIONAL_MASK, BatchHeader


def header(pid: int, *, epoch: int = 0, seq: int = 0, count: int = 1, transactional: bool = True,
           control: bool = False) -> BatchHeader:
    attributes = (TRANSACTIONAL_MASK if transactional or control else 0) | (CONTROL_MASK if control else 0)
    return BatchHeader(0, 0, 0, 2, 0, attributes, count - 1, 1_000, 1_000, pid, epoch, -1 if control else seq, count)


def test_a_transaction_starts_with_its_first_batch_and_ends_with_a_marker() -> None:
    state = ProducerStateManager()
    state.update(header(1, seq=0, count=3), 10)
    state.update(header(1, seq=3, count=2), 20)  # same transaction: first offset stays
    state.update(header(2, seq=0), 30)
    assert state.first_unstable_offset == 10 and state.ongoing == {1: 10, 2: 30}
    done = state.complete_txn(header(1, control=True), 40, commit=False, coordinator_epoch=0)
    assert done == CompletedTxn(1, 10, 40, aborted=True)
    assert state.first_unstable_offset == 10, "unstable until the high watermark passes the marker"
    state.on_high_watermark(40)
    assert state.first_unstable_offset == 10
    state.on_high_watermark(41)
    assert state.first_unstable_offset == 30
    assert state.last_stable_offset_after(done) == 30
    done = state.complete_txn(header(2, control=True), 41, commit=True, coordinator_epoch=0)
    assert done == CompletedTxn(2, 30, 41, aborted=False)
    state.on_high_watermark(42)
    assert state.first_unstable_offset is None and state.last_stable_offset_after(done) == 42
    state.update(header(1, seq=5), 50)  # the producer's next transaction
    assert state.first_unstable_offset == 50


def test_idempotent_batches_do_not_open_transactions() -> None:
    state = ProducerStateManager()
    state.update(header(1, transactional=False), 0)
    assert state.first_unstable_offset is None


def test_a_coordinators_transactional_write_without_a_sequence_opens_a_transaction() -> None:
    """Offsets committed in a transaction reach __consumer_offsets as a transactional
    batch of the producer's id and epoch but no sequence: it is open until its marker."""
    state = ProducerStateManager()
    state.update(header(7, seq=-1), 12)
    assert state.ongoing == {7: 12} and state.first_unstable_offset == 12
    assert state.check(header(7, seq=-1)) is None, "no sequence: never a duplicate"
    state.complete_txn(header(7, control=True), 13, commit=True, coordinator_epoch=0)
    state.on_high_watermark(14)
    assert state.first_unstable_offset is None
    state.update(header(8, seq=-1, transactional=False), 20)
    assert state.first_unstable_offset is None and 8 not in state.producers


def test_a_producer_in_a_transaction_must_write_transactionally() -> None:
    state = ProducerStateManager()
    state.update(header(1, seq=0), 0)
    with pytest.raises(InvalidTxnState) as refused:
        state.check(header(1, seq=1, transactional=False))
    assert refused.value.error_code == 48
    assert state.check(header(1, seq=0, transactional=False)) is not None, "a retry is still a duplicate"
    state.complete_txn(header(1, control=True), 1, commit=True, coordinator_epoch=0)
    assert state.check(header(1, seq=1, transactional=False)) is None


def test_a_marker_without_an_open_transaction_ends_an_empty_one() -> None:
    state = ProducerStateManager()
    done = state.complete_txn(header(9, control=True), 7, commit=False, coordinator_epoch=3)
    assert done == CompletedTxn(9, 7, 7, aborted=True)
    assert state.producers[9].coordinator_epoch == 3


def test_markers_are_fenced_by_producer_and_coordinator_epochs() -> None:
    state = ProducerStateManager()
    state.update(header(1, epoch=2), 0)
    with pytest.raises(InvalidProducerEpoch):
        state.check_marker(header(1, epoch=1, control=True), 0)
    state.check_marker(header(1, epoch=3, control=True), 5)  # a bumped epoch (the coordinator aborting) is fine
    state.complete_txn(header(1, epoch=3, control=True), 1, commit=False, coordinator_epoch=5)
    assert state.producers[1].epoch == 3
    with pytest.raises(TransactionCoordinatorFenced) as fenced:
        state.check_marker(header(1, epoch=3, control=True), 4)
    assert fenced.value.error_code == 52
    with pytest.raises(InvalidProducerEpoch):  # the old epoch's data is fenced too
        state.check(header(1, epoch=2, seq=1))


def test_an_epoch_bump_keeps_the_open_transaction() -> None:
    state = ProducerStateManager()
    state.update(header(1, epoch=0, seq=0), 4)
    state.update(header(1, epoch=1, seq=0), 8)
    assert state.ongoing == {1: 4}


# -- against a model -----------------------------------------------------------------


@dataclass
class Model:
    """Offsets are assigned one after another; a producer's transaction opens with its
    first transactional batch and closes with its marker."""

    next_offset: int = 0
    open: dict[int, int] = field(default_factory=dict)
    completed: list[tuple[int, int]] = field(default_factory=list)  # (first offset, marker offset)

    def lso(self, high_watermark: int) -> int:
        """A completed transaction is unstable until the high watermark passes its marker."""
        unreplicated = [first for first, end in self.completed if end >= high_watermark]
        return min([*self.open.values(), *unreplicated, high_watermark])


# an event: (producer id, kind, record count); kind "txn" / "idem" / "commit" / "abort"
events = st.lists(st.tuples(st.integers(1, 4), st.sampled_from(["txn", "txn", "idem", "commit", "abort"]),
                            st.integers(1, 5)), max_size=60)


@given(events, st.data())
def test_first_unstable_offset_follows_the_model(evs: list[tuple[int, str, int]], data: st.DataObject) -> None:
    state = ProducerStateManager()
    model = Model()
    seqs: dict[int, int] = {}
    hw = 0
    for pid, kind, count in evs:
        offset = model.next_offset
        if kind in ("txn", "idem"):
            if kind == "idem" and pid in model.open:
                kind = "txn"  # a producer in a transaction writes transactionally
            seq = seqs.get(pid, 0)
            h = header(pid, seq=seq, count=count, transactional=kind == "txn")
            assert state.check(h) is None
            state.update(h, offset)
            seqs[pid] = seq + count
            if kind == "txn":
                model.open.setdefault(pid, offset)
            model.next_offset += count
        else:
            h = header(pid, control=True)
            state.check_marker(h, 0)
            done = state.complete_txn(h, offset, commit=kind == "commit", coordinator_epoch=0)
            first = model.open.pop(pid, offset)
            assert (done.first_offset, done.last_offset, done.aborted) == (first, offset, kind == "abort")
            model.completed.append((first, offset))
            model.next_offset += 1
        hw = data.draw(st.integers(hw, model.next_offset), label="high watermark")  # it only moves up
        state.on_high_watermark(hw)
        first_unstable = state.first_unstable_offset
        lso = hw if first_unstable is None else min(first_unstable, hw)
        assert lso == model.lso(hw)

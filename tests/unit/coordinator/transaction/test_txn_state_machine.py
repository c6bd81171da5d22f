"""The pure transaction state machine (state.py): Kafka's transitions and error codes,
and, for random sequences of API calls, the invariants a coordinator relies on."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snakafka.coordinator.transaction import state as sm
from snakafka.coordinator.transaction.state import TxnMetadata, TxnState, TxnTransit
from snakafka.protocol.errors import ErrorCode

E = ErrorCode
TP1, TP2, TP3 = ("t", 0), ("t", 1), ("u", 0)


def fresh(producer_id: int = 7) -> TxnMetadata:
    return TxnMetadata("tx", producer_id, sm.NO_PRODUCER_EPOCH, 60000)


def apply(md: TxnMetadata, decision: ErrorCode | TxnTransit) -> TxnTransit:
    assert isinstance(decision, TxnTransit), decision
    sm.begin(md, decision)
    sm.complete_transition(md, decision)
    return decision


def test_first_init_gives_epoch_zero_then_bumps() -> None:
    md = fresh()
    apply(md, sm.prepare_init_producer_id(md, 1000, 1, None))
    assert (md.state, md.producer_id, md.producer_epoch, md.timeout_ms) == (TxnState.EMPTY, 7, 0, 1000)
    apply(md, sm.prepare_init_producer_id(md, 1000, 2, None))
    assert md.producer_epoch == 1


def test_commit_cycle_clears_partitions() -> None:
    md = fresh()
    apply(md, sm.prepare_init_producer_id(md, 1000, 1, None))
    apply(md, sm.prepare_add_partitions(md, 7, 0, frozenset({TP1}), 10))
    assert (md.state, md.start_ms) == (TxnState.ONGOING, 10)
    apply(md, sm.prepare_add_partitions(md, 7, 0, frozenset({TP2}), 20))
    assert md.partitions == {TP1, TP2} and md.start_ms == 10
    assert sm.prepare_add_partitions(md, 7, 0, frozenset({TP1}), 30) is E.none  # already in: nothing to write
    apply(md, sm.prepare_end_txn(md, 7, 0, True, 40))
    assert md.state is TxnState.PREPARE_COMMIT and md.partitions == {TP1, TP2}
    assert sm.prepare_add_partitions(md, 7, 0, frozenset({TP3}), 41) is E.concurrent_transactions
    assert sm.prepare_end_txn(md, 7, 0, True, 41) is E.concurrent_transactions
    assert sm.prepare_end_txn(md, 7, 0, False, 41) is E.invalid_txn_state
    assert sm.prepare_init_producer_id(md, 1000, 41, None) is E.concurrent_transactions
    apply(md, sm.prepare_complete(md, 50))
    assert (md.state, md.partitions) == (TxnState.COMPLETE_COMMIT, frozenset())
    assert sm.prepare_end_txn(md, 7, 0, True, 60) is E.none  # a retried commit
    assert sm.prepare_end_txn(md, 7, 0, False, 60) is E.invalid_txn_state


def test_producer_checks() -> None:
    md = fresh()
    apply(md, sm.prepare_init_producer_id(md, 1000, 1, None))
    assert sm.prepare_add_partitions(md, 8, 0, frozenset({TP1}), 2) is E.invalid_producer_id_mapping
    assert sm.prepare_add_partitions(md, 7, 1, frozenset({TP1}), 2) is E.producer_fenced
    assert sm.prepare_end_txn(md, 7, 0, True, 2) is E.invalid_txn_state  # Empty: nothing to end
    assert sm.prepare_end_txn(md, 7, 3, True, 2) is E.producer_fenced


def test_init_during_ongoing_fences_and_aborts() -> None:
    md = fresh()
    apply(md, sm.prepare_init_producer_id(md, 1000, 1, None))
    apply(md, sm.prepare_add_partitions(md, 7, 0, frozenset({TP1}), 2))
    fence = sm.prepare_init_producer_id(md, 1000, 3, None)
    assert isinstance(fence, TxnTransit) and fence.state is TxnState.PREPARE_EPOCH_FENCE
    assert fence.producer_epoch == 1
    md.pending = TxnState.PREPARE_EPOCH_FENCE
    abort = apply(md, sm.prepare_end_txn(md, 7, fence.producer_epoch, False, 3, from_client=False))
    assert (abort.state, abort.producer_epoch, abort.partitions) == (TxnState.PREPARE_ABORT, 1, {TP1})
    # the old producer (epoch 0) is fenced from here on
    assert sm.prepare_end_txn(md, 7, 0, True, 4) is E.producer_fenced
    apply(md, sm.prepare_complete(md, 5))
    apply(md, sm.prepare_init_producer_id(md, 1000, 6, None))
    assert (md.state, md.producer_epoch) == (TxnState.EMPTY, 2)


def test_epoch_exhaustion_rotates_the_producer_id() -> None:
    md = fresh()
    md.producer_epoch = sm.MAX_EPOCH - 2
    apply(md, sm.prepare_init_producer_id(md, 1000, 1, None))
    assert md.producer_epoch == sm.MAX_EPOCH - 1 and md.epoch_exhausted
    assert sm.needs_new_producer_id(md, None)
    with pytest.raises(ValueError):
        sm.prepare_init_producer_id(md, 1000, 2, None)
    apply(md, sm.prepare_init_producer_id(md, 1000, 2, None, new_producer_id=99))
    assert (md.producer_id, md.producer_epoch, md.last_producer_id) == (99, 0, -1)


def test_kip360_retry_returns_the_same_epoch() -> None:
    md = fresh()
    apply(md, sm.prepare_init_producer_id(md, 1000, 1, None))
    apply(md, sm.prepare_init_producer_id(md, 1000, 2, (7, 0)))
    assert (md.producer_epoch, md.last_producer_epoch) == (1, 0)
    apply(md, sm.prepare_init_producer_id(md, 1000, 3, (7, 0)))  # the response was lost: same answer
    assert md.producer_epoch == 1
    assert sm.prepare_init_producer_id(md, 1000, 4, (7, 5)) is E.producer_fenced
    assert sm.prepare_init_producer_id(md, 1000, 4, (8, 1)) is E.producer_fenced


def test_timeout_and_expiry_predicates() -> None:
    md = fresh()
    apply(md, sm.prepare_init_producer_id(md, 1000, 0, None))
    assert not sm.timed_out(md, 10_000)
    assert sm.expired(md, 100, 100) and not sm.expired(md, 99, 100)
    apply(md, sm.prepare_add_partitions(md, 7, 0, frozenset({TP1}), 100))
    assert not sm.timed_out(md, 1100) and sm.timed_out(md, 1101)
    assert not sm.expired(md, 10**9, 100)


# -- random sequences -------------------------------------------------------------------------

PARTITIONS = [("a", 0), ("a", 1), ("b", 0), ("c", 2)]

op = st.one_of(
    st.tuples(st.just("init"), st.booleans()),
    st.tuples(st.just("add"), st.sets(st.sampled_from(PARTITIONS), min_size=1, max_size=3), st.booleans()),
    st.tuples(st.just("end"), st.booleans(), st.booleans()),
    st.tuples(st.just("complete")),
    st.tuples(st.just("timeout")),
    st.tuples(st.just("fail_next_write")),
)


@dataclass
class Model:
    md: TxnMetadata = field(default_factory=fresh)
    now: int = 1000
    fail_next: bool = False
    next_pid: int = 100
    since_complete: set[tuple[str, int]] = field(default_factory=set)
    ended: list[tuple[bool, frozenset[tuple[str, int]]]] = field(default_factory=list)
    ids_and_epochs: list[tuple[int, int]] = field(default_factory=list)

    def write(self, decision: ErrorCode | TxnTransit) -> bool:
        if not isinstance(decision, TxnTransit):
            return False
        if decision.state is TxnState.PREPARE_EPOCH_FENCE:
            self.md.pending = TxnState.PREPARE_EPOCH_FENCE
            abort = sm.prepare_end_txn(self.md, self.md.producer_id, decision.producer_epoch, False, self.now,
                                       from_client=False)
            if not self.write(abort):
                self.md.pending = None
            return False
        sm.begin(self.md, decision)
        if self.fail_next:
            self.fail_next = False
            sm.abandon(self.md, decision)
            return False
        before = self.md.current()
        sm.complete_transition(self.md, decision)
        if decision.state in (TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT):
            self.ended.append((decision.state is TxnState.COMPLETE_COMMIT, before.partitions))
            assert before.partitions == self.since_complete, "markers go to exactly this transaction's partitions"
            self.since_complete = set()
        if decision.state is TxnState.ONGOING:
            self.since_complete |= decision.partitions
        self.ids_and_epochs.append((self.md.producer_id, self.md.producer_epoch))
        return True

    def step(self, action: tuple[object, ...]) -> None:
        md = self.md
        self.now += 7
        kind = action[0]
        if kind == "init":
            expected = (md.producer_id, md.producer_epoch) if action[1] and md.producer_epoch >= 0 else None
            new_id = None
            if sm.needs_new_producer_id(md, expected):
                new_id, self.next_pid = self.next_pid, self.next_pid + 1
            self.write(sm.prepare_init_producer_id(md, 1000, self.now, expected, new_id))
        elif kind == "add":
            parts, stale = action[1], action[2]
            assert isinstance(parts, set)
            epoch = md.producer_epoch - 1 if stale else md.producer_epoch
            decision = sm.prepare_add_partitions(md, md.producer_id, epoch, frozenset(parts), self.now)
            if stale and md.producer_epoch >= 0:
                assert decision is E.producer_fenced
            self.write(decision)
        elif kind == "end":
            commit, stale = action[1], action[2]
            epoch = md.producer_epoch - 1 if stale else md.producer_epoch
            self.write(sm.prepare_end_txn(md, md.producer_id, epoch, bool(commit), self.now))
        elif kind == "complete":
            if md.state in sm.PREPARING and md.pending is None:
                self.write(sm.prepare_complete(md, self.now))
        elif kind == "timeout":
            if sm.timed_out(md, self.now + 10_000):
                self.write(sm.prepare_fence_epoch(md))
        elif kind == "fail_next_write":
            self.fail_next = True

    def check(self) -> None:
        md = self.md
        assert md.pending is None
        if md.state in (TxnState.EMPTY, TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT):
            assert md.partitions == frozenset(), "a finished transaction holds no partitions"
        else:
            assert md.partitions, "an open transaction has partitions"
            assert md.partitions == self.since_complete
        for (pid1, e1), (pid2, e2) in zip(self.ids_and_epochs, self.ids_and_epochs[1:]):
            if pid1 == pid2:
                assert e2 >= e1, "epochs only grow"
            else:
                assert pid2 > pid1 and e2 == 0, "a new producer id starts at epoch 0"


@settings(max_examples=300, deadline=None)
@given(st.lists(op, max_size=40), st.integers(min_value=-1, max_value=sm.MAX_EPOCH - 1))
def test_random_call_sequences_keep_the_invariants(actions: list[tuple[object, ...]], start_epoch: int) -> None:
    model = Model()
    model.md.producer_epoch = start_epoch
    for action in actions:
        model.step(action)
        model.check()

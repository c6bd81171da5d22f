"""The transaction state machine of one transactional id (KIP-98), as pure functions.

Kafka's TransactionMetadata: every API call first *prepares* a transition (checking the
producer id and epoch and the current state, and returning either an error code or the
TxnTransit to persist); the coordinator writes the transit to `__transaction_state`
and, only once that is durable, applies it with `complete_transition`. While a transit
is being written, `pending` holds its target state and other calls get
CONCURRENT_TRANSACTIONS. No I/O here: the coordinator and the unit tests drive it.

States and their moves:

    Empty / CompleteCommit / CompleteAbort --AddPartitions--> Ongoing
    Ongoing --EndTxn(commit)--> PrepareCommit --markers written--> CompleteCommit
    Ongoing --EndTxn(abort), timeout, InitProducerId fence--> PrepareAbort --> CompleteAbort
    Empty / Complete* --InitProducerId--> Empty (epoch + 1, or a new producer id)
    Ongoing --InitProducerId / timeout--> PrepareEpochFence (in memory only) --> PrepareAbort
    Empty / Complete* --transactional.id.expiration.ms--> Dead (a tombstone)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from snakafka.protocol.errors import ErrorCode

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
MAX_EPOCH = 32767  # Short.MaxValue

E = ErrorCode
TopicPartition = tuple[str, int]


class TxnState(enum.Enum):
    EMPTY = ("Empty", 0)
    ONGOING = ("Ongoing", 1)
    PREPARE_COMMIT = ("PrepareCommit", 2)
    PREPARE_ABORT = ("PrepareAbort", 3)
    COMPLETE_COMMIT = ("CompleteCommit", 4)
    COMPLETE_ABORT = ("CompleteAbort", 5)
    DEAD = ("Dead", 6)
    PREPARE_EPOCH_FENCE = ("PrepareEpochFence", 7)

    @property
    def code(self) -> int:
        """The transaction_status byte of __transaction_state."""
        return self.value[1]

    @property
    def kafka_name(self) -> str:
        return self.value[0]

    @classmethod
    def from_code(cls, code: int) -> TxnState:
        for state in cls:
            if state.code == code:
                return state
        raise ValueError(f"unknown transaction status {code}")

    def __str__(self) -> str:
        return self.kafka_name


PREPARING = frozenset({TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT})
COMPLETE = frozenset({TxnState.EMPTY, TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT})

# Which states may follow which (TransactionState.validPreviousStates, reversed).
VALID_NEXT: dict[TxnState, frozenset[TxnState]] = {
    TxnState.EMPTY: frozenset({TxnState.EMPTY, TxnState.ONGOING, TxnState.DEAD, TxnState.PREPARE_EPOCH_FENCE}),
    TxnState.ONGOING: frozenset({TxnState.ONGOING, TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT,
                                 TxnState.PREPARE_EPOCH_FENCE}),
    TxnState.PREPARE_COMMIT: frozenset({TxnState.COMPLETE_COMMIT}),
    TxnState.PREPARE_ABORT: frozenset({TxnState.COMPLETE_ABORT}),
    TxnState.COMPLETE_COMMIT: frozenset({TxnState.EMPTY, TxnState.ONGOING, TxnState.DEAD,
                                         TxnState.PREPARE_EPOCH_FENCE}),
    TxnState.COMPLETE_ABORT: frozenset({TxnState.EMPTY, TxnState.ONGOING, TxnState.DEAD,
                                        TxnState.PREPARE_EPOCH_FENCE}),
    TxnState.PREPARE_EPOCH_FENCE: frozenset({TxnState.PREPARE_ABORT}),
    TxnState.DEAD: frozenset(),
}


@dataclass(frozen=True, slots=True)
class TxnTransit:
    """A state to persist; becomes the transactional id's state once durable."""

    producer_id: int
    last_producer_id: int
    producer_epoch: int
    last_producer_epoch: int
    timeout_ms: int
    state: TxnState
    partitions: frozenset[TopicPartition]
    start_ms: int
    last_update_ms: int


@dataclass(slots=True)
class TxnMetadata:
    """The cached state of one transactional id (on the coordinator of its partition)."""

    transactional_id: str
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    state: TxnState = TxnState.EMPTY
    partitions: frozenset[TopicPartition] = frozenset()
    start_ms: int = -1
    last_update_ms: int = -1
    last_producer_id: int = NO_PRODUCER_ID
    last_producer_epoch: int = NO_PRODUCER_EPOCH
    pending: TxnState | None = None

    @property
    def epoch_exhausted(self) -> bool:
        """Kafka keeps Short.MaxValue for fencing, so an epoch of MaxValue - 1 is the last."""
        return self.producer_epoch >= MAX_EPOCH - 1

    def current(self) -> TxnTransit:
        return TxnTransit(self.producer_id, self.last_producer_id, self.producer_epoch, self.last_producer_epoch,
                          self.timeout_ms, self.state, self.partitions, self.start_ms, self.last_update_ms)


def _to(md: TxnMetadata, state: TxnState, **changes: object) -> TxnTransit:
    if state not in VALID_NEXT[md.state]:
        raise IllegalTransition(f"{md.transactional_id}: {md.state} -> {state}")
    return replace(md.current(), state=state, **changes)  # type: ignore[arg-type]


class IllegalTransition(RuntimeError):
    """A bug: a transition the state machine never allows."""


# -- InitProducerId ------------------------------------------------------------------------


def needs_new_producer_id(md: TxnMetadata, expected: tuple[int, int] | None) -> bool:
    """Does InitProducerId rotate to a new producer id (the epoch is used up)?"""
    return (md.state in COMPLETE and md.epoch_exhausted
            and (expected is None or expected[1] == md.producer_epoch))


def _valid_producer_id(md: TxnMetadata, expected: tuple[int, int]) -> bool:
    producer_id, epoch = expected
    return (md.producer_epoch == NO_PRODUCER_EPOCH or producer_id == md.producer_id
            or (producer_id == md.last_producer_id and epoch >= MAX_EPOCH - 1))


def prepare_init_producer_id(md: TxnMetadata, timeout_ms: int, now_ms: int, expected: tuple[int, int] | None,
                             new_producer_id: int | None = None) -> ErrorCode | TxnTransit:
    """TransactionCoordinator.prepareInitProducerIdTransit. `expected`: KIP-360's
    (producer id, epoch) of a producer re-initialising itself (v3+), else None. The answer
    may be a PrepareEpochFence transit: abort the ongoing transaction first and answer
    CONCURRENT_TRANSACTIONS (the client retries and then gets the epoch after it)."""
    if md.pending is not None:
        return E.concurrent_transactions
    if expected is not None and not _valid_producer_id(md, expected):
        return E.producer_fenced
    if md.state in PREPARING:
        return E.concurrent_transactions
    if md.state is TxnState.ONGOING:
        return prepare_fence_epoch(md)
    if md.state not in COMPLETE:
        raise IllegalTransition(f"{md.transactional_id}: InitProducerId in state {md.state}")
    if needs_new_producer_id(md, expected):
        if new_producer_id is None:
            raise ValueError("a new producer id is needed")
        rotated = expected is not None
        return _to(md, TxnState.EMPTY, producer_id=new_producer_id, producer_epoch=0,
                   last_producer_id=md.producer_id if rotated else NO_PRODUCER_ID,
                   last_producer_epoch=md.producer_epoch if rotated else NO_PRODUCER_EPOCH,
                   timeout_ms=timeout_ms, partitions=frozenset(), start_ms=-1, last_update_ms=now_ms)
    bumped = md.producer_epoch + 1
    if expected is None:
        epoch, last_epoch = bumped, NO_PRODUCER_EPOCH
    elif md.producer_epoch == NO_PRODUCER_EPOCH or expected[1] == md.producer_epoch:
        epoch, last_epoch = bumped, md.producer_epoch
    elif expected[1] == md.last_producer_epoch:
        epoch, last_epoch = md.producer_epoch, md.last_producer_epoch  # a retry of the last bump
    else:
        return E.producer_fenced
    return _to(md, TxnState.EMPTY, producer_epoch=epoch, last_producer_epoch=last_epoch, timeout_ms=timeout_ms,
               partitions=frozenset(), start_ms=-1, last_update_ms=now_ms)


def prepare_fence_epoch(md: TxnMetadata) -> TxnTransit:
    """Bump the epoch of an Ongoing transaction so its producer is fenced, before
    aborting it (InitProducerId of a new producer instance, or a timeout)."""
    # The last epoch (never handed to a client, only reached by a fence) cannot grow.
    # The cached epoch changes only once the PrepareAbort is durable, so a fence whose
    # write failed bumps from the same epoch again (Kafka's hasFailedEpochFence).
    return _to(md, TxnState.PREPARE_EPOCH_FENCE, producer_epoch=min(md.producer_epoch + 1, MAX_EPOCH),
               last_producer_epoch=NO_PRODUCER_EPOCH)


# -- AddPartitionsToTxn ------------------------------------------------------------------------


def check_producer(md: TxnMetadata, producer_id: int, epoch: int) -> ErrorCode | None:
    if md.producer_id != producer_id:
        return E.invalid_producer_id_mapping
    if md.producer_epoch != epoch:
        return E.producer_fenced
    return None


def prepare_add_partitions(md: TxnMetadata, producer_id: int, epoch: int, partitions: frozenset[TopicPartition],
                           now_ms: int) -> ErrorCode | TxnTransit:
    """ErrorCode.none: already in the transaction, nothing to write."""
    error = check_producer(md, producer_id, epoch)
    if error is not None:
        return error
    if md.pending is not None or md.state in PREPARING:
        return E.concurrent_transactions
    if md.state is TxnState.ONGOING and partitions <= md.partitions:
        return E.none
    if md.state is TxnState.DEAD or md.state is TxnState.PREPARE_EPOCH_FENCE:
        return E.invalid_txn_state
    start = now_ms if md.state in COMPLETE else md.start_ms
    return _to(md, TxnState.ONGOING, partitions=md.partitions | partitions, start_ms=start, last_update_ms=now_ms)


# -- EndTxn ------------------------------------------------------------------------------------


def prepare_end_txn(md: TxnMetadata, producer_id: int, epoch: int, commit: bool, now_ms: int,
                    from_client: bool = True) -> ErrorCode | TxnTransit:
    """TransactionCoordinator.endTransaction's checks. ErrorCode.none: the transaction
    already ended this way (a retried EndTxn), nothing to write. From the coordinator
    itself (a fence), `epoch` is the fenced epoch of the PrepareEpochFence transit."""
    if md.producer_id != producer_id:
        return E.invalid_producer_id_mapping
    if (from_client and epoch != md.producer_epoch) or epoch < md.producer_epoch:
        return E.producer_fenced
    if md.pending is not None and md.pending is not TxnState.PREPARE_EPOCH_FENCE:
        return E.concurrent_transactions
    state = md.state
    if state is TxnState.ONGOING:
        target = TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT
        if md.pending is TxnState.PREPARE_EPOCH_FENCE:
            if commit:
                return E.concurrent_transactions
            # the fence's bumped epoch goes into the PrepareAbort record
            return replace(md.current(), state=target, producer_epoch=epoch, last_producer_epoch=NO_PRODUCER_EPOCH,
                           last_update_ms=now_ms)
        return _to(md, target, last_update_ms=now_ms)
    if state is TxnState.COMPLETE_COMMIT:
        return E.none if commit else E.invalid_txn_state
    if state is TxnState.COMPLETE_ABORT:
        return E.none if not commit else E.invalid_txn_state
    if state is TxnState.PREPARE_COMMIT:
        return E.concurrent_transactions if commit else E.invalid_txn_state
    if state is TxnState.PREPARE_ABORT:
        return E.concurrent_transactions if not commit else E.invalid_txn_state
    return E.invalid_txn_state  # Empty (nothing to end), Dead


def prepare_complete(md: TxnMetadata, now_ms: int) -> TxnTransit:
    """After every marker is written: PrepareCommit -> CompleteCommit, PrepareAbort ->
    CompleteAbort, the partitions cleared (the next transaction starts with none)."""
    if md.state is TxnState.PREPARE_COMMIT:
        target = TxnState.COMPLETE_COMMIT
    elif md.state is TxnState.PREPARE_ABORT:
        target = TxnState.COMPLETE_ABORT
    else:
        raise IllegalTransition(f"{md.transactional_id}: complete from {md.state}")
    return _to(md, target, partitions=frozenset(), last_update_ms=now_ms)


def prepare_dead(md: TxnMetadata, now_ms: int) -> TxnTransit:
    return _to(md, TxnState.DEAD, partitions=frozenset(), last_update_ms=now_ms)


# -- timeouts and expiry -----------------------------------------------------------------------


def timed_out(md: TxnMetadata, now_ms: int) -> bool:
    """An Ongoing transaction open longer than its timeout (and not already moving)."""
    return md.state is TxnState.ONGOING and md.pending is None and md.start_ms + md.timeout_ms < now_ms


def expired(md: TxnMetadata, now_ms: int, expiration_ms: int) -> bool:
    """A transactional id unused for transactional.id.expiration.ms (no open transaction)."""
    return md.state in COMPLETE and md.pending is None and md.last_update_ms + expiration_ms <= now_ms


# -- applying ----------------------------------------------------------------------------------


def begin(md: TxnMetadata, transit: TxnTransit) -> None:
    """Mark `transit` as being written (other calls now see CONCURRENT_TRANSACTIONS)."""
    md.pending = transit.state


def abandon(md: TxnMetadata, transit: TxnTransit) -> None:
    """The write of `transit` failed: nothing changes."""
    if md.pending is transit.state:
        md.pending = None


def complete_transition(md: TxnMetadata, transit: TxnTransit) -> None:
    """`transit` is durable: it becomes the state."""
    md.producer_id = transit.producer_id
    md.last_producer_id = transit.last_producer_id
    md.producer_epoch = transit.producer_epoch
    md.last_producer_epoch = transit.last_producer_epoch
    md.timeout_ms = transit.timeout_ms
    md.state = transit.state
    md.partitions = transit.partitions
    md.start_ms = transit.start_ms
    md.last_update_ms = transit.last_update_ms
    md.pending = None

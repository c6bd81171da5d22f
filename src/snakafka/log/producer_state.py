"""Producer state of one partition: idempotence and ongoing transactions.

Kafka's ProducerStateManager, reduced to what idempotence and transactions (KIP-98) need:
per producer id the current epoch and the sequence ranges of its last five batches, so a
retried batch is recognised (answered with its original offset instead of written twice)
and a gap in sequences is refused; the coordinator epoch of its last transaction marker;
and the first offset of its ongoing transaction, if any. A transaction begins with the
producer's first transactional batch while none is open and ends with a COMMIT or ABORT
marker (a control batch). A completed transaction stays unstable until the high
watermark passes its marker (Kafka's unreplicatedTxns): a READ_COMMITTED consumer must
not read a transaction's data before its outcome is replicated. The earliest first
offset of all ongoing and unreplicated transactions is the partition's first unstable
offset; READ_COMMITTED consumers read below it (the last stable offset, capped by the
high watermark).

State is rebuilt from batch headers plus markers (control batches are one small record),
so recovery never decodes data records. Pure: no I/O, not thread-safe.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from snakafka.protocol.batch import NO_PRODUCER_ID, BatchHeader

MAX_BATCHES_PER_PRODUCER = 5
INT_MAX = 2**31 - 1


class ProducerStateError(Exception):
    error_code = -1


class OutOfOrderSequence(ProducerStateError):
    error_code = 45  # OUT_OF_ORDER_SEQUENCE_NUMBER


class InvalidProducerEpoch(ProducerStateError):
    error_code = 47  # INVALID_PRODUCER_EPOCH


class InvalidTxnState(ProducerStateError):
    """A non-transactional batch from a producer whose transaction is open (Kafka's
    ProducerAppendInfo refuses it)."""

    error_code = 48  # INVALID_TXN_STATE


class TransactionCoordinatorFenced(ProducerStateError):
    """A marker from a coordinator older than the one that wrote this producer's last
    marker (a zombie coordinator after __transaction_state moved)."""

    error_code = 52  # TRANSACTION_COORDINATOR_FENCED


@dataclass(frozen=True, slots=True)
class CompletedTxn:
    """A transaction a marker ended: its first offset and the marker's offset."""

    producer_id: int
    first_offset: int
    last_offset: int
    aborted: bool


@dataclass(frozen=True, slots=True)
class BatchMetadata:
    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int
    timestamp: int


@dataclass(slots=True)
class ProducerEntry:
    epoch: int
    batches: deque[BatchMetadata] = field(default_factory=lambda: deque(maxlen=MAX_BATCHES_PER_PRODUCER))
    last_timestamp: int = -1
    coordinator_epoch: int = -1  # of the last marker written for this producer
    current_txn_first_offset: int | None = None  # the ongoing transaction's first offset

    def bump_epoch(self, epoch: int) -> None:
        """A newer epoch: sequences restart (batch history goes), an open transaction stays
        open (the coordinator ends it with a marker at the new epoch, as in Kafka)."""
        if epoch != self.epoch:
            self.epoch = epoch
            self.batches.clear()

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else -1


def _in_sequence(last_seq: int, next_seq: int) -> bool:
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == INT_MAX)


class ProducerStateManager:
    def __init__(self) -> None:
        self.producers: dict[int, ProducerEntry] = {}
        # producer id -> first offset of its ongoing transaction. Transactions start in
        # offset order (appends are), so insertion order is first-offset order.
        self.ongoing: dict[int, int] = {}
        self.unreplicated: list[CompletedTxn] = []  # completed, marker not yet below the high watermark

    @property
    def first_undecided_offset(self) -> int | None:
        """First offset of the earliest ongoing transaction; None when none is open."""
        return next(iter(self.ongoing.values()), None)

    @property
    def first_unstable_offset(self) -> int | None:
        """First offset of the earliest transaction ongoing or not yet replicated."""
        first = self.first_undecided_offset
        for txn in self.unreplicated:
            if first is None or txn.first_offset < first:
                first = txn.first_offset
        return first

    def on_high_watermark(self, high_watermark: int) -> None:
        """Completed transactions whose marker is below the high watermark are stable."""
        if self.unreplicated and self.unreplicated[0].last_offset < high_watermark:
            self.unreplicated = [t for t in self.unreplicated if t.last_offset >= high_watermark]

    def check(self, header: BatchHeader) -> BatchMetadata | None:
        """Validate an incoming batch; return the original batch if it is a duplicate."""
        if header.producer_id == NO_PRODUCER_ID or header.base_sequence < 0:
            return None
        entry = self.producers.get(header.producer_id)
        first_seq = header.base_sequence
        last_seq = (first_seq + header.last_offset_delta) % (INT_MAX + 1)
        if entry is None:
            return None  # a new producer (or one whose state was retained away): accept
        if header.producer_epoch < entry.epoch:
            raise InvalidProducerEpoch(
                f"producer {header.producer_id} epoch {header.producer_epoch} is older than {entry.epoch}"
            )
        if header.producer_epoch > entry.epoch:
            if first_seq != 0:
                raise OutOfOrderSequence(f"new epoch {header.producer_epoch} must start at sequence 0, got {first_seq}")
            return None
        for batch in entry.batches:
            if batch.first_seq == first_seq and batch.last_seq == last_seq:
                return batch
        if entry.current_txn_first_offset is not None and not header.is_transactional:
            raise InvalidTxnState(f"expected a transactional write from producer {header.producer_id}: its "
                                  f"transaction from offset {entry.current_txn_first_offset} is open")
        if entry.batches and not _in_sequence(entry.last_seq, first_seq):
            raise OutOfOrderSequence(
                f"producer {header.producer_id}: expected sequence {entry.last_seq + 1}, got {first_seq}"
            )
        return None

    def update(self, header: BatchHeader, first_offset: int) -> None:
        """Record an appended batch (live appends and recovery share this path). A
        transactional batch without a sequence (a coordinator's write, such as offsets
        committed in a transaction to __consumer_offsets) opens a transaction all the
        same: the last stable offset and the cleaner must not pass it either."""
        if header.producer_id == NO_PRODUCER_ID:
            return
        if header.base_sequence < 0 and not header.is_transactional:
            return
        entry = self.producers.get(header.producer_id)
        if entry is None:
            entry = self.producers[header.producer_id] = ProducerEntry(epoch=header.producer_epoch)
        elif header.producer_epoch > entry.epoch:
            entry.bump_epoch(header.producer_epoch)
        if header.base_sequence >= 0:
            last_seq = (header.base_sequence + header.last_offset_delta) % (INT_MAX + 1)
            entry.batches.append(BatchMetadata(header.base_sequence, last_seq, first_offset,
                                               first_offset + header.last_offset_delta, header.max_timestamp))
        entry.last_timestamp = header.max_timestamp
        if header.is_transactional and entry.current_txn_first_offset is None:
            entry.current_txn_first_offset = first_offset
            self.ongoing[header.producer_id] = first_offset

    def check_marker(self, header: BatchHeader, coordinator_epoch: int) -> None:
        """Validate a COMMIT/ABORT marker before it is written (Kafka's
        appendEndTxnMarker checks): the producer epoch may not go back, nor may the
        coordinator epoch."""
        entry = self.producers.get(header.producer_id)
        if entry is None:
            return
        if header.producer_epoch < entry.epoch:
            raise InvalidProducerEpoch(f"transaction marker for producer {header.producer_id} at epoch "
                                       f"{header.producer_epoch}, older than its current epoch {entry.epoch}")
        if coordinator_epoch < entry.coordinator_epoch:
            raise TransactionCoordinatorFenced(
                f"transaction marker for producer {header.producer_id} from coordinator epoch {coordinator_epoch}, "
                f"older than {entry.coordinator_epoch}")

    def complete_txn(self, header: BatchHeader, offset: int, *, commit: bool, coordinator_epoch: int,
                     replicated: bool = False) -> CompletedTxn:
        """Apply a marker written at `offset` (live appends, replication and recovery
        share this path): the producer's ongoing transaction ends; it stays unstable
        until on_high_watermark passes the marker, unless `replicated` (replaying a log
        whose high watermark is not known here). A marker with no transaction open (an
        empty or already ended one) completes one that starts at the marker itself, as
        in Kafka."""
        pid = header.producer_id
        entry = self.producers.get(pid)
        if entry is None:
            entry = self.producers[pid] = ProducerEntry(epoch=header.producer_epoch)
        elif header.producer_epoch > entry.epoch:
            entry.bump_epoch(header.producer_epoch)
        entry.coordinator_epoch = coordinator_epoch
        entry.last_timestamp = max(entry.last_timestamp, header.max_timestamp)
        first = entry.current_txn_first_offset
        entry.current_txn_first_offset = None
        self.ongoing.pop(pid, None)
        completed = CompletedTxn(pid, offset if first is None else first, offset, not commit)
        if not replicated:
            self.unreplicated.append(completed)
        return completed

    def last_stable_offset_after(self, completed: CompletedTxn) -> int:
        """The LSO an aborted-transaction index entry records (Kafka's
        lastStableOffset(completedTxn)): the first offset of the earliest transaction
        still open, else just past the marker. Called after complete_txn."""
        first = self.first_undecided_offset
        return completed.last_offset + 1 if first is None else first

    def copy(self) -> ProducerStateManager:
        """An independent copy (the partition log keeps one per recent segment roll, to
        replay only the tail of the log after a truncation)."""
        other = ProducerStateManager()
        for pid, entry in self.producers.items():
            other.producers[pid] = ProducerEntry(entry.epoch, deque(entry.batches, maxlen=MAX_BATCHES_PER_PRODUCER),
                                                 entry.last_timestamp, entry.coordinator_epoch,
                                                 entry.current_txn_first_offset)
        other.ongoing = dict(self.ongoing)
        other.unreplicated = list(self.unreplicated)
        return other

    def truncate(self) -> None:
        self.producers.clear()
        self.ongoing.clear()
        self.unreplicated.clear()

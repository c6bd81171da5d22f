"""Idempotent-producer state of one partition: the last batches of each producer id.

Kafka's ProducerStateManager, reduced to what idempotence needs: per producer id the
current epoch and the sequence ranges of its last five batches, so a retried batch is
recognised (answered with its original offset instead of written twice) and a gap in
sequences is refused. State is rebuilt from batch headers alone, so recovery never has
to decode records.
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

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else -1


def _in_sequence(last_seq: int, next_seq: int) -> bool:
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == INT_MAX)


class ProducerStateManager:
    def __init__(self) -> None:
        self.producers: dict[int, ProducerEntry] = {}

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
        if entry.batches and not _in_sequence(entry.last_seq, first_seq):
            raise OutOfOrderSequence(
                f"producer {header.producer_id}: expected sequence {entry.last_seq + 1}, got {first_seq}"
            )
        return None

    def update(self, header: BatchHeader, first_offset: int) -> None:
        """Record an appended batch (live appends and recovery share this path)."""
        if header.producer_id == NO_PRODUCER_ID or header.base_sequence < 0:
            return
        entry = self.producers.get(header.producer_id)
        if entry is None or header.producer_epoch > entry.epoch:
            entry = self.producers[header.producer_id] = ProducerEntry(epoch=header.producer_epoch)
        last_seq = (header.base_sequence + header.last_offset_delta) % (INT_MAX + 1)
        entry.batches.append(
            BatchMetadata(header.base_sequence, last_seq, first_offset, first_offset + header.last_offset_delta, header.max_timestamp)
        )
        entry.last_timestamp = header.max_timestamp

    def truncate(self) -> None:
        self.producers.clear()

"""read_committed on the consumer side: which fetched batches of aborted transactions to
drop, as Kafka's consumer does it (CompletedFetch.nextFetchedRecord).

The broker bounds a read_committed fetch at the last stable offset and lists, per
partition, the aborted transactions that overlap the returned data as (producer id,
first offset). Walking the batches in offset order, a producer becomes "aborted" once a
batch at or past its transaction's first offset is reached; its transactional batches
are then skipped until its ABORT marker, which ends the transaction. Control batches
(the markers) are never returned. Pure: headers in, decisions out.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from snakafka.protocol.batch import NO_PRODUCER_ID, BatchHeader


class AbortedTransactions:
    """The filter for one partition of one fetch response. Feed batches in order."""

    def __init__(self, aborted: Iterable[tuple[int, int]] | None) -> None:
        # (first offset, producer id), smallest first offset on top
        self._pending = [(first_offset, producer_id) for producer_id, first_offset in aborted or ()]
        heapq.heapify(self._pending)
        self._aborted_producers: set[int] = set()

    def keep(self, header: BatchHeader, is_abort_marker: bool) -> bool:
        """Whether the batch's records reach the application. `is_abort_marker`: the
        batch is a control batch whose record is an ABORT marker."""
        if header.producer_id != NO_PRODUCER_ID:
            while self._pending and self._pending[0][0] <= header.last_offset:
                self._aborted_producers.add(heapq.heappop(self._pending)[1])
            if header.is_control and is_abort_marker:
                self._aborted_producers.discard(header.producer_id)
            elif header.is_transactional and header.producer_id in self._aborted_producers:
                return False
        return not header.is_control

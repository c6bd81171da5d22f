"""The partition log's side of transactions: feeding appended batches to the producer
state, writing `.txnindex` entries for ABORT markers, replaying a log to rebuild both,
and collecting the aborted transactions a READ_COMMITTED fetch must report.

Kept apart from partition_log.py (which calls it) because it is one idea: how the
producer state and the aborted-transaction indexes follow the batches in the log. Every
function works on batch headers, reading a record only for control batches (one small
marker record each). Not thread-safe: called from the broker's event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from snakafka.log.producer_state import ProducerStateManager
from snakafka.log.segment import LogSegment
from snakafka.log.txn_index import AbortedTxn
from snakafka.protocol.batch import NO_PRODUCER_ID, BatchError, BatchHeader
from snakafka.protocol.control import TxnMarker, decode_marker

log = logging.getLogger(__name__)

Buffer = bytes | bytearray | memoryview


def marker_of(data: Buffer, pos: int, header: BatchHeader) -> TxnMarker | None:
    """The transaction marker of the control batch at `pos` (None: another control type)."""
    return decode_marker(memoryview(data)[pos : pos + header.size])


def check_markers(state: ProducerStateManager, data: Buffer, batches: Sequence[tuple[int, BatchHeader]]) -> None:
    """Validate the markers of an append before anything is written (all or nothing).
    Raises ProducerStateError (INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED)
    or BatchError for a control batch that is not a well-formed marker."""
    for pos, header in batches:
        if header.is_control:
            marker = marker_of(data, pos, header)
            if marker is None:
                raise BatchError("control batch is not a transaction marker")
            state.check_marker(header, marker.coordinator_epoch)


def track_append(state: ProducerStateManager, segment: LogSegment, data: Buffer,
                 batches: Iterable[tuple[int, BatchHeader]], base_offsets: Iterable[int], name: str) -> None:
    """Feed just-written batches (at `base_offsets`, their assigned offsets) to the
    producer state; an ABORT marker adds an entry to `segment`'s transaction index."""
    for (pos, header), offset in zip(batches, base_offsets, strict=True):
        if header.producer_id == NO_PRODUCER_ID:
            continue
        if header.is_control:
            marker = marker_of(data, pos, header)
            if marker is not None:
                _apply_marker(state, segment, header, offset, marker, name)
        else:
            state.update(header, offset)


def _apply_marker(state: ProducerStateManager, segment: LogSegment | None, header: BatchHeader, offset: int,
                  marker: TxnMarker, name: str, *, replicated: bool = False) -> None:
    completed = state.complete_txn(header, offset, commit=marker.commit, coordinator_epoch=marker.coordinator_epoch,
                                   replicated=replicated)
    if completed.aborted and segment is not None:
        entry = AbortedTxn(completed.producer_id, completed.first_offset, offset,
                           state.last_stable_offset_after(completed))
        segment.txn_index.append(entry)
    log.debug("%s: %s of producer %d (first offset %d) at offset %d", name,
              "ABORT" if completed.aborted else "COMMIT", completed.producer_id, completed.first_offset, offset)


def replay(state: ProducerStateManager, segments: Sequence[LogSegment], from_offset: int,
           rebuild_indexes: set[int], name: str) -> None:
    """Apply every batch from `from_offset` on (headers plus markers) to `state`: a fresh
    one with the log start offset (opening a log without a usable snapshot), or a copy
    of the state at `from_offset` (truncation, see PartitionLog). Also rebuilds the
    transaction index of every segment whose base offset is in `rebuild_indexes`
    (segments recovered after a crash, or whose `.txnindex` file was unreadable).

    An open transaction may begin anywhere in the log, so without a snapshot this reads
    every batch header from the log start. Completed transactions count as replicated:
    a partition starts with its high watermark at the log end, and a truncated
    follower's is at most its new log end."""
    for segment in segments:
        rebuild = segment.base_offset in rebuild_indexes
        if rebuild:
            segment.txn_index.reset()
        if segment.next_offset <= from_offset and not rebuild:
            continue
        start = 0
        if segment.base_offset < from_offset and not rebuild:
            found = segment.find_batch(from_offset)
            start = segment.size if found is None else found[0]
        for position, header in segment.headers(start):
            if header.producer_id == NO_PRODUCER_ID or header.last_offset < from_offset:
                continue
            if not header.is_control:
                state.update(header, header.base_offset)
                continue
            try:
                marker = decode_marker(segment.read_batch(position, header.size))
            except BatchError as exc:
                log.warning("%s: unreadable control batch at offset %d: %s", name, header.base_offset, exc)
                continue
            if marker is not None:
                _apply_marker(state, segment if rebuild else None, header, header.base_offset, marker, name,
                              replicated=True)
        if rebuild:
            segment.txn_index.flush(fsync=True)  # the recovery point will say this is durable
            segment.txn_index_valid = True
    if state.ongoing:
        log.info("%s: %d open transaction(s) after loading; first unstable offset %s", name, len(state.ongoing),
                 state.first_unstable_offset)


class StatesAtRoll:
    """Copies of the producer state taken when the log rolls a segment (base offset ->
    the state of every batch below it), the latest few: after a truncation, the log
    replays from the newest one still inside it instead of from its start. Kafka keeps
    `.snapshot` files at rolls for the same purpose; these live in memory only."""

    KEPT = 3

    def __init__(self) -> None:
        self._states: dict[int, ProducerStateManager] = {}  # ascending base offsets

    def remember(self, base_offset: int, state: ProducerStateManager) -> None:
        self._states[base_offset] = state.copy()
        while len(self._states) > self.KEPT:
            del self._states[next(iter(self._states))]

    def restore(self, log_start_offset: int, log_end_offset: int) -> tuple[ProducerStateManager, int]:
        """(a state to replay into, the offset to replay from), dropping copies outside
        [log start, log end]: the newest usable copy, else a fresh state at the log start."""
        for base in [b for b in self._states if b > log_end_offset or b < log_start_offset]:
            del self._states[base]
        if not self._states:
            return ProducerStateManager(), log_start_offset
        base = max(self._states)
        return self._states[base].copy(), base

    def clear(self) -> None:
        self._states.clear()


def collect_aborted(segments: Sequence[LogSegment], start: int, fetch_offset: int, upper_bound: int) -> list[AbortedTxn]:
    """Aborted transactions overlapping [fetch_offset, upper_bound), searching the
    transaction indexes from segment `start` (the one holding the fetch offset) onward
    until one says the search is complete (Kafka's collectAbortedTransactions)."""
    found: list[AbortedTxn] = []
    for segment in segments[start:]:
        result = segment.txn_index.collect(fetch_offset, upper_bound)
        found += result.aborted
        if result.complete:
            break
    return found

"""One cleaning of a compacted log: the plan LogCleaner.prepare() makes, and clean(), which
reads the plan's old segments and writes the cleaned ones. Nothing here touches a
PartitionLog or the cleaner's state, so clean() can run in a thread (see cleaner.py for
which logs are cleaned, when, and how the result is swapped in).

How. A key -> latest offset map is built over the dirty part (records without a key do
not count); then every cleanable segment, clean part included, is rewritten keeping a
record only if no later offset of its key is in the map. Offsets never change: a batch
that loses records is re-encoded with its base offset, last offset delta, producer
fields and compression codec, each kept record at its original offset delta; a batch
that keeps everything is copied byte for byte. Records without a key are dropped.
Consecutive segments are merged while the sum of their sizes stays within segment.bytes
(and their offsets within a segment's 32-bit range); a single segment in which nothing
changes is left alone. A batch left empty is dropped, except that the last batch of each
output segment and the last batch of each producer id (unless its timestamp is older
than PRODUCER_ID_EXPIRATION_MS) survive as empty batches (a header without records):
the first keeps every output segment covering its inputs' full offset range (so the
loader can complete an interrupted swap and retention never meets an empty segment), the
second keeps a producer's sequence state across a restart, as Kafka does.

Tombstones (a key with a null value) follow Kafka's delete-horizon rule (KIP-534): the
first cleaning that keeps a tombstone stamps its batch with a delete horizon of
now + delete.retention.ms (the batch's base timestamp becomes the horizon and the
attribute bit 0x40 is set; record timestamps are unchanged, as their deltas are rewritten
against the new base). A tombstone whose batch's horizon has passed is dropped by the next
cleaning. So a tombstone survives at least delete.retention.ms after the cleaning that
first saw it, by the injected clock: a consumer that reads the log from its start within
that time sees every delete. The cleaner remembers the earliest pending horizon of each
log in memory, so the log is cleaned again when it passes (after a restart, the next
cleaning for dirtiness drops what is due).

Transactions. Control batches (transaction markers) are never removed. A transactional
batch whose producer's next marker in the cleanable range is a commit is cleaned like
any other; an abort marker drops it (its records are not in the map); without a marker
yet (an open transaction, or a marker above the cleanable range) it is copied as it is
and its records stay out of the map, so nothing is removed in its favour. The cleaner
never plans past the first offset of an open transaction (cleaner.py). A cleaned segment
takes over the `.txnindex` entries of the segments it replaces (their ABORT markers all
stay), so READ_COMMITTED fetches still learn of aborted transactions whose data remains.

The key map holds keys as bytes; `dedupe_buffer_size` (log.cleaner.dedupe.buffer.size)
bounds it, counting each key's length plus MAP_ENTRY_OVERHEAD bytes: when a cleaning's
map is full, its range ends at that segment boundary (always at least one dirty segment
is mapped) and the rest waits for the next cleaning.

Crash safety: clean() writes only `.cleaned` files, fsynced before commit; the swap in
PartitionLog.replace_segments goes through `.swap` and `.deleted`, and the loader deletes
`.cleaned` leftovers and completes an interrupted swap. Dropping a CleanResult (a crash
between clean() and commit()) leaves the log as it was. The cleaner-offset-checkpoint is
written after commits; losing it only means cleaning a log again from its start.

"""

from __future__ import annotations

import bisect
import logging
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from snakafka.log.files import CLEANED_SUFFIX, segment_paths
from snakafka.log.segment import LogSegment
from snakafka.log.txn_index import AbortedTxn
from snakafka.protocol.batch import (
    ATTRIBUTES_OFFSET,
    COMPRESSION_MASK,
    CRC_OFFSET,
    DELETE_HORIZON_MASK,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAX_TIMESTAMP_OFFSET,
    NO_PRODUCER_ID,
    TIMESTAMP_TYPE_MASK,
    BatchHeader,
    compute_crc,
    read_header,
)
from snakafka.protocol.records import (
    NewRecord,
    Record,
    decode_batch,
    encode_batch,
    parse_control_record,
)

if TYPE_CHECKING:
    from snakafka.log.partition_log import PartitionLog

log = logging.getLogger(__name__)

PRODUCER_ID_EXPIRATION_MS = 24 * 3600 * 1000  # Kafka's producer.id.expiration.ms default
MAP_ENTRY_OVERHEAD = 100  # bytes a key map entry costs beyond the key: dict slot, objects
_READ_CHUNK = 1 << 20
_WRITE_CHUNK = 1 << 20
_BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")
_I16 = struct.Struct(">h")
_I64 = struct.Struct(">q")
_U32 = struct.Struct(">I")


class CleanAborted(Exception):
    """clean() stopped because its plan was aborted (the broker is shutting down)."""


class CleanerError(Exception):
    """A segment the cleaner cannot read (torn or corrupt batch): the log is left as is."""


# -- plan and result -----------------------------------------------------------------


@dataclass(slots=True)
class Source:
    """One old segment as clean() sees it: a private fd and the size planned."""

    segment: LogSegment
    fd: int
    size: int

    @property
    def base_offset(self) -> int:
        return self.segment.base_offset


@dataclass(slots=True)
class CleanPlan:
    """What prepare() decided, with everything clean() needs and nothing it may not touch.

    Holds dup()ed descriptors of the old segments: clean() closes them; a plan dropped
    without clean() must be close()d."""

    log: PartitionLog  # for commit() only
    name: str
    directory: Path
    now_ms: int
    first_dirty: int
    clean_end: int
    sources: list[Source]
    groups: list[list[int]]  # indexes into sources: each group becomes one segment
    delete_retention_ms: int
    index_interval_bytes: int
    segment_index_bytes: int
    map_budget: int
    generation: int
    aborted: bool = False

    def abort(self) -> None:
        """Ask a running clean() to stop (it raises CleanAborted at the next batch)."""
        self.aborted = True

    def close(self) -> None:
        for source in self.sources:
            if source.fd >= 0:
                os.close(source.fd)
                source.fd = -1


@dataclass(slots=True)
class CleanStats:
    bytes_read: int = 0
    bytes_written: int = 0
    records_read: int = 0
    records_removed: int = 0
    tombstones_removed: int = 0
    batches_rewritten: int = 0
    map_keys: int = 0


@dataclass(slots=True)
class CleanResult:
    """clean()'s output: new `.cleaned` segments, each to replace a run of old ones."""

    plan: CleanPlan
    clean_end: int  # the plan's, or lower if the key map filled up
    replacements: list[tuple[list[LogSegment], LogSegment]]
    horizon: int | None  # earliest delete horizon of a tombstone kept, None if none
    stats: CleanStats

    def discard(self) -> None:
        """Delete the `.cleaned` files (commit refused, or the caller gives up)."""
        for _, new in self.replacements:
            new.delete()
        self.replacements = []



def clean(plan: CleanPlan) -> CleanResult:
    """Build the cleaned segments (files `<base>.log.cleaned` and its indexes,
    fsynced). Pure file work on the plan's own descriptors: safe in a thread. Closes
    the plan. On any error the `.cleaned` files written so far are removed."""
    stats = CleanStats()
    replacements: list[tuple[list[LogSegment], LogSegment]] = []
    try:
        scan = _scan(plan, stats)
        for group in plan.groups:
            members = [plan.sources[i] for i in group if plan.sources[i].base_offset < scan.clean_end]
            if not members:
                break
            new = _clean_group(plan, members, scan, stats)
            if new is not None:
                replacements.append(([m.segment for m in members], new))
    except BaseException:
        for _, new in replacements:
            new.delete()
        _remove_cleaned_leftovers(plan)
        raise
    finally:
        plan.close()
    return CleanResult(plan, scan.clean_end, replacements, scan.horizon, stats)


def _remove_cleaned_leftovers(plan: CleanPlan) -> None:
    for source in plan.sources:
        for path in segment_paths(plan.directory, source.base_offset, CLEANED_SUFFIX):
            try:
                path.unlink()
            except FileNotFoundError:
                pass


# -- reading batches -----------------------------------------------------------------


def _batches(plan: CleanPlan, source: Source, stats: CleanStats,
             end: int | None = None) -> Iterator[tuple[int, memoryview, BatchHeader]]:
    """(position, bytes, header) of every batch of an old segment, read in chunks
    through the plan's own descriptor."""
    fd, size = source.fd, source.size if end is None else end
    buf, buf_pos, pos = b"", 0, 0
    while pos < size:
        if plan.aborted:
            raise CleanAborted(plan.name)
        rel = pos - buf_pos
        if rel + HEADER_SIZE > len(buf):
            buf, buf_pos, rel = os.pread(fd, min(_READ_CHUNK, size - pos), pos), pos, 0
            stats.bytes_read += len(buf)
            if len(buf) < HEADER_SIZE:
                raise CleanerError(f"{plan.name}: torn batch at position {pos} of segment {source.base_offset}")
        header = read_header(buf, rel)
        if header.batch_length < HEADER_SIZE - LOG_OVERHEAD or pos + header.size > size:
            raise CleanerError(f"{plan.name}: bad batch length at position {pos} of segment {source.base_offset}")
        if rel + header.size > len(buf):
            buf, buf_pos, rel = os.pread(fd, max(min(_READ_CHUNK, size - pos), header.size), pos), pos, 0
            stats.bytes_read += len(buf)
            if len(buf) < header.size:
                raise CleanerError(f"{plan.name}: segment {source.base_offset} shorter than planned")
        yield pos, memoryview(buf)[rel : rel + header.size], header
        pos += header.size


# -- pass 1: the key map, transaction markers, producers' last batches -----------------


@dataclass(slots=True)
class _Scan:
    clean_end: int
    offset_map: dict[bytes, int] = field(default_factory=dict)
    marker_offsets: dict[int, list[int]] = field(default_factory=dict)  # producer id -> marker offsets
    marker_commits: dict[int, list[bool]] = field(default_factory=dict)
    last_batch: dict[int, int] = field(default_factory=dict)  # producer id -> base offset of its last batch
    horizon: int | None = None

    def fate(self, producer_id: int, offset: int) -> bool | None:
        """True (committed) / False (aborted) for a transactional batch at `offset`;
        None while no marker of its producer follows it."""
        offsets = self.marker_offsets.get(producer_id)
        if not offsets:
            return None
        i = bisect.bisect_right(offsets, offset)
        return self.marker_commits[producer_id][i] if i < len(offsets) else None

    def note_horizon(self, horizon: int) -> None:
        if self.horizon is None or horizon < self.horizon:
            self.horizon = horizon


def _scan(plan: CleanPlan, stats: CleanStats) -> _Scan:
    scan = _Scan(plan.clean_end)
    offset_map = scan.offset_map
    pending: dict[int, list[tuple[bytes, int]]] = {}  # open transactions' keys and offsets
    budget, used, mapped = plan.map_budget, 0, False
    first_dirty = plan.first_dirty

    def put(key: bytes, offset: int) -> int:
        previous = offset_map.get(key)
        if previous is None:
            offset_map[key] = offset
            return len(key) + MAP_ENTRY_OVERHEAD
        if offset > previous:
            offset_map[key] = offset
        return 0

    for source in plan.sources:
        if mapped and used > budget:
            scan.clean_end = source.base_offset  # the map is full: the rest waits
            break
        for pos, data, header in _batches(plan, source, stats):
            pid = header.producer_id
            if pid != NO_PRODUCER_ID:
                scan.last_batch[pid] = header.base_offset
            if header.is_control:
                for record in decode_batch(data)[1]:
                    try:
                        commit, _ = parse_control_record(record)
                    except ValueError:
                        continue
                    scan.marker_offsets.setdefault(pid, []).append(record.offset)
                    scan.marker_commits.setdefault(pid, []).append(commit)
                    waiting = pending.pop(pid, [])
                    if commit:
                        for key, offset in waiting:
                            used += put(key, offset)
                continue
            if header.last_offset < first_dirty:
                continue
            mapped = True
            records = decode_batch(data)[1]
            if header.is_transactional:
                waiting = pending.setdefault(pid, [])
                for record in records:
                    if record.key is not None and record.offset >= first_dirty:
                        waiting.append((record.key, record.offset))
                        used += len(record.key) + 16
            else:
                for record in records:
                    if record.key is not None and record.offset >= first_dirty:
                        used += put(record.key, record.offset)
    stats.map_keys = len(offset_map)
    return scan


# -- pass 2: rewriting ---------------------------------------------------------------

_VERBATIM = object()


def _filter_batch(plan: CleanPlan, data: memoryview, header: BatchHeader, scan: _Scan,
                  stats: CleanStats) -> object:
    """_VERBATIM (keep the batch as it is), new batch bytes, or None (nothing left)."""
    if header.is_control:
        return _VERBATIM
    if header.is_transactional:
        fate = scan.fate(header.producer_id, header.base_offset)
        if fate is None:
            return _VERBATIM
        if not fate:
            stats.records_read += header.records_count
            stats.records_removed += header.records_count
            return None
    records = decode_batch(data)[1]
    stats.records_read += len(records)
    now = plan.now_ms
    has_horizon = header.has_delete_horizon
    stamp = False
    kept: list[Record] = []
    offset_map = scan.offset_map
    for record in records:
        key = record.key
        if key is None:
            continue
        latest = offset_map.get(key)
        if latest is not None and record.offset < latest:
            continue
        if record.value is None:
            if has_horizon:
                if now >= header.base_timestamp:
                    stats.tombstones_removed += 1
                    continue
                scan.note_horizon(header.base_timestamp)
            else:
                stamp = True
                scan.note_horizon(now + plan.delete_retention_ms)
        kept.append(record)
    stats.records_removed += len(records) - len(kept)
    if not kept:
        return None
    if len(kept) == len(records) and not stamp:
        return _VERBATIM
    stats.batches_rewritten += 1
    return _rewrite(header, kept, now + plan.delete_retention_ms if stamp else None)


def _rewrite(header: BatchHeader, kept: list[Record], new_horizon: int | None) -> bytes:
    """The batch with only `kept`, at their original offsets, same codec and producer
    fields; stamped with `new_horizon` if given (else keeping any horizon it had)."""
    base = header.base_offset
    base_ts = new_horizon if new_horizon is not None else header.base_timestamp
    buf = bytearray(encode_batch(
        [NewRecord(r.key, r.value, r.headers, r.timestamp, r.offset - base) for r in kept],
        base_offset=base, compression=header.compression, base_timestamp=base_ts,
        producer_id=header.producer_id, producer_epoch=header.producer_epoch, base_sequence=header.base_sequence,
        transactional=header.is_transactional, partition_leader_epoch=header.partition_leader_epoch,
        last_offset_delta=header.last_offset_delta,
    ))
    extra = header.attributes & (TIMESTAMP_TYPE_MASK | DELETE_HORIZON_MASK)
    if new_horizon is not None:
        extra |= DELETE_HORIZON_MASK
    if extra:
        attributes = _I16.unpack_from(buf, ATTRIBUTES_OFFSET)[0] | extra
        _I16.pack_into(buf, ATTRIBUTES_OFFSET, attributes)
        if header.is_log_append_time:
            _I64.pack_into(buf, MAX_TIMESTAMP_OFFSET, header.max_timestamp)  # every record's timestamp
        _U32.pack_into(buf, CRC_OFFSET, compute_crc(buf, 0, len(buf)))
    return bytes(buf)


def _empty_batch(header: BatchHeader) -> bytes:
    """A batch without records covering `header`'s offsets, as Kafka writes one to keep
    a producer's state: no compression, both timestamps the batch's max timestamp."""
    attributes = header.attributes & ~(COMPRESSION_MASK | DELETE_HORIZON_MASK)
    buf = bytearray(_BATCH_HEADER.pack(
        header.base_offset, HEADER_SIZE - LOG_OVERHEAD, header.partition_leader_epoch, 2, 0, attributes,
        header.last_offset_delta, header.max_timestamp, header.max_timestamp, header.producer_id,
        header.producer_epoch, header.base_sequence, 0,
    ))
    _U32.pack_into(buf, CRC_OFFSET, compute_crc(buf, 0, len(buf)))
    return bytes(buf)


class _Output:
    """The `.cleaned` segment of one group. For a group of one segment, nothing is
    written while every batch is kept as it is (`lazy`): if that lasts to the end, the
    segment needs no replacing; at the first change, the unchanged prefix is copied."""

    def __init__(self, plan: CleanPlan, first: Source, lazy: bool, stats: CleanStats) -> None:
        self.plan = plan
        self.first = first
        self.lazy = lazy
        self.stats = stats
        self.unchanged_end = 0  # lazy: bytes of `first` kept as they are, not yet written
        self.segment: LogSegment | None = None
        self.buffer = bytearray()
        self.buf_first = self.buf_last = self.buf_max_ts = self.buf_max_ts_offset = -1

    def verbatim(self, source: Source, position: int, data: memoryview, header: BatchHeader) -> None:
        if self.segment is None and self.lazy and source is self.first and position == self.unchanged_end:
            self.unchanged_end = position + header.size
            return
        self.changed()
        self._add(data, header)

    def rewritten(self, data: bytes) -> None:
        self.changed()
        self._add(data, read_header(data))

    def changed(self) -> None:
        """The output differs from the input: start writing it, unchanged prefix first."""
        if self.segment is not None:
            return
        plan = self.plan
        self.segment = LogSegment.create(plan.directory, self.first.base_offset,
                                         index_interval_bytes=plan.index_interval_bytes,
                                         max_index_bytes=plan.segment_index_bytes, state=CLEANED_SUFFIX)
        if self.unchanged_end:
            for _, data, header in _batches(plan, self.first, self.stats, end=self.unchanged_end):
                self._add(data, header)

    def _add(self, data: bytes | memoryview, header: BatchHeader) -> None:
        if not self.buffer:
            self.buf_first = header.base_offset
            self.buf_max_ts, self.buf_max_ts_offset = -1, header.base_offset
        self.buffer += data
        self.buf_last = header.last_offset
        if header.max_timestamp > self.buf_max_ts:
            self.buf_max_ts, self.buf_max_ts_offset = header.max_timestamp, header.base_offset
        if len(self.buffer) >= _WRITE_CHUNK:
            self._write()

    def _write(self) -> None:
        if self.buffer and self.segment is not None:
            self.segment.append(self.buffer, self.buf_first, self.buf_last, self.buf_max_ts,
                                self.buf_max_ts_offset, now_ms=self.plan.now_ms)
            self.stats.bytes_written += len(self.buffer)
            self.buffer = bytearray()

    def finish(self, aborted: list[AbortedTxn]) -> LogSegment | None:
        """The finished, fsynced segment, holding the inputs' `aborted` transaction
        index entries; None if the (single) input is unchanged."""
        if self.segment is None:
            if self.lazy:
                return None
            self.changed()
        self._write()
        segment = self.segment
        assert segment is not None
        for entry in aborted:
            segment.txn_index.append(entry)
        segment.mark_inactive()
        segment.flush()
        return segment

    def abandon(self) -> None:
        if self.segment is not None:
            self.segment.delete()


def _clean_group(plan: CleanPlan, members: list[Source], scan: _Scan, stats: CleanStats) -> LogSegment | None:
    out = _Output(plan, members[0], len(members) == 1, stats)
    held: tuple[Source, int, memoryview, BatchHeader] | None = None  # an emptied batch, kept if last
    now = plan.now_ms
    try:
        for source in members:
            for pos, data, header in _batches(plan, source, stats):
                outcome = _filter_batch(plan, data, header, scan, stats)
                if outcome is not None:
                    if held is not None:
                        out.changed()  # the held batch is dropped: it was not the last
                        held = None
                    if outcome is _VERBATIM:
                        out.verbatim(source, pos, data, header)
                    else:
                        assert isinstance(outcome, bytes)
                        out.rewritten(outcome)
                    continue
                pid = header.producer_id
                producer_last = (pid != NO_PRODUCER_ID and scan.last_batch.get(pid) == header.base_offset
                                 and (header.max_timestamp < 0
                                      or now - header.max_timestamp < PRODUCER_ID_EXPIRATION_MS))
                if held is not None:
                    out.changed()
                    held = None
                if producer_last:
                    _keep_empty(out, source, pos, data, header)
                else:
                    held = (source, pos, data, header)
        if held is not None:
            _keep_empty(out, *held)
        return out.finish([entry for m in members for entry in list(m.segment.txn_index.entries)])
    except BaseException:
        out.abandon()
        raise


def _keep_empty(out: _Output, source: Source, pos: int, data: memoryview, header: BatchHeader) -> None:
    if header.records_count == 0 and not header.has_delete_horizon and not header.compression:
        out.verbatim(source, pos, data, header)  # already an empty batch
    else:
        out.rewritten(_empty_batch(header))

"""A segment's aborted-transaction index (`.txnindex`), in Kafka's TransactionIndex format.

One entry per ABORT marker written in the segment, 34 bytes, big-endian:
    version i16 (0) | producer id i64 | first offset i64 | last offset i64 | last stable offset i64
`first offset` is where the aborted transaction began (possibly in an earlier segment),
`last offset` the offset of the ABORT marker, and `last stable offset` the partition's LSO
right after the marker (the first offset of the earliest other open transaction, or the
marker's offset + 1). Entries are in marker order, so last offsets strictly increase.

Why it exists: a READ_COMMITTED fetch must tell the consumer which producers' batches in
the returned range were aborted, without reading the log. collect() walks a segment's
entries; the LSO field says when a walk may stop: once an entry's LSO is at or past the
fetch's upper bound, every transaction touching the range has already ended (Kafka's
TxnIndexSearchResult.isComplete).

Entries are kept in memory (aborts are rare and the entries small) and appended to the
file on flush, like the offset index. The file is created only when the first entry is
written, as Kafka does: most segments never have one. Not thread-safe; owned by a LogSegment.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path

from snakafka.log.index import IndexCorruptError, _IndexFile

log = logging.getLogger(__name__)

_ENTRY = struct.Struct(">hqqqq")
ENTRY_SIZE = _ENTRY.size  # 34
VERSION = 0


@dataclass(frozen=True, slots=True)
class AbortedTxn:
    producer_id: int
    first_offset: int
    last_offset: int  # the ABORT marker's offset
    last_stable_offset: int

    def encode(self) -> bytes:
        return _ENTRY.pack(VERSION, self.producer_id, self.first_offset, self.last_offset, self.last_stable_offset)


@dataclass(frozen=True, slots=True)
class TxnSearchResult:
    """Aborted transactions overlapping a fetch range, and whether the search may stop."""

    aborted: list[AbortedTxn]
    complete: bool


def decode_entries(data: bytes) -> list[AbortedTxn]:
    """Entries of a `.txnindex` file. A trailing partial entry (a torn write) is ignored;
    an unknown version or out-of-order entries raise IndexCorruptError."""
    entries: list[AbortedTxn] = []
    usable = len(data) - len(data) % ENTRY_SIZE
    for pos in range(0, usable, ENTRY_SIZE):
        version, pid, first, last, lso = _ENTRY.unpack_from(data, pos)
        if version != VERSION:
            raise IndexCorruptError(f"transaction index entry version {version} at position {pos}")
        if last < first or (entries and last <= entries[-1].last_offset):
            raise IndexCorruptError(f"transaction index entry out of order at position {pos}")
        entries.append(AbortedTxn(pid, first, last, lso))
    return entries


class TransactionIndex:
    """The aborted transactions whose ABORT marker lies in one segment."""

    def __init__(self, path: Path, *, create: bool = False) -> None:
        self.file = _IndexFile(path, create=False)
        if create:
            self.file.delete()  # a leftover of an earlier segment with this base offset
            self.entries: list[AbortedTxn] = []
        else:
            self.entries = decode_entries(self.file.read())

    def __len__(self) -> int:
        return len(self.entries)

    def append(self, entry: AbortedTxn) -> None:
        if self.entries and entry.last_offset <= self.entries[-1].last_offset:
            raise ValueError(f"{self.file.path}: aborted transaction at {entry.last_offset} is not after "
                             f"{self.entries[-1].last_offset}")
        self.entries.append(entry)
        self.file.append(entry.encode())

    def collect(self, fetch_offset: int, upper_bound: int) -> TxnSearchResult:
        """Kafka's collectAbortedTxns: entries of transactions that end at or after
        `fetch_offset` and began below `upper_bound`; complete once an entry's LSO shows
        that no transaction open at that point reaches into [fetch_offset, upper_bound)."""
        found: list[AbortedTxn] = []
        for entry in self.entries:
            if entry.last_offset >= fetch_offset and entry.first_offset < upper_bound:
                found.append(entry)
            if entry.last_stable_offset >= upper_bound:
                return TxnSearchResult(found, True)
        return TxnSearchResult(found, False)

    def truncate_to(self, offset: int) -> None:
        """Drop entries whose marker is at or past `offset` (the log was truncated there)."""
        kept = [e for e in self.entries if e.last_offset < offset]
        if len(kept) != len(self.entries):
            self.entries = kept
            self._rewrite()

    def reset(self) -> None:
        """Forget every entry (recovery rebuilds them from the log's markers)."""
        if self.entries or self.file.exists():
            self.entries = []
            self._rewrite()

    def _rewrite(self) -> None:
        if self.entries:
            self.file.replace(b"".join(e.encode() for e in self.entries))
        else:
            self.file.delete()  # as Kafka: no entries, no file

    def flush(self, fsync: bool = False) -> None:
        if self.file.dirty or (fsync and self.entries):
            self.file.flush(fsync=fsync)

    def rename(self, path: Path) -> None:
        self.file.rename(path)

    def delete(self) -> None:
        self.file.delete()

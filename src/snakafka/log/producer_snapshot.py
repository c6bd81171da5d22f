"""Producer-state snapshot (`<offset>.snapshot`), written at a clean close so that the next
start need not replay the log's batch headers to learn open transactions and producers'
sequences.

Layout, Kafka's ProducerStateManager snapshot version 1 (big-endian):
    version i16 (1) | crc u32 (CRC-32C of what follows) | entry count i32 | entries
    entry: producer id i64 | producer epoch i16 | last sequence i32 | last offset i64 |
           offset delta i32 | timestamp i64 | coordinator epoch i32 | current txn first offset i64 (-1: none)
Kafka keeps one entry per producer (its last batch); we write one entry per batch we
remember (up to five per producer, oldest first), so retries of any of them are still
recognised after a restart. A producer with no batch (only markers) has last sequence -1.

The snapshot is only trusted after a clean shutdown and only if its offset is the log end
offset; the loader removes it once read, so a later crash can never bring back a stale
one. Anything unreadable means a replay: the snapshot is an optimisation, never a source
of truth.
"""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path

from crc32c import crc32c

from snakafka.log.checkpoint import fsync_dir
from snakafka.log.files import offset_name
from snakafka.log.producer_state import (
    INT_MAX,
    BatchMetadata,
    ProducerEntry,
    ProducerStateManager,
)

log = logging.getLogger(__name__)

SNAPSHOT_SUFFIX = ".snapshot"
VERSION = 1
_HEAD = struct.Struct(">hIi")  # version, crc, count
_ENTRY = struct.Struct(">qhiqiqiq")


def snapshot_path(directory: Path, offset: int) -> Path:
    return directory / f"{offset_name(offset)}{SNAPSHOT_SUFFIX}"


def encode(state: ProducerStateManager) -> bytes:
    entries: list[bytes] = []
    for pid, entry in state.producers.items():
        txn_first = -1 if entry.current_txn_first_offset is None else entry.current_txn_first_offset
        batches: list[BatchMetadata | None] = [*entry.batches] or [None]
        for batch in batches:
            if batch is None:
                seq, last, delta, ts = -1, -1, 0, entry.last_timestamp
            else:
                seq, last, delta, ts = (batch.last_seq, batch.last_offset, batch.last_offset - batch.first_offset,
                                        batch.timestamp)
            entries.append(_ENTRY.pack(pid, entry.epoch, seq, last, delta, ts, entry.coordinator_epoch, txn_first))
    body = struct.pack(">i", len(entries)) + b"".join(entries)
    return struct.pack(">hI", VERSION, crc32c(body)) + body


def decode(data: bytes) -> ProducerStateManager:
    """The state a snapshot holds; ValueError if it is torn, corrupt or of another version."""
    if len(data) < _HEAD.size:
        raise ValueError("snapshot shorter than its header")
    version, crc, count = _HEAD.unpack_from(data)
    if version != VERSION:
        raise ValueError(f"snapshot version {version}")
    if crc32c(data[6:]) != crc:
        raise ValueError("snapshot CRC-32C mismatch")
    if len(data) != _HEAD.size + count * _ENTRY.size:
        raise ValueError("snapshot length does not match its entry count")
    state = ProducerStateManager()
    opened: list[tuple[int, int]] = []
    for i in range(count):
        pid, epoch, seq, last, delta, ts, coordinator_epoch, txn_first = _ENTRY.unpack_from(data, _HEAD.size + i * _ENTRY.size)
        entry = state.producers.get(pid)
        if entry is None:
            entry = state.producers[pid] = ProducerEntry(epoch=epoch, coordinator_epoch=coordinator_epoch,
                                                         current_txn_first_offset=None if txn_first < 0 else txn_first)
            if txn_first >= 0:
                opened.append((txn_first, pid))
        if seq >= 0:
            first_seq = (seq - delta) % (INT_MAX + 1)  # sequences wrap at INT_MAX
            entry.batches.append(BatchMetadata(first_seq, seq, last - delta, last, ts))
        entry.last_timestamp = max(entry.last_timestamp, ts)
    for first, pid in sorted(opened):  # ongoing is kept in first-offset order
        state.ongoing[pid] = first
    return state


def write(directory: Path, offset: int, state: ProducerStateManager) -> None:
    """Write the snapshot at `offset` durably (temporary file, fsync, rename, fsync dir)."""
    path = snapshot_path(directory, offset)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, encode(state))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(directory)


def take(directory: Path, log_end_offset: int, name: str) -> ProducerStateManager | None:
    """Remove every snapshot of `directory`, returning the state of the one at
    `log_end_offset` if there is one and it reads back whole."""
    found = sorted(p for p in directory.iterdir() if p.name.endswith(SNAPSHOT_SUFFIX))
    if not found:
        return None
    state = None
    wanted = snapshot_path(directory, log_end_offset)
    for path in found:
        if path == wanted:
            try:
                state = decode(path.read_bytes())
            except (OSError, ValueError) as exc:
                log.warning("%s: ignoring producer snapshot %s: %s", name, path.name, exc)
        path.unlink()
    fsync_dir(directory)
    return state

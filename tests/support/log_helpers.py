"""Helpers of the log tests: read a log back the way a consumer does."""

from __future__ import annotations

from snakafka.log.partition_log import PartitionLog
from snakafka.protocol.batch import iter_batches


def read_all(log: PartitionLog, start: int | None = None) -> list[tuple[int, int]]:
    """(base offset, last offset) of every batch from `start` (default: log start),
    read the way a consumer does: fetch, then continue after the last whole batch."""
    out: list[tuple[int, int]] = []
    offset = log.log_start_offset if start is None else start
    while offset < log.log_end_offset:
        result = log.read(offset, 1 << 20)
        assert result.slice is not None
        batches = list(iter_batches(result.slice.read_bytes()))
        assert batches, "a read must return at least one whole batch"
        for _, h in batches:
            out.append((h.base_offset, h.last_offset))
            offset = h.next_offset
    return out


def contiguous(kept: list[tuple[int, int]], start: int = 0) -> bool:
    """Batches follow each other without gaps from `start`."""
    expected = start
    for base, last in kept:
        if base != expected:
            return False
        expected = last + 1
    return True

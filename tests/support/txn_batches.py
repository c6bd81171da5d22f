"""Transactional record batches for tests, built by kafka-python's batch builder (a real
client's encoder), and transaction markers built by snakafka's own control codec."""

from __future__ import annotations

from kafka.record.default_records import DefaultRecordBatchBuilder

from snakafka.protocol.control import TxnMarker, encode_marker_batch


def txn_batch(producer_id: int, sequence: int, values: list[bytes], *, epoch: int = 0, transactional: bool = True,
              timestamp: int = 1_000, key: bytes | None = b"k") -> bytes:
    """One batch of `values` from `producer_id` at `epoch`, starting at `sequence`."""
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=transactional,
                                        producer_id=producer_id, producer_epoch=epoch, base_sequence=sequence,
                                        batch_size=1 << 30)
    for i, value in enumerate(values):
        builder.append(i, timestamp=timestamp + i, key=key, value=value, headers=[])
    return bytes(builder.build())


def marker(producer_id: int, commit: bool, *, epoch: int = 0, coordinator_epoch: int = 0,
           timestamp: int = 1_000) -> bytes:
    return encode_marker_batch(TxnMarker(producer_id, epoch, coordinator_epoch, commit), timestamp)


def plain_batch(values: list[bytes], *, timestamp: int = 1_000) -> bytes:
    """A batch of a producer without idempotence (no producer id)."""
    return txn_batch(-1, -1, values, epoch=-1, transactional=False, timestamp=timestamp)

"""Transaction markers (KIP-98 control batches): the one type the coordinator writes and
the log, fetch and cleaner read back.

A marker is a v2 record batch whose attributes have isControl and isTransactional set,
holding exactly one record: key = version i16 (0) + type i16 (0 ABORT, 1 COMMIT),
value = version i16 (0) + coordinator epoch i32. The batch header carries the producer id
and epoch of the transaction it ends. Pure codec: bytes in, bytes out, no I/O.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from snakafka.protocol.batch import HEADER_SIZE, BatchError, read_header, validate_batch
from snakafka.protocol.records import (
    CONTROL_TYPE_ABORT,
    CONTROL_TYPE_COMMIT,
    Buffer,
    decode_batch,
    encode_control_batch,
    parse_control_record,
)

__all__ = ["TxnMarker", "decode_marker", "encode_marker_batch"]

_CONTROL_KEY = struct.Struct(">hh")  # version, type


@dataclass(frozen=True, slots=True)
class TxnMarker:
    """An end-of-transaction marker for one producer; `commit` False means ABORT."""

    producer_id: int
    producer_epoch: int
    coordinator_epoch: int
    commit: bool  # True: COMMIT (control type 1), False: ABORT (control type 0)


def encode_marker_batch(marker: TxnMarker, timestamp_ms: int) -> bytes:
    """One control batch holding `marker`, base offset 0 (the log assigns the real one)."""
    return encode_control_batch(
        marker.commit,
        producer_id=marker.producer_id,
        producer_epoch=marker.producer_epoch,
        coordinator_epoch=marker.coordinator_epoch,
        timestamp=timestamp_ms,
    )


def decode_marker(batch_bytes: Buffer) -> TxnMarker | None:
    """The transaction marker in the batch at the start of `batch_bytes`.

    None if the batch is not a control batch, is an empty one (Kafka's cleaner leaves a
    marker's header as its producer's last batch) or its control record is not a
    transaction marker (e.g. KRaft's leader-change records). Raises BatchError / CorruptBatchError for
    a batch that does not decode (bad framing or CRC) and BatchError for a control batch
    that does not hold exactly one well-formed marker record.
    """
    header = read_header(batch_bytes) if len(batch_bytes) >= HEADER_SIZE else validate_batch(batch_bytes)
    if not header.is_control or header.records_count == 0:
        return None
    header, records = decode_batch(batch_bytes)
    if len(records) != 1:
        raise BatchError(f"control batch holds {len(records)} records, expected 1")
    key = records[0].key
    if key is None or len(key) < _CONTROL_KEY.size:
        raise BatchError("control record key is missing or short")
    if _CONTROL_KEY.unpack_from(key)[1] not in (CONTROL_TYPE_ABORT, CONTROL_TYPE_COMMIT):
        return None
    try:
        commit, coordinator_epoch = parse_control_record(records[0])
    except ValueError as exc:
        raise BatchError(str(exc)) from exc
    return TxnMarker(header.producer_id, header.producer_epoch, coordinator_epoch, commit)

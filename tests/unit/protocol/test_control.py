"""Transaction markers: encode_marker_batch / decode_marker round trip, Kafka's layout."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatch

from snakafka.protocol.batch import (
    BatchError,
    CorruptBatchError,
    read_header,
    validate_batch,
)
from snakafka.protocol.control import TxnMarker, decode_marker, encode_marker_batch
from snakafka.protocol.records import NewRecord, decode_batch, encode_batch

markers = st.builds(TxnMarker, st.integers(0, 2**63 - 1), st.integers(0, 2**15 - 1), st.integers(0, 2**31 - 1),
                    st.booleans())


@given(markers, st.integers(0, 2**41))
def test_round_trip(marker: TxnMarker, timestamp: int) -> None:
    data = encode_marker_batch(marker, timestamp)
    header = validate_batch(data)  # CRC-32C and framing valid
    assert header.base_offset == 0 and header.is_control and header.is_transactional
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (marker.producer_id,
                                                                                marker.producer_epoch, -1)
    assert header.records_count == 1 and header.last_offset_delta == 0
    assert decode_marker(data) == marker


def test_layout_is_kafkas() -> None:
    data = encode_marker_batch(TxnMarker(42, 3, 9, commit=False), 1_234)
    header, records = decode_batch(data)
    assert header.attributes == 0x30  # isControl | isTransactional, no compression
    assert records[0].key == struct.pack(">hh", 0, 0)  # version 0, type ABORT
    assert records[0].value == struct.pack(">hi", 0, 9)  # version 0, coordinator epoch
    assert records[0].timestamp == 1_234
    commit = decode_batch(encode_marker_batch(TxnMarker(42, 3, 9, commit=True), 1_234))[1][0]
    assert commit.key == struct.pack(">hh", 0, 1)


def test_a_real_client_decodes_it() -> None:
    """kafka-python's batch reader (what its consumer runs) sees a control batch."""
    data = encode_marker_batch(TxnMarker(7, 1, 2, commit=True), 5_000)
    batch = DefaultRecordBatch(data)
    assert batch.is_control_batch and batch.is_transactional
    assert batch.producer_id == 7 and batch.producer_epoch == 1
    assert batch.validate_crc()


def test_data_batches_are_not_markers() -> None:
    data = encode_batch([NewRecord(b"k", b"v")], producer_id=7, producer_epoch=0, base_sequence=0, transactional=True)
    assert decode_marker(data) is None


def test_an_emptied_control_batch_is_not_a_marker() -> None:
    empty = encode_batch([], control=True, transactional=True, producer_id=3, producer_epoch=0, last_offset_delta=0)
    assert decode_marker(empty) is None


def test_other_control_types_are_not_markers() -> None:
    """KRaft's leader-change record (control type 2) is a control batch, not a marker."""
    data = encode_batch([NewRecord(struct.pack(">hh", 0, 2), b"\x00\x00")], control=True)
    assert read_header(data).is_control
    assert decode_marker(data) is None


def test_malformed_markers_are_refused() -> None:
    two = encode_batch([NewRecord(struct.pack(">hh", 0, 1), struct.pack(">hi", 0, 1))] * 2, control=True)
    with pytest.raises(BatchError, match="2 records"):
        decode_marker(two)
    short_value = encode_batch([NewRecord(struct.pack(">hh", 0, 1), b"\x00")], control=True)
    with pytest.raises(BatchError):
        decode_marker(short_value)
    flipped = bytearray(encode_marker_batch(TxnMarker(1, 0, 0, True), 0))
    flipped[-1] ^= 0xFF
    with pytest.raises(CorruptBatchError):
        decode_marker(bytes(flipped))

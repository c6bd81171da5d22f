"""__transaction_state records, byte for byte as Kafka writes them (TransactionLogKey and
TransactionLogValue v0), and round trips."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snakafka.coordinator.offsets_schema import SchemaError
from snakafka.coordinator.transaction.schema import (
    TxnLogValue,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
)
from snakafka.coordinator.transaction.state import TxnState


def test_key_golden_bytes() -> None:
    assert encode_key("tx-1") == b"\x00\x00\x00\x04tx-1"
    assert decode_key(b"\x00\x00\x00\x04tx-1") == "tx-1"


def test_value_golden_bytes() -> None:
    value = TxnLogValue(1000, 2, 60000, TxnState.ONGOING, frozenset({("t", 1), ("t", 0)}), 5, 4)
    expected = (struct.pack(">hqhib", 0, 1000, 2, 60000, 1)
                + struct.pack(">i", 1) + struct.pack(">h", 1) + b"t" + struct.pack(">iii", 2, 0, 1)
                + struct.pack(">qq", 5, 4))
    assert encode_value(value) == expected
    assert decode_value(expected) == value


def test_empty_state_writes_null_partitions() -> None:
    value = TxnLogValue(1, 0, 100, TxnState.EMPTY, frozenset(), 9, -1)
    data = encode_value(value)
    assert data[2 + 8 + 2 + 4 + 1:][:4] == b"\xff\xff\xff\xff"
    assert decode_value(data) == value


def test_state_codes_are_kafkas() -> None:
    assert [s.code for s in TxnState] == [0, 1, 2, 3, 4, 5, 6, 7]
    assert str(TxnState.PREPARE_EPOCH_FENCE) == "PrepareEpochFence"


def test_tombstone_and_bad_bytes() -> None:
    assert decode_value(None) is None
    with pytest.raises(SchemaError):
        decode_value(b"\x00\x00\x00")
    with pytest.raises(SchemaError):
        decode_key(b"\x00\x05\x00\x01a")
    with pytest.raises(SchemaError):
        decode_value(struct.pack(">hqhib", 0, 1, 0, 1, 42) + b"\xff\xff\xff\xff" + bytes(16))


states = st.sampled_from([s for s in TxnState if s is not TxnState.EMPTY])
partitions = st.frozensets(st.tuples(st.text(min_size=1, max_size=10), st.integers(0, 1000)), min_size=1, max_size=8)


@given(st.integers(0, 2**63 - 1), st.integers(-1, 32767), st.integers(1, 2**31 - 1), states, partitions,
       st.integers(-1, 2**62), st.integers(-1, 2**62), st.text(min_size=1, max_size=50))
def test_round_trip(pid: int, epoch: int, timeout: int, state: TxnState, parts: frozenset[tuple[str, int]],
                    updated: int, started: int, tid: str) -> None:
    value = TxnLogValue(pid, epoch, timeout, state, parts, updated, started)
    assert decode_value(encode_value(value)) == value
    assert decode_key(encode_key(tid)) == tid

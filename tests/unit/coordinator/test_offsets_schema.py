"""__consumer_offsets record formats: golden bytes worked out from Kafka's JSON schemas,
every readable value version (including flexible v4), round trips, and the group ->
partition mapping against Java's String.hashCode and Kafka's Utils.abs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snakafka.coordinator.offsets_schema import (
    GroupMetadataKey,
    GroupMetadataValue,
    MemberMetadata,
    OffsetKey,
    OffsetValue,
    SchemaError,
    UnknownRecordTypeError,
    decode_key,
    decode_value,
    encode_group_value,
    encode_key,
    encode_offset_value,
    java_string_hash,
    partition_for_group,
)

H = bytes.fromhex
GROUP_KEY = GroupMetadataKey("g")
OFFSET_KEY = OffsetKey("g", "t", 0)
MEMBER = MemberMetadata("m", None, "c", "h", rebalance_timeout=300_000, session_timeout=10_000,
                        subscription=b"\x01", assignment=b"")
GROUP = GroupMetadataValue("consumer", 1, "range", "m", 1000, (MEMBER,))


def test_golden_keys() -> None:
    # version i16 | group (i16 length + UTF-8) | topic | partition i32
    assert encode_key(OFFSET_KEY) == H("0001" "000167" "000174" "00000000")
    assert encode_key(GROUP_KEY) == H("0002" "000167")
    assert decode_key(H("0001" "000167" "000174" "00000000")) == OFFSET_KEY
    assert decode_key(H("0000" "000167" "000174" "00000007")) == OffsetKey("g", "t", 7)  # version 0 reads the same
    assert decode_key(H("0002" "000167")) == GROUP_KEY


OFFSET_V3 = H("0003" "0000000000000005" "00000002" "0000" "00000000000003e8")


def test_golden_offset_value() -> None:
    # v3: offset i64 | leaderEpoch i32 | metadata string | commitTimestamp i64
    value = OffsetValue(offset=5, metadata="", commit_timestamp=1000, leader_epoch=2)
    assert encode_offset_value(value) == OFFSET_V3
    assert decode_value(OFFSET_KEY, OFFSET_V3) == value


def test_offset_value_with_expire_timestamp_is_v1_as_in_kafka() -> None:
    # v1: offset i64 | metadata string | commitTimestamp i64 | expireTimestamp i64 (no leader epoch)
    value = OffsetValue(offset=5, metadata="md", commit_timestamp=1000, expire_timestamp=2000)
    raw = H("0001" "0000000000000005" "0002" "6d64" "00000000000003e8" "00000000000007d0")
    assert encode_offset_value(value) == raw
    assert decode_value(OFFSET_KEY, raw) == value


GROUP_V3 = H(
    "0003" "0008" + b"consumer".hex() + "00000001" "0005" + b"range".hex() + "00016d" "00000000000003e8"
    "00000001"  # one member
    "00016d" "ffff" "000163" "000168"  # memberId, groupInstanceId null, clientId, clientHost
    "000493e0" "00002710"  # rebalanceTimeout 300000, sessionTimeout 10000
    "0000000101" "00000000"  # subscription b"\x01", assignment b""
)


def test_golden_group_value() -> None:
    assert encode_group_value(GROUP) == GROUP_V3
    assert decode_value(GROUP_KEY, GROUP_V3) == GROUP


def test_older_offset_value_versions() -> None:
    v0 = H("0000" "0000000000000009" "000178" "0000000000000001")
    assert decode_value(OFFSET_KEY, v0) == OffsetValue(9, "x", 1)
    v2 = H("0002" "0000000000000009" "0000" "0000000000000001")
    assert decode_value(OFFSET_KEY, v2) == OffsetValue(9, "", 1)


def test_flexible_offset_value_v4() -> None:
    # compact string length = n + 1 as an unsigned varint; a tagged field (tag 0, 2 bytes) is skipped
    v4 = H("0004" "0000000000000009" "00000003" "0278" "0000000000000001" "01" "00" "02" "aabb")
    assert decode_value(OFFSET_KEY, v4) == OffsetValue(9, "x", 1, leader_epoch=3)


def test_older_and_flexible_group_value_versions() -> None:
    v0 = H(
        "0000" "0008" + b"consumer".hex() + "00000002" "ffff" "ffff" "00000001"
        "00016d" "000163" "000168" "00001388" "00000000" "00000000"
    )
    assert decode_value(GROUP_KEY, v0) == GroupMetadataValue(
        "consumer", 2, None, None, -1, (MemberMetadata("m", None, "c", "h", 5000, 5000, b"", b""),)
    )
    # v2: currentStateTimestamp appears; members have rebalanceTimeout but no groupInstanceId
    v2 = H(
        "0002" "0008" + b"consumer".hex() + "00000002" "ffff" "ffff" "0000000000000007" "00000001"
        "00016d" "000163" "000168" "00002710" "00001388" "00000000" "00000000"
    )
    assert decode_value(GROUP_KEY, v2) == GroupMetadataValue(
        "consumer", 2, None, None, 7, (MemberMetadata("m", None, "c", "h", 10000, 5000, b"", b""),)
    )
    v4 = H(
        "0004" "09" + b"consumer".hex() + "00000001" "06" + b"range".hex() + "026d" "00000000000003e8"
        "02"  # compact array of one member
        "026d" "036969" "0263" "0268" "000493e0" "00002710" "0201" "01" "00"  # ... member tagged fields
        "00"  # top-level tagged fields
    )
    assert decode_value(GROUP_KEY, v4) == GroupMetadataValue(
        "consumer", 1, "range", "m", 1000,
        (MemberMetadata("m", "ii", "c", "h", 300_000, 10_000, b"\x01", b""),),
    )


def test_tombstone() -> None:
    assert decode_value(OFFSET_KEY, None) is None
    assert decode_value(GROUP_KEY, None) is None


def test_errors() -> None:
    with pytest.raises(UnknownRecordTypeError):
        decode_key(H("0003" "000167"))  # KIP-848 ConsumerGroupMetadataKey: not ours to read
    with pytest.raises(SchemaError):
        decode_key(H("0001" "000167"))  # truncated
    with pytest.raises(SchemaError):
        decode_key(H("0002" "000167" "00"))  # trailing byte
    with pytest.raises(SchemaError):
        decode_value(OFFSET_KEY, H("0009" "00"))
    with pytest.raises(SchemaError):
        decode_value(OFFSET_KEY, OFFSET_V3[:-1])
    with pytest.raises(SchemaError):
        decode_key(H("0002" "ffff"))  # null group
    with pytest.raises(SchemaError):
        decode_key(H("0002" "0001ff"))  # not UTF-8


text = st.text(max_size=30)
ints32 = st.integers(-(2**31), 2**31 - 1)
ints64 = st.integers(-(2**63), 2**63 - 1)
members = st.builds(MemberMetadata, text, st.none() | text, text, text, ints32, ints32, st.binary(max_size=50),
                    st.binary(max_size=50))
group_values = st.builds(GroupMetadataValue, text, ints32, st.none() | text, st.none() | text, ints64,
                         st.lists(members, max_size=4).map(tuple))
offset_values = st.builds(OffsetValue, ints64, text, ints64, ints32, st.none() | ints64)


@settings(max_examples=60, deadline=None)
@given(key=st.builds(OffsetKey, text, text, ints32) | st.builds(GroupMetadataKey, text))
def test_key_round_trip(key: OffsetKey | GroupMetadataKey) -> None:
    assert decode_key(encode_key(key)) == key


@settings(max_examples=60, deadline=None)
@given(value=offset_values)
def test_offset_value_round_trip(value: OffsetValue) -> None:
    decoded = decode_value(OFFSET_KEY, encode_offset_value(value))
    if value.expire_timestamp is not None:  # v1 has no leader epoch, exactly as in Kafka
        value = OffsetValue(value.offset, value.metadata, value.commit_timestamp, -1, value.expire_timestamp)
    assert decoded == value


@settings(max_examples=60, deadline=None)
@given(value=group_values)
def test_group_value_round_trip(value: GroupMetadataValue) -> None:
    assert decode_value(GROUP_KEY, encode_group_value(value)) == value


@pytest.mark.parametrize(
    ("s", "java_hash"),
    [("", 0), ("hello", 99162322), ("Hello World", -862545276), ("Aa", 2112), ("BB", 2112),
     ("polygenelubricants", -(2**31)),  # the classic string whose hashCode is Integer.MIN_VALUE
     ("\U0001f600", 0xD83D * 31 + 0xDE00)],  # outside the BMP: hashed as two UTF-16 surrogates
)
def test_java_string_hash(s: str, java_hash: int) -> None:
    assert java_string_hash(s) == java_hash


def test_partition_for_group() -> None:
    assert partition_for_group("hello", 50) == 99162322 % 50
    # Kafka's Utils.abs is Math.abs: 862545276 % 50 = 26 (the 0x7fffffff mask would give 22).
    assert partition_for_group("Hello World", 50) == 26
    assert partition_for_group("polygenelubricants", 50) == 0  # Utils.abs(MIN_VALUE) == 0
    assert partition_for_group("polygenelubricants", 7) == 0
    assert partition_for_group("anything", 1) == 0
    with pytest.raises(ValueError):
        partition_for_group("g", 0)


@given(st.text(max_size=40), st.integers(1, 200))
def test_partition_in_range(group: str, n: int) -> None:
    assert 0 <= partition_for_group(group, n) < n

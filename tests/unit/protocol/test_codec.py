"""The request codec's round trip through kio, and the values kio alone cannot hold."""

from __future__ import annotations

import datetime
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kio.schema.offset_commit.v4.request import (
    OffsetCommitRequest,
    OffsetCommitRequestPartition,
    OffsetCommitRequestTopic,
)
from kio.schema.types import GroupId, TopicName
from kio.static.primitive import i32, i64, i64Timedelta

from snakafka.protocol import codec

LIMIT_MS = (2**63 - 1) // 1000


def _commit_frame(retention_ms: int) -> bytes:
    """An OffsetCommit v4 frame whose retention_time is any int64, as a Java client may send."""
    request = OffsetCommitRequest(
        group_id=GroupId("g"), generation_id_or_member_epoch=i32(3), member_id="m",
        retention_time=i64Timedelta.parse(datetime.timedelta(milliseconds=-1)),
        topics=(OffsetCommitRequestTopic(name=TopicName("t"), partitions=(OffsetCommitRequestPartition(
            partition_index=i32(0), committed_offset=i64(42), committed_metadata=None),)),),
    )
    frame = bytearray(codec.encode_request(7, request, client_id="c"))
    marker = struct.pack(">q", -1)
    at = frame.index(b"\x00\x01m") + 3  # the retention_time follows the member id
    assert frame[at:at + 8] == marker
    frame[at:at + 8] = struct.pack(">q", retention_ms)
    return bytes(frame[4:])  # decode_request takes the frame without its size prefix


@pytest.mark.parametrize("retention_ms", [-1, 0, 86_400_000, LIMIT_MS, -LIMIT_MS])
def test_retention_times_kio_can_hold_are_kept(retention_ms: int) -> None:
    header, body = codec.decode_request(_commit_frame(retention_ms))
    assert (header.api_key, header.api_version, header.correlation_id) == (8, 4, 7)
    assert body.retention_time == datetime.timedelta(milliseconds=retention_ms)


@given(st.one_of(st.integers(LIMIT_MS + 1, 2**63 - 1), st.integers(-(2**63), -LIMIT_MS - 1)))
def test_retention_times_beyond_a_timedelta_are_clamped_not_refused(retention_ms: int) -> None:
    _, body = codec.decode_request(_commit_frame(retention_ms))
    expected = LIMIT_MS if retention_ms > 0 else -LIMIT_MS
    assert body.retention_time == datetime.timedelta(milliseconds=expected)
    assert body.topics[0].partitions[0].committed_offset == 42

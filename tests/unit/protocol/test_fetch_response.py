"""Our hand-written fetch response encoder must produce exactly what kio's encoder does."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode
from kio.static.primitive import i32, i64

from snakafka.protocol import codec
from snakafka.protocol.fetch_response import (
    PartitionPayload,
    Sized,
    TopicPayload,
    encode_fetch_response,
)
from snakafka.server.context import build, response_module


class Slice:
    def __init__(self, data: bytes) -> None:
        self.data = data

    @property
    def size(self) -> int:
        return len(self.data)


def kio_bytes(version: int, correlation_id: int, topics: list[TopicPayload]) -> bytes:
    schema = response_module(1, version)
    responses = []
    for t in topics:
        parts = []
        for p in t.partitions:
            records = p.records.data if isinstance(p.records, Slice) else p.records
            aborted = None if p.aborted is None else tuple(
                build(schema.AbortedTransaction, producer_id=i64(a), first_offset=i64(b)) for a, b in p.aborted
            )
            parts.append(build(schema.PartitionData, partition_index=i32(p.partition), error_code=ErrorCode(p.error_code),
                               high_watermark=i64(p.high_watermark), last_stable_offset=i64(p.last_stable_offset),
                               log_start_offset=i64(p.log_start_offset), aborted_transactions=aborted,
                               preferred_read_replica=i32(p.preferred_read_replica), records=records or b""))
        responses.append(build(schema.FetchableTopicResponse, topic=t.topic, partitions=tuple(parts)))
    response = build(schema.FetchResponse, throttle_time=datetime.timedelta(0), error_code=ErrorCode.none, session_id=i32(0),
                     responses=tuple(responses))
    return codec.encode_response(1, version, correlation_id, response)


def join(parts: list[bytes | Sized]) -> bytes:
    return b"".join(part_bytes(p) for p in parts)


def part_bytes(part: bytes | Sized) -> bytes:
    if isinstance(part, bytes):
        return part
    assert isinstance(part, Slice)  # the only records given as something other than bytes
    return part.data


partitions = st.builds(
    PartitionPayload,
    partition=st.integers(0, 1000),
    error_code=st.sampled_from([0, 1, 3, 6]),
    high_watermark=st.integers(-1, 2**40),
    last_stable_offset=st.integers(-1, 2**40),
    log_start_offset=st.integers(-1, 2**40),
    aborted=st.none() | st.lists(st.tuples(st.integers(0, 2**40), st.integers(0, 2**40)), max_size=3),
    records=st.none() | st.binary(min_size=1, max_size=50).map(Slice) | st.binary(max_size=50),
)
topics = st.lists(st.builds(TopicPayload, topic=st.text("abc-_.", min_size=1, max_size=10), partitions=st.lists(partitions, max_size=4)), max_size=4)


@pytest.mark.parametrize("version", range(4, 13))
@settings(max_examples=40)
@given(topics=topics, correlation_id=st.integers(0, 2**31 - 1))
def test_matches_kio(version: int, topics: list[TopicPayload], correlation_id: int) -> None:
    ours = join(encode_fetch_response(version, correlation_id, topics))
    assert ours == kio_bytes(version, correlation_id, topics)


def test_file_slices_stay_separate_parts() -> None:
    s = Slice(b"x" * 100)
    parts = encode_fetch_response(12, 7, [TopicPayload("t", [PartitionPayload(0, records=s)])])
    assert any(p is s for p in parts)

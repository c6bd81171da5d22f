"""Our hand-written produce response encoder must produce exactly what kio's encoder does."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode
from kio.static.primitive import i32, i64

from snakafka.protocol import codec
from snakafka.protocol.produce_response import (
    PartitionProduceResult,
    encode_produce_response,
)
from snakafka.server.context import build, response_module

PRODUCE = 0


def kio_bytes(version: int, correlation_id: int, topics: list[tuple[str, list[PartitionProduceResult]]],
              throttle_ms: int) -> bytes:
    schema = response_module(PRODUCE, version)
    responses = []
    for name, partitions in topics:
        parts = []
        for p in partitions:
            append_time = None if p.log_append_time < 0 else datetime.datetime.fromtimestamp(p.log_append_time / 1000,
                                                                                              datetime.UTC)
            fields: dict[str, object] = {"index": i32(p.index), "error_code": ErrorCode(p.error_code), "base_offset": i64(p.base_offset),
                      "log_append_time": append_time, "log_start_offset": i64(p.log_start_offset)}
            if version >= 8:
                fields.update(record_errors=tuple(build(schema.BatchIndexAndErrorMessage, batch_index=i32(i),
                                                        batch_index_error_message=m) for i, m in p.record_errors),
                              error_message=p.error_message)
            parts.append(build(schema.PartitionProduceResponse, **fields))
        responses.append(build(schema.TopicProduceResponse, name=name, partition_responses=tuple(parts)))
    response = build(schema.ProduceResponse, responses=tuple(responses),
                     throttle_time=datetime.timedelta(milliseconds=throttle_ms))
    return codec.encode_response(PRODUCE, version, correlation_id, response)


texts = st.text(st.characters(codec="utf-8"), max_size=300)
partitions = st.builds(
    PartitionProduceResult,
    index=st.integers(0, 2**31 - 1),
    error_code=st.sampled_from([0, 2, 6, 7, 19, 20, 87]),
    base_offset=st.integers(-1, 2**62),
    log_append_time=st.sampled_from([-1]) | st.integers(0, 2**42),
    log_start_offset=st.integers(-1, 2**62),
    record_errors=st.lists(st.tuples(st.integers(0, 2**31 - 1), st.none() | texts), max_size=3).map(tuple),
    error_message=st.none() | texts,
)
topics = st.lists(st.tuples(st.text(min_size=1, max_size=140), st.lists(partitions, max_size=4)), max_size=4)


@pytest.mark.parametrize("version", range(3, 10))
@settings(max_examples=60, deadline=None)
@given(topics=topics, correlation_id=st.integers(-(2**31), 2**31 - 1), throttle_ms=st.integers(0, 2**31 - 1))
def test_matches_kio(version: int, topics: list[tuple[str, list[PartitionProduceResult]]], correlation_id: int,
                     throttle_ms: int) -> None:
    assert encode_produce_response(version, correlation_id, topics, throttle_ms) == \
        kio_bytes(version, correlation_id, topics, throttle_ms)


def test_versions_outside_the_served_range_are_refused() -> None:
    with pytest.raises(ValueError):
        encode_produce_response(2, 1, [])
    with pytest.raises(ValueError):
        encode_produce_response(10, 1, [])

"""The hand-written follower Fetch v12 codec against kio's: request bytes identical to
kio's encoder, response fields identical to kio's decoder, for any content."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode
from kio.schema.fetch.v12 import request as kreq
from kio.schema.fetch.v12 import response as kresp
from kio.static.primitive import i8, i32, i32Timedelta, i64

from snakafka.protocol import codec
from snakafka.protocol.replica_fetch import (
    FetchDecodeError,
    PartitionFetch,
    ReplicaFetchRequest,
    decode_response,
    encode_request,
)

i32s = st.integers(-(2**31), 2**31 - 1)
i64s = st.integers(-(2**63), 2**63 - 1)
names = st.text(min_size=1, max_size=12)

partition_fetches = st.builds(PartitionFetch, partition=i32s, current_leader_epoch=i32s, fetch_offset=i64s,
                              last_fetched_epoch=i32s, log_start_offset=i64s, partition_max_bytes=i32s)
requests = st.builds(
    ReplicaFetchRequest,
    replica_id=i32s, max_wait_ms=st.integers(0, 2**31 - 1), min_bytes=i32s, max_bytes=i32s,
    topics=st.lists(st.tuples(names, st.lists(partition_fetches, max_size=4)), max_size=4),
    isolation_level=st.integers(0, 1), session_id=i32s, session_epoch=i32s,
    forgotten=st.lists(st.tuples(names, st.lists(i32s, max_size=4)), max_size=3),
    rack_id=st.text(max_size=8),
)


def kio_request(req: ReplicaFetchRequest) -> kreq.FetchRequest:
    return kreq.FetchRequest(
        replica_id=i32(req.replica_id),  # type: ignore[arg-type]
        max_wait=i32Timedelta.parse(datetime.timedelta(milliseconds=req.max_wait_ms)),
        min_bytes=i32(req.min_bytes), max_bytes=i32(req.max_bytes), isolation_level=i8(req.isolation_level),
        session_id=i32(req.session_id), session_epoch=i32(req.session_epoch),
        topics=tuple(kreq.FetchTopic(topic=name, partitions=tuple(  # type: ignore[arg-type]
            kreq.FetchPartition(partition=i32(p.partition), current_leader_epoch=i32(p.current_leader_epoch),
                                fetch_offset=i64(p.fetch_offset), last_fetched_epoch=i32(p.last_fetched_epoch),
                                log_start_offset=i64(p.log_start_offset),
                                partition_max_bytes=i32(p.partition_max_bytes)) for p in parts))
                     for name, parts in req.topics),
        forgotten_topics_data=tuple(kreq.ForgottenTopic(topic=name, partitions=tuple(i32(p) for p in parts))  # type: ignore[arg-type]
                                    for name, parts in req.forgotten),
        rack_id=req.rack_id,
    )


@settings(max_examples=150)
@given(req=requests, correlation_id=i32s, client_id=st.none() | st.text(max_size=20))
def test_request_bytes_match_kio(req: ReplicaFetchRequest, correlation_id: int, client_id: str | None) -> None:
    assert encode_request(correlation_id, client_id, req) == codec.encode_request(correlation_id, kio_request(req),
                                                                                   client_id)


def test_the_request_decodes_as_kio_reads_it() -> None:
    req = ReplicaFetchRequest(3, 500, 1, 10 << 20, [("t", [PartitionFetch(0, 4, 100, 4, 0, 1 << 20)])],
                              session_id=7, session_epoch=2)
    header, body = codec.decode_request(encode_request(9, "broker-3-fetcher", req)[4:])
    assert header.correlation_id == 9 and body.replica_id == 3 and body.session_id == 7
    assert body.topics[0].partitions[0].fetch_offset == 100


error_codes = st.sampled_from([ErrorCode.none, ErrorCode.offset_out_of_range, ErrorCode.not_leader_or_follower,
                               ErrorCode.fenced_leader_epoch])
kio_partitions = st.builds(
    kresp.PartitionData,
    partition_index=i32s.map(i32), error_code=error_codes, high_watermark=i64s.map(i64),
    last_stable_offset=i64s.map(i64), log_start_offset=i64s.map(i64),
    diverging_epoch=st.builds(kresp.EpochEndOffset, epoch=i32s.map(i32), end_offset=i64s.map(i64)),
    aborted_transactions=st.none() | st.lists(st.builds(kresp.AbortedTransaction, producer_id=i64s.map(i64),
                                                        first_offset=i64s.map(i64)), max_size=3).map(tuple),
    preferred_read_replica=i32s.map(i32),
    records=st.none() | st.binary(max_size=60),
)
kio_responses = st.builds(
    kresp.FetchResponse,
    throttle_time=st.integers(0, 10_000).map(lambda ms: i32Timedelta.parse(datetime.timedelta(milliseconds=ms))),
    error_code=error_codes, session_id=i32s.map(i32),
    responses=st.lists(st.builds(kresp.FetchableTopicResponse, topic=names,
                                 partitions=st.lists(kio_partitions, max_size=4).map(tuple)), max_size=4).map(tuple),
)


@settings(max_examples=150)
@given(response=kio_responses, correlation_id=i32s)
def test_response_fields_match_kio(response: kresp.FetchResponse, correlation_id: int) -> None:
    frame = codec.encode_response(1, 12, correlation_id, response)[4:]
    ours = decode_response(frame)
    got_id, theirs = codec.decode_response(1, 12, frame)
    assert ours.correlation_id == got_id == correlation_id
    assert ours.throttle_ms == theirs.throttle_time // datetime.timedelta(milliseconds=1)
    assert ours.error_code == theirs.error_code.value and ours.session_id == theirs.session_id
    assert [name for name, _ in ours.responses] == [t.topic for t in theirs.responses]
    for (_, parts), t in zip(ours.responses, theirs.responses, strict=True):
        assert len(parts) == len(t.partitions)
        for p, k in zip(parts, t.partitions, strict=True):
            assert (p.partition_index, p.error_code, p.high_watermark, p.last_stable_offset, p.log_start_offset,
                    p.preferred_read_replica) == (k.partition_index, k.error_code.value, k.high_watermark,
                                                   k.last_stable_offset, k.log_start_offset, k.preferred_read_replica)
            assert p.aborted_transactions == (None if k.aborted_transactions is None else [
                (a.producer_id, a.first_offset) for a in k.aborted_transactions])
            assert (None if p.records is None else bytes(p.records)) == (None if k.records is None else bytes(k.records))
            epoch = k.diverging_epoch
            assert p.diverging_epoch == (None if (epoch.epoch, epoch.end_offset) == (-1, -1)
                                         else (epoch.epoch, epoch.end_offset))


@pytest.mark.parametrize("cut", [3, 10, 20, 40])
def test_a_truncated_response_is_refused(cut: int) -> None:
    response = kresp.FetchResponse(
        throttle_time=i32Timedelta.parse(datetime.timedelta(0)), error_code=ErrorCode.none, session_id=i32(0),
        responses=(kresp.FetchableTopicResponse(topic="t", partitions=(kresp.PartitionData(  # type: ignore[arg-type]
            partition_index=i32(0), error_code=ErrorCode.none, high_watermark=i64(5), last_stable_offset=i64(5),
            log_start_offset=i64(0), aborted_transactions=None, preferred_read_replica=i32(-1),  # type: ignore[arg-type]
            records=b"x" * 30),)),))  # type: ignore[arg-type]
    frame = codec.encode_response(1, 12, 1, response)[4:]
    with pytest.raises(FetchDecodeError):
        decode_response(frame[:cut])

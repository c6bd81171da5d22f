"""Fetch: long-poll reads of record batches, sent from segment files as they are.

Fetch sessions (KIP-227, v7+) for followers and consumers: replication/fetch_session.py
resolves the request against the session cache (what to read, or the session error);
an incremental response holds only the partitions that changed.

isolation_level 1 (READ_COMMITTED, KIP-98) reads only below the last stable offset and
answers the aborted transactions overlapping the data, so the consumer can skip their
batches; followers always read to the log end.
"""

from __future__ import annotations

from typing import Any, cast

from kio.schema.errors import ErrorCode

from snakafka.log.partition_log import FileSlice
from snakafka.protocol.fetch_response import (
    PartitionPayload,
    Sized,
    TopicPayload,
    encode_fetch_response,
)
from snakafka.replication.fetch_session import (
    FINAL_EPOCH,
    FetchContext,
    PartitionAnswer,
    PartitionRequest,
)
from snakafka.replication.replica_manager import FetchRequestPartition, FetchResult
from snakafka.server import authorization
from snakafka.server.context import RequestContext
from snakafka.server.response import Deferred, Response


async def handle_fetch(ctx: RequestContext, request: Any) -> Response | Deferred:
    version = ctx.version
    correlation_id = ctx.header.correlation_id
    requested = [((t.topic, p.partition), PartitionRequest(
        p.fetch_offset, p.partition_max_bytes, getattr(p, "current_leader_epoch", -1),
        getattr(p, "last_fetched_epoch", -1), getattr(p, "log_start_offset", -1)))
        for t in request.topics for p in t.partitions]
    forgotten = [(t.topic, p) for t in getattr(request, "forgotten_topics_data", ()) for p in t.partitions]
    context = ctx.broker.replica_manager.fetch_sessions.new_context(
        getattr(request, "session_id", 0), getattr(request, "session_epoch", FINAL_EPOCH), requested, forgotten,
        privileged=request.replica_id >= 0, now_ms=ctx.broker.clock.monotonic_ms())
    if context.error != ErrorCode.none:
        return Response(_parts(encode_fetch_response(version, correlation_id, [], error_code=context.error.value)),
                        error_codes=[context.error])
    wanted = [FetchRequestPartition(topic=tp[0], partition=tp[1], fetch_offset=r.fetch_offset, max_bytes=r.max_bytes,
                                    current_leader_epoch=r.current_leader_epoch, last_fetched_epoch=r.last_fetched_epoch,
                                    log_start_offset=r.log_start_offset)
              for tp, r in context.partitions]
    wanted, refused = authorization.split_fetch(ctx, request.replica_id, wanted)
    max_wait_ms = int(request.max_wait.total_seconds() * 1000)
    if refused and not wanted:
        max_wait_ms = 0  # nothing to wait for: answer the refusals at once
    read_committed = getattr(request, "isolation_level", 0) == 1 and request.replica_id < 0
    manager = ctx.broker.replica_manager
    replica_id = request.replica_id
    results, op = manager.fetch_or_delay(
        wanted,
        max_wait_ms=max_wait_ms,
        min_bytes=request.min_bytes,
        max_bytes=getattr(request, "max_bytes", 0x7FFFFFFF),
        committed_only=replica_id < 0,
        replica_id=replica_id,  # >= 0: a follower's fetch (reads to the log end, moves the ISR)
        read_committed=read_committed,
    )
    if op is not None:
        # A long poll: answered from the DelayedFetch's completion, in request order (the
        # connection writes it there, or leaves large file slices to its writer task).
        return Deferred(op, lambda done: _response(version, correlation_id, context, read_committed,
                                                   refused + manager.fetch_completed(replica_id, done)))
    return _response(version, correlation_id, context, read_committed, refused + results)


def _response(version: int, correlation_id: int, context: FetchContext, read_committed: bool,
              results: list[FetchResult]) -> Response:
    topics: list[TopicPayload] = []
    by_name: dict[str, TopicPayload] = {}
    for r in results:
        if not context.keep((r.topic, r.partition), PartitionAnswer(
                r.error.value, r.high_watermark, r.last_stable_offset, r.log_start_offset, r.size > 0,
                r.diverging_epoch is not None)):
            continue
        payload = by_name.get(r.topic)
        if payload is None:
            payload = by_name[r.topic] = TopicPayload(r.topic)
            topics.append(payload)
        payload.partitions.append(PartitionPayload(
            partition=r.partition,
            error_code=r.error.value,
            high_watermark=r.high_watermark,
            last_stable_offset=r.last_stable_offset,
            log_start_offset=r.log_start_offset,
            aborted=r.aborted if read_committed else None,  # Kafka: a list (maybe empty) for READ_COMMITTED
            records=r.records,
            diverging_epoch=r.diverging_epoch,
        ))
    return Response(_parts(encode_fetch_response(version, correlation_id, topics, session_id=context.session_id)),
                    error_codes=[ErrorCode.none, *(r.error for r in results)])


def _parts(parts: list[bytes | Sized]) -> list[bytes | FileSlice]:
    """The encoder types record data as anything with a size; what this handler gives it
    is always bytes or a segment's FileSlice."""
    return cast(list[bytes | FileSlice], parts)

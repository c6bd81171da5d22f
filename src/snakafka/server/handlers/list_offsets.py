"""Offset lookups: ListOffsets (earliest (-2), latest (-1: the high watermark, or the last
stable offset for isolation_level 1, READ_COMMITTED), max timestamp (-3) or first
offset at a time) and OffsetForLeaderEpoch (where a leader epoch ended, from the leader
epoch cache: how consumers and followers detect a log truncated under them, KIP-101/320)."""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode
from kio.static.primitive import i32, i64

from snakafka.protocol.errors import KafkaError
from snakafka.server import authorization
from snakafka.server.context import ZERO, RequestContext, build

LATEST = -1
EARLIEST = -2
MAX_TIMESTAMP = -3


async def handle_list_offsets(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    replica_manager = ctx.broker.replica_manager
    read_committed = getattr(request, "isolation_level", 0) == 1
    refused = authorization.denied(ctx, authorization.Op.DESCRIBE, authorization.TOPIC, (t.name for t in request.topics))
    topics = []
    for t in request.topics:
        partitions = []
        for p in t.partitions:
            error = ErrorCode.none
            timestamp, offset, epoch = -1, -1, -1
            try:
                if t.name in refused:
                    raise KafkaError(ErrorCode.topic_authorization_failed)
                part = replica_manager.leader_partition(t.name, p.partition_index, getattr(p, "current_leader_epoch", -1))
                log_ = part.log
                epoch = part.leader_epoch
                # Kafka's lastFetchableOffset: what a consumer of this isolation level may read
                fetchable = part.last_stable_offset if read_committed else part.high_watermark
                if p.timestamp == LATEST:
                    offset = fetchable if request.replica_id < 0 else log_.log_end_offset
                elif p.timestamp == EARLIEST:
                    offset = log_.log_start_offset
                elif p.timestamp == MAX_TIMESTAMP:
                    found = log_.max_timestamp_and_offset()
                    if found is not None:
                        offset, timestamp = found
                elif p.timestamp < 0:
                    error = ErrorCode.unsupported_version  # -4/-5: tiered-storage offsets we do not have
                else:
                    found = log_.offset_for_timestamp(p.timestamp)
                    if found is not None and found[0] < fetchable:
                        offset, timestamp = found
            except KafkaError as exc:
                error = exc.code
            partitions.append(build(
                schema.ListOffsetsPartitionResponse,
                partition_index=i32(p.partition_index),
                error_code=error,
                timestamp=i64(timestamp),
                offset=i64(offset),
                leader_epoch=i32(epoch),
            ))
        topics.append(build(schema.ListOffsetsTopicResponse, name=t.name, partitions=tuple(partitions)))
    return build(schema.ListOffsetsResponse, throttle_time=ZERO, topics=tuple(topics))


async def handle_offset_for_leader_epoch(ctx: RequestContext, request: Any) -> Any:
    """Kafka's answer from the leader: for the largest epoch <= the one asked, where it
    ended (the next epoch's start offset, or the log end offset for the latest); -1 / -1
    when no such epoch is known. current_leader_epoch fences stale callers."""
    schema = ctx.schema
    replica_manager = ctx.broker.replica_manager
    refused = authorization.offset_for_leader_epoch_denied(ctx, [t.topic for t in request.topics])
    topics = []
    for t in request.topics:
        partitions = []
        for p in t.partitions:
            error = ErrorCode.none
            epoch, end_offset = -1, -1
            try:
                if t.topic in refused:
                    raise KafkaError(ErrorCode.topic_authorization_failed)
                part = replica_manager.leader_partition(t.topic, p.partition, p.current_leader_epoch)
                epoch, end_offset = part.log.end_offset_for_epoch(p.leader_epoch)
            except KafkaError as exc:
                error = exc.code
            partitions.append(build(schema.EpochEndOffset, error_code=error, partition=i32(p.partition),
                                    leader_epoch=i32(epoch), end_offset=i64(end_offset)))
        topics.append(build(schema.OffsetForLeaderTopicResult, topic=t.topic, partitions=tuple(partitions)))
    return build(schema.OffsetForLeaderEpochResponse, throttle_time=ZERO, topics=tuple(topics))

"""Transaction APIs: AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit and
WriteTxnMarkers (KIP-98), and the admin reads DescribeTransactions and ListTransactions
(KIP-664).

The first three go to the transaction coordinator, TxnOffsetCommit to the group
coordinator, WriteTxnMarkers (from the transaction coordinator of another broker) to
server/txn_markers.py. Clients of versions before PRODUCER_FENCED existed (v0-1 of
AddPartitionsToTxn, AddOffsetsToTxn and EndTxn; v0-3 of InitProducerId, see
producer.py) get INVALID_PRODUCER_EPOCH instead, as Kafka's KafkaApis maps it.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from kio.schema.errors import ErrorCode
from kio.schema.types import ProducerId
from kio.static.primitive import i16, i32, i32Timedelta, i64

from snakafka.cluster.model import OFFSETS_TOPIC
from snakafka.coordinator.transaction.state import TxnState
from snakafka.protocol.control import TxnMarker
from snakafka.server import authorization
from snakafka.server.authorization import GROUP, TOPIC, TXN_ID, Op
from snakafka.server.context import ZERO, RequestContext, build
from snakafka.server.handlers.groups import requested_offsets, unknown_partitions
from snakafka.server.txn_markers import write_markers_locally

log = logging.getLogger(__name__)



def fenced_for(version: int, error: ErrorCode, first_version: int = 2) -> ErrorCode:
    """PRODUCER_FENCED for clients that know it, else INVALID_PRODUCER_EPOCH."""
    if error == ErrorCode.producer_fenced and version < first_version:
        return ErrorCode.invalid_producer_epoch
    return error


async def handle_add_partitions_to_txn(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    wanted = [(t.name, int(p)) for t in request.v3_and_below_topics for p in t.partitions]
    unknown = unknown_partitions(ctx, wanted)
    errors: dict[tuple[str, int], ErrorCode]
    refused: set[str] = set()
    txn_allowed = authorization.allowed(ctx, Op.WRITE, TXN_ID, request.v3_and_below_transactional_id)
    if txn_allowed:
        refused = authorization.denied(ctx, Op.WRITE, TOPIC, (t for t, _ in wanted))
    if not txn_allowed:
        errors = dict.fromkeys(wanted, ErrorCode.transactional_id_authorization_failed)
    elif refused or unknown:
        # KafkaApis: the unauthorized TOPIC_AUTHORIZATION_FAILED, the unknown
        # UNKNOWN_TOPIC_OR_PARTITION, the rest not attempted
        errors = {tp: ErrorCode.topic_authorization_failed if tp[0] in refused else
                  ErrorCode.unknown_topic_or_partition if tp in unknown else ErrorCode.operation_not_attempted
                  for tp in wanted}
    else:
        error = await ctx.broker.txn.add_partitions(request.v3_and_below_transactional_id,
                                                    request.v3_and_below_producer_id,
                                                    request.v3_and_below_producer_epoch, wanted)
        errors = dict.fromkeys(wanted, fenced_for(ctx.version, error))
    topics: dict[str, list[Any]] = {}
    for (topic, partition), code in errors.items():
        topics.setdefault(topic, []).append(build(schema.AddPartitionsToTxnPartitionResult,
                                                  partition_index=i32(partition), partition_error_code=code))
    return build(schema.AddPartitionsToTxnResponse, throttle_time=ZERO, results_by_topic_v3_and_below=tuple(
        build(schema.AddPartitionsToTxnTopicResult, name=name, results_by_partition=tuple(parts))
        for name, parts in topics.items()))


async def handle_add_offsets_to_txn(ctx: RequestContext, request: Any) -> Any:
    if not authorization.allowed(ctx, Op.WRITE, TXN_ID, request.transactional_id):
        return build(ctx.schema.AddOffsetsToTxnResponse, throttle_time=ZERO,
                     error_code=ErrorCode.transactional_id_authorization_failed)
    if not authorization.allowed(ctx, Op.READ, GROUP, request.group_id):
        return build(ctx.schema.AddOffsetsToTxnResponse, throttle_time=ZERO, error_code=ErrorCode.group_authorization_failed)
    partition = ctx.broker.groups.partition_for(request.group_id)
    error = await ctx.broker.txn.add_partitions(request.transactional_id, request.producer_id,
                                                request.producer_epoch, [(OFFSETS_TOPIC, partition)])
    return build(ctx.schema.AddOffsetsToTxnResponse, throttle_time=ZERO, error_code=fenced_for(ctx.version, error))


async def handle_end_txn(ctx: RequestContext, request: Any) -> Any:
    if not authorization.allowed(ctx, Op.WRITE, TXN_ID, request.transactional_id):
        return build(ctx.schema.EndTxnResponse, throttle_time=ZERO, error_code=ErrorCode.transactional_id_authorization_failed)
    error = await ctx.broker.txn.end_txn(request.transactional_id, request.producer_id, request.producer_epoch,
                                         request.committed)
    return build(ctx.schema.EndTxnResponse, throttle_time=ZERO, error_code=fenced_for(ctx.version, error))


async def handle_txn_offset_commit(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    offsets = requested_offsets(request)
    if not authorization.allowed(ctx, Op.WRITE, TXN_ID, request.transactional_id):
        errors = dict.fromkeys(offsets, ErrorCode.transactional_id_authorization_failed)
    else:
        errors = authorization.offset_commit_errors(ctx, request.group_id, offsets)
    errors.update({tp: ErrorCode.unknown_topic_or_partition for tp in unknown_partitions(ctx, offsets) if tp not in errors})
    known = {tp: commit for tp, commit in offsets.items() if tp not in errors}
    if known:
        errors.update(await ctx.broker.groups.commit_txn_offsets(
            request.group_id, request.producer_id, request.producer_epoch, getattr(request, "member_id", ""),
            getattr(request, "group_instance_id", None), getattr(request, "generation_id", -1), known))
    topics: dict[str, list[Any]] = {}
    for (topic, partition), code in errors.items():
        topics.setdefault(topic, []).append(build(schema.TxnOffsetCommitResponsePartition,
                                                  partition_index=i32(partition), error_code=code))
    return build(schema.TxnOffsetCommitResponse, throttle_time=ZERO, topics=tuple(
        build(schema.TxnOffsetCommitResponseTopic, name=name, partitions=tuple(parts))
        for name, parts in topics.items()))


async def handle_write_txn_markers(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    results = []
    cluster_action = authorization.cluster_allowed(ctx, Op.CLUSTER_ACTION)
    for m in request.markers:
        marker = TxnMarker(int(m.producer_id), int(m.producer_epoch), int(m.coordinator_epoch),
                           bool(m.transaction_result))
        partitions = [(t.name, int(p)) for t in m.topics for p in t.partition_indexes]
        written = await write_markers_locally(ctx.broker, marker, partitions) if cluster_action else \
            dict.fromkeys(partitions, ErrorCode.cluster_authorization_failed)
        topics: dict[str, list[Any]] = {}
        for topic, p in partitions:
            topics.setdefault(topic, []).append(build(
                schema.WritableTxnMarkerPartitionResult, partition_index=i32(p),
                error_code=written.get((topic, p), ErrorCode.unknown_server_error)))
        results.append(build(schema.WritableTxnMarkerResult, producer_id=i64(marker.producer_id), topics=tuple(
            build(schema.WritableTxnMarkerTopicResult, name=name, partitions=tuple(parts))
            for name, parts in topics.items())))
    return build(schema.WriteTxnMarkersResponse, markers=tuple(results))


def _datetime(ms: int) -> datetime.datetime:
    """A Kafka timestamp (-1: none) as kio's datetime_i64 field wants it."""
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)


async def handle_describe_transactions(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    states = []
    for tid in request.transactional_ids:
        error, md = ctx.broker.txn.describe(tid)
        if not authorization.allowed(ctx, Op.DESCRIBE, TXN_ID, tid):
            error, md = ErrorCode.transactional_id_authorization_failed, None
        topics: dict[str, list[int]] = {}
        visible = authorization.denied(ctx, Op.DESCRIBE, TOPIC, {t for t, _ in md.partitions} if md else (),
                                       log_if_denied=False)
        for topic, p in sorted(tp for tp in (md.partitions if md is not None else ()) if tp[0] not in visible):
            topics.setdefault(topic, []).append(p)
        states.append(build(
            schema.TransactionState, error_code=error, transactional_id=tid,
            transaction_state=md.state.kafka_name if md is not None else "",
            transaction_timeout=i32Timedelta.parse(datetime.timedelta(milliseconds=md.timeout_ms if md else 0)),
            # an error answer keeps the schema's defaults (0), as Kafka's does
            transaction_start_time=_datetime(md.start_ms if md is not None else 0),
            producer_id=ProducerId(md.producer_id if md is not None else 0),
            producer_epoch=i16(md.producer_epoch if md is not None else 0),
            topics=tuple(build(schema.TopicData, topic=t, partitions=tuple(i32(p) for p in ps))
                         for t, ps in topics.items())))
    return build(schema.DescribeTransactionsResponse, throttle_time=ZERO, transaction_states=tuple(states))


async def handle_list_transactions(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    known = {state.kafka_name for state in TxnState}
    wanted = set(request.state_filters)
    error, found = ctx.broker.txn.list_transactions(
        wanted & known, {int(p) for p in request.producer_id_filters}, int(getattr(request, "duration_filter", -1)))
    if wanted and not wanted & known:
        found = []  # only unknown states asked for: nothing matches
    found = [md for md in found
             if authorization.allowed(ctx, Op.DESCRIBE, TXN_ID, md.transactional_id, log_if_denied=False)]
    return build(schema.ListTransactionsResponse, throttle_time=ZERO, error_code=error,
                 unknown_state_filters=tuple(sorted(wanted - known)), transaction_states=tuple(
                     build(schema.TransactionState, transactional_id=md.transactional_id,
                           producer_id=ProducerId(md.producer_id), transaction_state=md.state.kafka_name)
                     for md in found))

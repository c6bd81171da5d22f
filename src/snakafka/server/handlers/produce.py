"""Produce: append record batches on partition leaders and answer per acks.

The records field is passed down as bytes: the log validates the batches (headers, CRCs,
and the records inside, snakafka.protocol.validation) and rewrites base offsets; nothing
here looks at individual records. A refused batch's per-record errors go back in
record_errors (Produce v8+), its message in error_message.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from kio.schema.errors import ErrorCode
from kio.static.primitive import i32, i64

from snakafka.cluster.model import INTERNAL_TOPICS
from snakafka.replication.replica_manager import ProduceResult
from snakafka.server import authorization
from snakafka.server.context import ZERO, RequestContext, build
from snakafka.server.response import Deferred

log = logging.getLogger(__name__)


async def handle_produce(ctx: RequestContext, request: Any) -> Any:
    broker = ctx.broker
    acks = request.acks
    entries: dict[tuple[str, int], bytes] = {}
    early: dict[tuple[str, int], ErrorCode] = authorization.produce_errors(ctx, request)
    if acks not in (0, 1, -1):
        for t in request.topic_data:
            for p in t.partition_data:
                early.setdefault((t.name, p.index), ErrorCode.invalid_required_acks)
    else:
        for t in request.topic_data:
            for p in t.partition_data:
                tp = (t.name, p.index)
                if tp in early:
                    continue
                if p.records is None or len(p.records) == 0:
                    early[tp] = ErrorCode.invalid_record
                elif t.name in INTERNAL_TOPICS:
                    early[tp] = ErrorCode.invalid_topic_exception
                else:
                    entries[tp] = p.records
    # acks=-1 waits (up to the request's timeout) for the ISR to have the records: the
    # append happens now, the answer is Deferred until the DelayedProduce completes, and
    # the connection goes on with its next produce requests meanwhile.
    timeout_ms = int(request.timeout.total_seconds() * 1000)
    manager = broker.replica_manager
    results, op = manager.append_and_delay(acks, entries, timeout_ms) if entries else ({}, None)
    if acks == 0:
        return None
    if op is not None and not op.completed:
        return Deferred(op, lambda errors: _response(ctx, request, early, manager.finish_produce(results, errors)))
    if op is not None:
        results = manager.finish_produce(results, op.result or {})
    return _response(ctx, request, early, results)


def _response(ctx: RequestContext, request: Any, early: dict[tuple[str, int], ErrorCode],
              results: dict[tuple[str, int], ProduceResult]) -> Any:
    schema = ctx.schema
    topics: dict[str, list[Any]] = {}
    for t in request.topic_data:
        for p in t.partition_data:
            tp = (t.name, p.index)
            record_errors: tuple[tuple[int, str], ...] = ()
            if tp in early:
                error, base, append_time, start, message = early[tp], -1, -1, -1, None
            else:
                r = results[tp]
                error, base, append_time, start, message = r.error, r.base_offset, r.log_append_time, r.log_start_offset, r.message
                record_errors = r.record_errors
            topics.setdefault(t.name, []).append(build(
                schema.PartitionProduceResponse,
                index=i32(p.index),
                error_code=error,
                base_offset=i64(base),
                log_append_time=None if append_time < 0 else datetime.datetime.fromtimestamp(append_time / 1000, datetime.UTC),
                log_start_offset=i64(start),
                record_errors=tuple(build(schema.BatchIndexAndErrorMessage, batch_index=i32(index),
                                          batch_index_error_message=text) for index, text in record_errors)
                if record_errors and hasattr(schema, "BatchIndexAndErrorMessage") else (),
                error_message=message,
            ))
    return build(
        schema.ProduceResponse,
        responses=tuple(build(schema.TopicProduceResponse, name=name, partition_responses=tuple(parts)) for name, parts in topics.items()),
        throttle_time=ZERO,
    )

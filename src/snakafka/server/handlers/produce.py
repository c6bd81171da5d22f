"""Produce: append record batches on partition leaders and answer per acks.

The records field is passed down as bytes: the log validates the batches (headers, CRCs,
and the records inside, snakafka.protocol.validation) and rewrites base offsets; nothing
here looks at individual records. A refused batch's per-record errors go back in
record_errors (Produce v8+), its message in error_message.
"""

from __future__ import annotations

import logging
from typing import Any

from kio.schema.errors import ErrorCode

from snakafka.cluster.model import INTERNAL_TOPICS
from snakafka.protocol.produce_response import (
    PartitionProduceResult,
    encode_produce_response,
)
from snakafka.replication.replica_manager import ProduceResult
from snakafka.server import authorization
from snakafka.server.context import RequestContext
from snakafka.server.response import Deferred, Response

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
              results: dict[tuple[str, int], ProduceResult]) -> Response:
    """The answer, encoded by hand (protocol/produce_response.py: kio took ~100 us of the
    acks=all round trip); its error codes ride along for the request metrics."""
    topics: dict[str, list[PartitionProduceResult]] = {}
    codes: list[ErrorCode] = []
    record_errors_served = ctx.version >= 8
    for t in request.topic_data:
        for p in t.partition_data:
            tp = (t.name, p.index)
            if tp in early:
                error = early[tp]
                answer = PartitionProduceResult(p.index, error.value)
            else:
                r = results[tp]
                error = r.error
                answer = PartitionProduceResult(
                    p.index, error.value, r.base_offset, r.log_append_time, r.log_start_offset,
                    r.record_errors if record_errors_served else (), r.message)
            codes.append(error)
            topics.setdefault(t.name, []).append(answer)
    data = encode_produce_response(ctx.version, ctx.header.correlation_id, list(topics.items()))
    return Response([data], error_codes=codes)

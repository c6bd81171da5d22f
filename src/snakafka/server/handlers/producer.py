"""InitProducerId: idempotent producers get a fresh producer id; transactional producers
(a transactional id) go to the transaction coordinator, which bumps the epoch of an
existing id (fencing older instances) or hands out a new producer id."""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode
from kio.static.primitive import i16, i64

from snakafka.server import authorization
from snakafka.server.context import ZERO, RequestContext, build


async def handle_init_producer_id(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    refusal = authorization.init_producer_id_refusal(ctx, request.transactional_id)
    if refusal is not None:
        return build(schema.InitProducerIdResponse, throttle_time=ZERO, error_code=refusal,
                     producer_id=i64(-1), producer_epoch=i16(-1))
    if request.transactional_id is not None:
        expected = None
        if getattr(request, "producer_id", -1) >= 0:
            expected = (int(request.producer_id), int(request.producer_epoch))  # KIP-360, v3+
        timeout_ms = int(request.transaction_timeout.total_seconds() * 1000)
        result = await ctx.broker.txn.init_producer_id(request.transactional_id, timeout_ms, expected)
        error = result.error
        if error == ErrorCode.producer_fenced and ctx.version < 4:
            error = ErrorCode.invalid_producer_epoch  # older clients do not know PRODUCER_FENCED
        return build(schema.InitProducerIdResponse, throttle_time=ZERO, error_code=error,
                     producer_id=i64(result.producer_id), producer_epoch=i16(result.producer_epoch))
    if getattr(request, "producer_id", -1) >= 0:
        # KIP-360: a producer may bump its own epoch after an error.
        producer_id, epoch = request.producer_id, request.producer_epoch + 1
        if epoch > 32767:
            producer_id, epoch = await ctx.broker.producer_ids.generate(), 0
    else:
        producer_id, epoch = await ctx.broker.producer_ids.generate(), 0
    return build(schema.InitProducerIdResponse, throttle_time=ZERO, error_code=ErrorCode.none,
                 producer_id=i64(producer_id), producer_epoch=i16(epoch))

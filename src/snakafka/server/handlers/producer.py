"""InitProducerId for idempotent producers (transactional ids come with transactions)."""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode
from kio.static.primitive import i16, i64

from snakafka.server.context import ZERO, RequestContext, build


async def handle_init_producer_id(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    if request.transactional_id is not None:
        return build(schema.InitProducerIdResponse, throttle_time=ZERO, error_code=ErrorCode.transactional_id_authorization_failed,
                     producer_id=i64(-1), producer_epoch=i16(-1))
    if getattr(request, "producer_id", -1) >= 0:
        # KIP-360: a producer may bump its own epoch after an error.
        producer_id, epoch = request.producer_id, request.producer_epoch + 1
        if epoch > 32767:
            producer_id, epoch = await ctx.broker.producer_ids.generate(), 0
    else:
        producer_id, epoch = await ctx.broker.producer_ids.generate(), 0
    return build(schema.InitProducerIdResponse, throttle_time=ZERO, error_code=ErrorCode.none,
                 producer_id=i64(producer_id), producer_epoch=i16(epoch))

"""Controlled shutdown, the controller's side: a broker about to stop asks to be moved off
every leadership and ISR before it closes.

Kafka's ZooKeeper mode does this with ControlledShutdown (api key 7), sent to the active
controller, answered once leaders have moved, with the partitions it could not move yet.
kio generates its types from current Kafka's message schemas, where ControlledShutdown
went away with ZooKeeper in Kafka 4.0; its KRaft successor carries the same request and
answer: BrokerHeartbeat (api key 63) with wantShutDown set, answered with shouldShutDown
once the broker leads nothing that could move. So snakafka uses BrokerHeartbeat, with
ZooKeeper-mode semantics: only the active controller answers (others: NOT_CONTROLLER,
and the broker finds the controller again and retries), the broker epoch is not checked
(snakafka's broker registrations carry none), and a heartbeat without wantShutDown
changes nothing (liveness is the broker's ZooKeeper session).

Why a request and not a znode the controller watches: the decision belongs to the
controller, and a request gives the stopping broker an answer (what is still led, so
whether to retry) in one round trip; the client is the one followers already use.
"""

from __future__ import annotations

import logging
from typing import Any

from kio.schema.errors import ErrorCode

from snakafka.protocol.errors import KafkaError
from snakafka.server import authorization
from snakafka.server.context import ZERO, RequestContext, build

log = logging.getLogger(__name__)


async def handle_broker_heartbeat(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    broker_id = int(request.broker_id)
    if not authorization.cluster_allowed(ctx, authorization.Op.CLUSTER_ACTION):
        return build(schema.BrokerHeartbeatResponse, throttle_time=ZERO, error_code=ErrorCode.cluster_authorization_failed,
                     is_caught_up=False, is_fenced=False, should_shut_down=False)
    if not request.want_shut_down:
        return build(schema.BrokerHeartbeatResponse, throttle_time=ZERO, error_code=ErrorCode.none,
                     is_caught_up=True, is_fenced=False, should_shut_down=False)
    try:
        remaining = await ctx.broker.controller.controlled_shutdown(broker_id)
    except KafkaError as exc:
        return build(schema.BrokerHeartbeatResponse, throttle_time=ZERO, error_code=exc.code,
                     is_caught_up=False, is_fenced=False, should_shut_down=False)
    if remaining:
        log.info("controlled shutdown of broker %d: %d partitions still led by it, e.g. %s",
                 broker_id, len(remaining), ", ".join(f"{t}-{p}" for t, p in remaining[:5]))
    return build(schema.BrokerHeartbeatResponse, throttle_time=ZERO, error_code=ErrorCode.none,
                 is_caught_up=True, is_fenced=False, should_shut_down=not remaining)

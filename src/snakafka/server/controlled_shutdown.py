"""Kafka's controlled shutdown (controlled.shutdown.*), the broker's side of it.

Before a clean stop in a cluster, the broker asks the active controller to move every
leadership it holds to another ISR member and to drop it from every ISR, then waits until
its own metadata shows it leads nothing that could move: producers see only retriable
NOT_LEADER errors and no acknowledged write depends on this broker. After
controlled.shutdown.max.retries failed attempts it stops anyway (its leaderships then move
when its ZooKeeper session ends). The controller's side is
cluster/controller_role.py (begin_controlled_shutdown).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from snakafka.client.connection import ConnectionClosed
from snakafka.client.security import AuthenticationError
from snakafka.cluster.controller_role import NO_CONTROLLER
from snakafka.protocol.errors import KafkaError

if TYPE_CHECKING:
    from snakafka.server.broker import Broker

log = logging.getLogger(__name__)


class ControlledShutdown:
    """One broker's controlled shutdown, run once by Broker.stop()."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def run(self) -> bool:
        """Kafka's KafkaServer.controlledShutdown: up to controlled.shutdown.max.retries
        attempts, controlled.shutdown.retry.backoff.ms apart, each asking the active
        controller (found anew each time: it may move) and then waiting for the metadata
        to show this broker leads nothing that could move. Listeners and the ZooKeeper
        session stay open meanwhile: clients keep being answered (NOT_LEADER as leadership
        leaves), and the controller sees this broker live but ineligible. True when it
        completed."""
        broker = self.broker
        config = broker.config
        attempts = max(config.controlled_shutdown_max_retries, 1)
        for attempt in range(1, attempts + 1):
            asked = broker.cache.controller_id
            try:
                if await self._ask_controller() and await self._wait_leading_nothing(5.0):
                    log.info("broker %d: controlled shutdown succeeded (attempt %d)", config.broker_id, attempt)
                    return True
            except (OSError, TimeoutError, ConnectionClosed, KafkaError, AuthenticationError) as exc:
                log.warning("broker %d: controlled shutdown attempt %d failed: %r", config.broker_id, attempt, exc)
            if attempt < attempts:
                log.info("broker %d: retrying controlled shutdown in %d ms", config.broker_id,
                         config.controlled_shutdown_retry_backoff_ms)
                await self._backoff_unless_controller_moves(asked, config.controlled_shutdown_retry_backoff_ms / 1000)
        log.warning("broker %d: controlled shutdown did not complete after %d attempts; stopping anyway "
                    "(leaders still here move when the ZooKeeper session ends)", config.broker_id, attempts)
        return False

    async def _backoff_unless_controller_moves(self, asked: int, backoff_s: float) -> None:
        """Sleep controlled.shutdown.retry.backoff.ms, cut short when another controller
        takes over (the one asked has just stopped, say, when a whole cluster stops at
        once): asking the new one at once is what the backoff would wait for anyway."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + backoff_s
        while loop.time() < deadline:
            await asyncio.sleep(min(0.1, max(deadline - loop.time(), 0)))
            if self.broker.cache.controller_id not in (asked, NO_CONTROLLER):
                return

    async def _ask_controller(self) -> bool:
        """One attempt: True when the controller reports this broker leads nothing movable."""
        broker = self.broker
        broker_id = broker.config.broker_id
        await broker.refresh_metadata()  # a fresh view of who the controller is
        controller = broker.cache.controller_id
        if controller == NO_CONTROLLER:
            log.info("broker %d: controlled shutdown: no controller at the moment", broker_id)
            return False
        if controller == broker_id:
            return not await broker.controller.controlled_shutdown(broker_id)
        info = broker.cache.brokers.get(controller)
        listener = broker.inter_broker.listener
        endpoint = info.endpoint(listener) if info is not None else None
        if endpoint is None:
            log.info("broker %d: controlled shutdown: controller %d has no %s endpoint", broker_id, controller, listener)
            return False
        # imported here: only a cluster's controlled shutdown asks another broker, and these weigh on every start
        from kio.schema.broker_heartbeat.v1.request import BrokerHeartbeatRequest
        from kio.schema.errors import ErrorCode as WireErrorCode
        from kio.schema.types import BrokerId
        from kio.static.primitive import i64

        request = BrokerHeartbeatRequest(broker_id=BrokerId(broker_id), broker_epoch=i64(-1), current_metadata_offset=i64(-1),
                                         want_fence=False, want_shut_down=True)
        async with broker.inter_broker.connection(endpoint.host, endpoint.port, client_id=f"broker-{broker_id}") as connection:
            response = await connection.send(request, timeout=30.0)
        if response.error_code != WireErrorCode.none:
            log.info("broker %d: controlled shutdown: controller %d answered %s", broker_id, controller,
                     response.error_code.name)
            return False
        if not response.should_shut_down:
            log.info("broker %d: controlled shutdown: controller %d could not move every leadership yet",
                     broker_id, controller)
        return bool(response.should_shut_down)

    async def _wait_leading_nothing(self, timeout_s: float) -> bool:
        """Wait until this broker's own metadata (and so its replica manager, now a
        follower there) shows it leads no partition that could move."""
        broker = self.broker
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            # The controller drops shutting-down brokers from every ISR, so a partition still
            # led here with another live ISR member is one whose move has not arrived yet.
            me, live = broker.config.broker_id, broker.cache.brokers
            led = [(name, p) for name, topic in broker.cache.topics.items() for p, state in topic.partitions.items()
                   if state.leader == me and any(r != me and r in live for r in state.isr)]
            if not led:
                return True
            if asyncio.get_running_loop().time() >= deadline:
                log.info("broker %d: controlled shutdown: still leading %d partitions", me, len(led))
                return False
            await asyncio.sleep(0.1)
            await broker.refresh_metadata()

"""Broker registration: the ephemeral /brokers/ids/<id>, as KafkaZkClient.registerBroker
writes it, with one difference from Kafka kept on purpose.

Kafka refuses to start while /brokers/ids/<id> exists under another session, even when
that session belongs to the same broker's previous run, killed a moment ago: its znode
lives on until ZooKeeper expires the session (zookeeper.session.timeout.ms), so a
supervisor restarting a crashed broker sees it exit once more. Here a newcomer waits
for such a registration to go, up to the session timeout (plus a grace for ZooKeeper's
expiry tick), with one log line saying why; a registration still there after that
belongs to a live broker, and the newcomer stops with Kafka's message.

Synchronous, over a started kazoo client: the store calls it in a worker thread.
"""

from __future__ import annotations

import logging
import threading
import time

# kazoo ships no type information.
from kazoo.client import KazooClient  # type: ignore[import-untyped]
from kazoo.exceptions import NodeExistsError, NoNodeError  # type: ignore[import-untyped]

from snakafka.cluster.store.zk_data import BROKER_IDS_PATH

log = logging.getLogger(__name__)

EXPIRY_GRACE_MS = 2000  # ZooKeeper expires sessions on its tick: allow for one or more ticks


class BrokerIdInUseError(Exception):
    """A live session holds /brokers/ids/<id>: Kafka refuses a duplicate broker id."""


def register_broker(client: KazooClient, broker_id: int, data: bytes, session_timeout_ms: int) -> None:
    """Create the ephemeral registration; wait out another session's (see the module's
    docstring); BrokerIdInUseError if it is still held after that."""
    path = f"{BROKER_IDS_PATH}/{broker_id}"
    deadline = time.monotonic() + (session_timeout_ms + EXPIRY_GRACE_MS) / 1000
    announced = False
    while True:
        try:
            client.create(path, data, ephemeral=True)
            return
        except NodeExistsError:
            pass
        gone = threading.Event()
        try:
            _, stat = client.get(path, watch=lambda _event, gone=gone: gone.set())
        except NoNodeError:
            continue  # gone between the create and the read: try again
        if stat.ephemeralOwner == client.client_id[0]:
            # Our own node (a create retried on the same session after a lost answer).
            client.set(path, data, version=stat.version)
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BrokerIdInUseError(
                f"Error while creating ephemeral at {path}, node already exists and owner "
                f"'{stat.ephemeralOwner}' does not match current session '{client.client_id[0]}'")
        if not announced:
            log.info("broker %d: %s is held by session 0x%x, maybe this broker's previous run that has not "
                     "expired yet; waiting up to %d ms for it to go", broker_id, path, stat.ephemeralOwner,
                     session_timeout_ms + EXPIRY_GRACE_MS)
            announced = True
        gone.wait(remaining)


__all__ = ["BrokerIdInUseError", "register_broker"]

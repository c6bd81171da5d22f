"""Controller election over ZooKeeper, as Kafka's ZooKeeper mode does it.

The controller is whoever holds the ephemeral /controller znode; /controller_epoch counts
controllers. A broker becomes controller with one transaction that creates /controller
and bumps /controller_epoch with a compare-and-set on its znode version
(KafkaZkClient.registerControllerAndIncrementControllerEpoch), so two brokers racing for
the role can never both win, and every new controller has a larger epoch than any before
it. When the controller's session ends, ZooKeeper deletes /controller and every broker,
watching it, tries again.

Synchronous functions over a started kazoo client: the store calls them in a worker
thread.
"""

from __future__ import annotations

import logging
import time

# kazoo ships no type information.
from kazoo.client import KazooClient  # type: ignore[import-untyped]
from kazoo.exceptions import (  # type: ignore[import-untyped]
    BadVersionError,
    NodeExistsError,
    NoNodeError,
)

from snakafka.cluster.model import ControllerEpoch
from snakafka.cluster.store.zk_data import (
    CONTROLLER_EPOCH_PATH,
    CONTROLLER_PATH,
    NO_CONTROLLER,
    controller_epoch_bytes,
    controller_json,
    first_failure,
    parse_controller,
    parse_controller_epoch,
)

log = logging.getLogger(__name__)

_MAX_ATTEMPTS = 100


def read_controller_id(client: KazooClient) -> int:
    """The broker id in /controller, or NO_CONTROLLER when there is none."""
    try:
        data, _ = client.get(CONTROLLER_PATH)
    except NoNodeError:
        return NO_CONTROLLER
    return parse_controller(data)


def read_controller_epoch(client: KazooClient) -> int:
    """The epoch in /controller_epoch (0 before the first controller)."""
    try:
        data, _ = client.get(CONTROLLER_EPOCH_PATH)
    except NoNodeError:
        return 0
    return parse_controller_epoch(data)


def register_controller(client: KazooClient, broker_id: int) -> ControllerEpoch | None:
    """Try to become controller: the new controller epoch (and the /controller_epoch
    version that fences the new controller's writes) if this session won, None if another
    broker is controller. Already holding /controller on this session (a retried attempt)
    counts as a win with the current epoch."""
    for _ in range(_MAX_ATTEMPTS):
        try:
            data, stat = client.get(CONTROLLER_EPOCH_PATH)
        except NoNodeError:
            # Kafka creates /controller_epoch with epoch 0 on the first election.
            try:
                client.create(CONTROLLER_EPOCH_PATH, controller_epoch_bytes(0))
            except NodeExistsError:
                pass
            continue
        epoch = parse_controller_epoch(data) + 1
        tx = client.transaction()
        tx.create(CONTROLLER_PATH, controller_json(broker_id, int(time.time() * 1000)), ephemeral=True)
        tx.set_data(CONTROLLER_EPOCH_PATH, controller_epoch_bytes(epoch), version=stat.version)
        results = tx.commit()
        failure = first_failure(results)
        if failure is None:
            return ControllerEpoch(epoch, stat.version + 1)
        if isinstance(failure, NodeExistsError):
            return _ours(client, broker_id)
        if isinstance(failure, BadVersionError):
            continue  # the epoch moved under us (a controller came and went): read it again
        raise failure
    raise RuntimeError("could not run the controller election: too much contention")


def _ours(client: KazooClient, broker_id: int) -> ControllerEpoch | None:
    """/controller exists: the current epoch if this session holds it, else None."""
    try:
        data, stat = client.get(CONTROLLER_PATH)
    except NoNodeError:
        return None  # it went away already; the watch will start another election
    if stat.ephemeralOwner == client.client_id[0] and parse_controller(data) == broker_id:
        epoch_data, epoch_stat = client.get(CONTROLLER_EPOCH_PATH)
        return ControllerEpoch(parse_controller_epoch(epoch_data), epoch_stat.version)
    return None



__all__ = ["NO_CONTROLLER", "read_controller_epoch", "read_controller_id", "register_controller"]

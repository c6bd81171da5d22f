"""Producer id blocks over ZooKeeper, as Kafka's ZkProducerIdManager hands them out.

/latest_producer_id_block holds the last block given to any broker; a broker takes the
next one with a compare-and-set on that znode's version, so two brokers never get
overlapping ids, and retries when another broker got there first.

A synchronous function over a started kazoo client: the store calls it in a worker
thread.
"""

from __future__ import annotations

import json

# kazoo ships no type information.
from kazoo.client import KazooClient  # type: ignore[import-untyped]
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError  # type: ignore[import-untyped]

from snakafka.cluster.store.zk_data import (
    MAX_PRODUCER_ID,
    PRODUCER_ID_BLOCK_PATH,
    encode_json,
)

MAX_CAS_ATTEMPTS = 1000


def allocate_block(client: KazooClient, broker_id: int, count: int) -> int:
    """The first id of a new block of `count` producer ids (chroot-relative paths, as the
    store's client is chrooted). RuntimeError when ids are exhausted or contention never
    lets up."""
    for _ in range(MAX_CAS_ATTEMPTS):
        try:
            data, stat = client.get(PRODUCER_ID_BLOCK_PATH)
        except NoNodeError:
            data, stat = b"", None
        first = int(json.loads(data)["block_end"]) + 1 if data else 0
        if first > MAX_PRODUCER_ID - count:
            raise RuntimeError("Have exhausted all producerIds.")
        block = encode_json({"version": 1, "broker": broker_id, "block_start": str(first),
                             "block_end": str(first + count - 1)})
        try:
            if stat is None:
                client.create(PRODUCER_ID_BLOCK_PATH, block)
            else:
                client.set(PRODUCER_ID_BLOCK_PATH, block, version=stat.version)
            return first
        except (BadVersionError, NodeExistsError):
            continue  # another broker took this block: read the new one and retry
    raise RuntimeError("could not allocate producer ids: too much contention")

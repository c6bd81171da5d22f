"""Dynamic broker configs in ZooKeeper, where Kafka's AdminZkClient keeps them:
/config/brokers/<id> (one broker's) and /config/brokers/<default> (cluster-wide), each a
ConfigEntityZNode, and a change notification in /config/changes after each write, which
every broker watches and answers by reading the configs again.

Synchronous functions over a started kazoo client: the store calls them in a worker
thread.
"""

from __future__ import annotations

import json

# kazoo ships no type information.
from kazoo.client import KazooClient  # type: ignore[import-untyped]
from kazoo.exceptions import NoNodeError  # type: ignore[import-untyped]

from snakafka.cluster.store.zk_data import (
    CONFIG_CHANGE_PREFIX,
    CONFIG_CHANGES_PATH,
    config_json,
    encode_json,
)

BROKER_CONFIGS_PATH = "/config/brokers"


def read_broker_configs(client: KazooClient) -> dict[str, dict[str, str]]:
    """Every entity's configs ("0", "<default>", ...), pipelining the reads."""
    try:
        entities = client.get_children(BROKER_CONFIGS_PATH)
    except NoNodeError:
        return {}
    pending = {e: client.get_async(f"{BROKER_CONFIGS_PATH}/{e}") for e in entities}
    result: dict[str, dict[str, str]] = {}
    for entity, request in pending.items():
        try:
            data, _ = request.get()
        except NoNodeError:
            continue
        configs = (json.loads(data).get("config") or {}) if data else {}
        if configs:
            result[entity] = {str(k): str(v) for k, v in configs.items()}
    return result


def write_broker_configs(client: KazooClient, entity: str, configs: dict[str, str]) -> None:
    """AdminZkClient.changeBrokerConfig: set the entity's znode (even to no config, as Kafka
    does) and post the change notification, in one transaction."""
    path = f"{BROKER_CONFIGS_PATH}/{entity}"
    client.ensure_path(BROKER_CONFIGS_PATH)
    stat = client.exists(path)
    tx = client.transaction()
    if stat is None:
        tx.create(path, config_json(configs))
    else:
        tx.set_data(path, config_json(configs))
    tx.create(f"{CONFIG_CHANGES_PATH}/{CONFIG_CHANGE_PREFIX}",
              encode_json({"version": 2, "entity_path": f"brokers/{entity}"}), sequence=True)
    results = tx.commit()
    failure = next((r for r in results if isinstance(r, Exception)), None)
    if failure is not None:
        raise failure

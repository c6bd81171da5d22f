"""SCRAM credentials in ZooKeeper, where Kafka's ZooKeeper mode keeps them.

    /config/users/<sanitized user>   {"version":1,"config":{"SCRAM-SHA-256":"salt=...,stored_key=...,server_key=...,iterations=8192"}}
    /config/changes/config_change_<seq>   {"version":2,"entity_path":"users/<sanitized user>"}

as AdminZkClient.changeConfigs(ConfigType.User, ...) writes them (kafka-configs.sh
--zookeeper too), so credentials made by Kafka's tools work here and the other way round.
User names are sanitized as Kafka's Sanitizer does (URL-encoded, '*' as %2A). Brokers
read the znode at each SCRAM authentication instead of caching it, so a change applies
to the next connection of every broker at once.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError  # type: ignore[import-untyped]

from snakafka.cluster.store.zk_data import (
    CONFIG_CHANGE_PREFIX,
    CONFIG_CHANGES_PATH,
    MAX_CAS_ATTEMPTS,
    config_json,
    encode_json,
)

if TYPE_CHECKING:
    from snakafka.cluster.store.zookeeper import ZooKeeperMetadataStore

USERS_PATH = "/config/users"


def sanitize(user: str) -> str:
    """Kafka's Sanitizer.sanitize: URL encoding (space as %20), '*' as %2A, '~' as %7E."""
    return quote(user, safe="-_.").replace("~", "%7E")


def _read(client: Any, user: str, root: str = "") -> tuple[dict[str, str], int | None]:
    try:
        data, stat = client.get(f"{root}{USERS_PATH}/{sanitize(user)}")
    except NoNodeError:
        return {}, None
    config = (json.loads(data).get("config") or {}) if data else {}
    return {str(k): str(v) for k, v in config.items()}, stat.version


class ZkScramCredentials:
    """The ScramCredentialStore of a cluster, over the ZooKeeper store's session."""

    def __init__(self, store: ZooKeeperMetadataStore) -> None:
        self._store = store

    async def user_credentials(self, user: str) -> dict[str, str]:
        config, _ = await self._store._call(_read, self._store.client, user)
        return {k: v for k, v in config.items() if k.startswith("SCRAM-")}

    async def all_user_credentials(self) -> dict[str, dict[str, str]]:
        return await self._store._call(self._all_sync)

    def _all_sync(self) -> dict[str, dict[str, str]]:
        client = self._store.client
        try:
            children = client.get_children(USERS_PATH)
        except NoNodeError:
            return {}
        result = {}
        for child in sorted(children):
            config, _ = _read(client, unquote(child))
            creds = {k: v for k, v in config.items() if k.startswith("SCRAM-")}
            if creds:
                result[unquote(child)] = creds
        return result

    async def alter_user_credentials(self, user: str, upsert: dict[str, str], delete: list[str]) -> None:
        await self._store._call(alter_user_credentials_sync, self._store.client, user, upsert, delete)


def alter_user_credentials_sync(client: Any, user: str, upsert: dict[str, str], delete: list[str], root: str = "") -> None:
    """Read-modify-write of the user's config znode (other keys, quotas say, kept), with a
    config change notification, retried on a concurrent writer. Also how a new cluster's
    inter-broker user is made before its brokers start (kafka-configs.sh --zookeeper);
    `root` is the chroot for a client opened without one."""
    path = f"{root}{USERS_PATH}/{sanitize(user)}"
    for _ in range(MAX_CAS_ATTEMPTS):
        config, version = _read(client, user, root)
        for mechanism in delete:
            config.pop(mechanism, None)
        config.update(upsert)
        try:
            if version is None:
                client.create(path, config_json(config), makepath=True)
            else:
                client.set(path, config_json(config), version=version)
        except (BadVersionError, NodeExistsError):
            continue
        client.create(f"{root}{CONFIG_CHANGES_PATH}/{CONFIG_CHANGE_PREFIX}",
                      encode_json({"version": 2, "entity_path": f"users/{sanitize(user)}"}), sequence=True, makepath=True)
        return
    raise RuntimeError(f"could not alter the credentials of {user}: too much contention")

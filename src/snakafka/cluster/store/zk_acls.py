"""ACLs over ZooKeeper, in the znodes and JSON of Kafka's AclAuthorizer (ZkData.scala):

    /kafka-acl/<ResourceType>/<name>                      literal patterns (and "*")
    /kafka-acl-extended/prefixed/<ResourceType>/<name>    prefixed patterns
      {"version":1,"acls":[{"principal":"User:alice","permissionType":"Allow",
                            "operation":"Read","host":"*"}]}
    /kafka-acl-changes/acl_changes_<seq>                  "TOPIC:<name>" after a literal change
    /kafka-acl-extended-changes/acl_changes_<seq>         {"version":1,"resourceType":"TOPIC",
                                                            "name":..,"patternType":"PREFIXED"}

A resource's znode is written with a compare-and-set on its version (another broker may
update the same resource at once) together with its change notification, in one
transaction; an empty ACL set deletes the znode. Every broker watches both change queues
and reloads its ACL cache, as Kafka's brokers do; notifications older than 15 minutes are
removed by the next writer (Kafka's ZkNodeChangeNotificationListener purges them likewise).

`ZkAcls` is the ACL part of ZooKeeperMetadataStore, which holds one (kept here so
zookeeper.py stays one idea); the sync functions run in worker threads, watches on
kazoo's threads.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

# kazoo ships no type information.
from kazoo.client import KazooClient  # type: ignore[import-untyped]
from kazoo.exceptions import NoNodeError  # type: ignore[import-untyped]
from kazoo.recipe.watchers import ChildrenWatch  # type: ignore[import-untyped]

from snakafka.cluster.store.base import AclChange, AclEntry, AclResource
from snakafka.cluster.store.zk_data import MAX_CAS_ATTEMPTS, encode_json

log = logging.getLogger(__name__)

_T = TypeVar("_T")

LITERAL_ACL_PATH = "/kafka-acl"
EXTENDED_ACL_PATH = "/kafka-acl-extended"
LITERAL_CHANGES_PATH = "/kafka-acl-changes"
EXTENDED_CHANGES_PATH = "/kafka-acl-extended-changes"
CHANGE_PREFIX = "acl_changes_"
NOTIFICATION_MAX_AGE_MS = 15 * 60 * 1000  # Kafka's changeExpirationMs
ACL_PATHS = (LITERAL_ACL_PATH, f"{EXTENDED_ACL_PATH}/prefixed", LITERAL_CHANGES_PATH, EXTENDED_CHANGES_PATH)

# Kafka's Java enum names of resource types (change notifications use those, paths the
# "Topic" form).
_ENUM_NAMES = {"Topic": "TOPIC", "Group": "GROUP", "Cluster": "CLUSTER", "TransactionalId": "TRANSACTIONAL_ID",
               "DelegationToken": "DELEGATION_TOKEN", "User": "USER"}


def _store_path(pattern_type: str) -> str:
    return LITERAL_ACL_PATH if pattern_type == "LITERAL" else f"{EXTENDED_ACL_PATH}/{pattern_type.lower()}"


def resource_path(resource: AclResource) -> str:
    pattern_type, resource_type, name = resource
    return f"{_store_path(pattern_type)}/{resource_type}/{name}"


def encode_acls(entries: frozenset[AclEntry]) -> bytes:
    return encode_json({"version": 1, "acls": [
        {"principal": p, "permissionType": perm, "operation": op, "host": h} for p, perm, op, h in sorted(entries)]})


def decode_acls(data: bytes) -> frozenset[AclEntry]:
    if not data:
        return frozenset()
    return frozenset((str(a["principal"]), str(a["permissionType"]), str(a["operation"]), str(a["host"]))
                     for a in json.loads(data).get("acls", ()))


def change_notification(resource: AclResource) -> tuple[str, bytes]:
    """The change queue and node data announcing a change of `resource`."""
    pattern_type, resource_type, name = resource
    enum_name = _ENUM_NAMES.get(resource_type, resource_type.upper())
    if pattern_type == "LITERAL":
        return LITERAL_CHANGES_PATH, f"{enum_name}:{name}".encode()
    return EXTENDED_CHANGES_PATH, encode_json({"version": 1, "resourceType": enum_name, "name": name,
                                               "patternType": pattern_type})


def ensure_acl_paths(client: KazooClient) -> None:
    for path in ACL_PATHS:
        client.ensure_path(path)


def read_all_acls(client: KazooClient) -> dict[AclResource, frozenset[AclEntry]]:
    """Every resource's ACLs (AclAuthorizer.loadAllAcls), reads pipelined per level."""
    result: dict[AclResource, frozenset[AclEntry]] = {}
    for pattern_type in ("LITERAL", "PREFIXED"):
        base = _store_path(pattern_type)
        try:
            types = client.get_children(base)
        except NoNodeError:
            continue
        listings = {t: client.get_children_async(f"{base}/{t}") for t in types}
        reads: dict[AclResource, Any] = {}
        for resource_type, listing in listings.items():
            try:
                names = listing.get()
            except NoNodeError:
                continue
            for name in names:
                key = (pattern_type, resource_type, name)
                reads[key] = client.get_async(resource_path(key))
        for key, read in reads.items():
            try:
                data, _ = read.get()
            except NoNodeError:
                continue
            entries = decode_acls(data)
            if entries:
                result[key] = entries
    return result


def update_resource_acls(client: KazooClient, resource: AclResource,
                         change: AclChange) -> tuple[frozenset[AclEntry], frozenset[AclEntry]]:
    """AclAuthorizer.updateResourceAcls: read, apply `change`, write conditionally on the
    znode version with a change notification; retry when another writer won."""
    path = resource_path(resource)
    client.ensure_path(path.rsplit("/", 1)[0])
    queue, notification = change_notification(resource)
    for _ in range(MAX_CAS_ATTEMPTS):
        try:
            data, stat = client.get(path)
        except NoNodeError:
            data, stat = b"", None
        before = decode_acls(data)
        after = frozenset(change(before))
        if after == before:
            return before, after
        tx = client.transaction()
        if stat is None:
            tx.create(path, encode_acls(after))
        elif after:
            tx.set_data(path, encode_acls(after), version=stat.version)
        else:
            tx.delete(path, version=stat.version)
        tx.create(f"{queue}/{CHANGE_PREFIX}", notification, sequence=True)
        results = tx.commit()
        if not any(isinstance(r, Exception) for r in results):
            purge_old_notifications(client, queue)
            return before, after
        log.debug("ACL update of %s raced with another writer (%r); retrying", path, results)
    raise RuntimeError(f"could not update the ACLs of {path}: too much contention")


def purge_old_notifications(client: KazooClient, queue: str, max_age_ms: int = NOTIFICATION_MAX_AGE_MS) -> None:
    """Delete the change notifications of `queue` created more than `max_age_ms` before the
    newest one (ZooKeeper's own clock, so broker clocks do not matter)."""
    children = sorted(c for c in client.get_children(queue) if c.startswith(CHANGE_PREFIX))
    if len(children) < 2:
        return
    stats = {c: client.exists_async(f"{queue}/{c}") for c in children}
    created = {c: s.ctime for c, req in stats.items() if (s := req.get()) is not None}
    if not created:
        return
    newest = max(created.values())
    for child, ctime in created.items():
        if newest - ctime > max_age_ms:
            try:
                client.delete(f"{queue}/{child}")
            except NoNodeError:
                pass  # another broker purged it first


class ZkSession(Protocol):
    """What ZkAcls needs of the store that holds it: its client, its way of running a
    ZooKeeper round trip off the loop, its loop, and whether it is closed."""

    _loop: asyncio.AbstractEventLoop | None
    _closed: bool

    @property
    def client(self) -> KazooClient: ...

    async def _call(self, func: Callable[..., _T], *args: Any) -> _T: ...


class ZkAcls:
    """The ACL part of ZooKeeperMetadataStore, which holds one and delegates to it."""

    def __init__(self, session: ZkSession) -> None:
        self._session = session
        self._callbacks: list[Callable[[], None]] = []

    async def acls(self) -> dict[AclResource, frozenset[AclEntry]]:
        return await self._session._call(read_all_acls, self._session.client)

    async def update(self, resource: AclResource, change: AclChange) -> tuple[frozenset[AclEntry], frozenset[AclEntry]]:
        before, after = await self._session._call(update_resource_acls, self._session.client, resource, change)
        if before != after:
            log.info("ACLs of %s changed: %d -> %d entries", resource_path(resource), len(before), len(after))
        return before, after

    def on_change(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def arm_watches(self) -> None:
        """From the store's start (a worker thread): create Kafka's ACL paths and watch
        both change queues; kazoo calls each watch once at registration, skipped here."""
        client = self._session.client
        ensure_acl_paths(client)
        for queue in (LITERAL_CHANGES_PATH, EXTENDED_CHANGES_PATH):
            first = [True]

            def changed(_children: list[str], first: list[bool] = first) -> None:
                if first[0]:
                    first[0] = False
                    return
                self.notify()

            ChildrenWatch(client, queue, changed)

    def notify(self) -> None:
        """From kazoo's threads: run the ACL callbacks on the event loop."""
        loop = self._session._loop
        if loop is None or self._session._closed:
            return
        for callback in list(self._callbacks):
            try:
                loop.call_soon_threadsafe(callback)
            except RuntimeError:  # the loop is closed
                return

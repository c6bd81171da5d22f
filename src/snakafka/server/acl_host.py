"""The broker's ACLs: the authorizer's cache kept in step with the metadata store.

With authorizer.class.name set, start() loads every ACL from the store (ZooKeeper's
/kafka-acl znodes in a cluster, the local metadata file otherwise) and every change
notification from the store reloads them, so an ACL created through any broker is
enforced by all (Kafka's AclAuthorizer does the same with its ZooKeeper listeners).
CreateAcls and DeleteAcls write through the store, resource by resource, with the
store's compare-and-set, then update this broker's cache at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from snakafka.cluster.store.base import AclEntry, MetadataStore
from snakafka.config.broker import BrokerConfig
from snakafka.security.acl import (
    AccessControlEntry,
    AclBinding,
    AclBindingFilter,
    ResourcePattern,
    entry_from_stored,
    pattern_from_stored,
    stored_entry,
    stored_resource,
)
from snakafka.security.authorizer import (
    AclAuthorizer,
    deletion_targets,
    parse_super_users,
    validate_binding,
)

log = logging.getLogger(__name__)


class AclHost:
    def __init__(self, config: BrokerConfig, store: MetadataStore) -> None:
        self.store = store
        self.broker_id = config.broker_id
        self.authorizer: AclAuthorizer | None = None
        if config.authorizer_class_name:
            self.authorizer = AclAuthorizer(parse_super_users(config.super_users),
                                            config.allow_everyone_if_no_acl_found)
        self._reload_task: asyncio.Task[None] | None = None
        self._reload_again = False

    async def start(self) -> None:
        if self.authorizer is None:
            return
        self.store.on_acl_change(self._store_changed)  # first: no change slips between load and watch
        await self.reload()

    async def close(self) -> None:
        task, self._reload_task = self._reload_task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def reload(self) -> None:
        if self.authorizer is None:
            return
        stored = await self.store.acls()
        acls: dict[ResourcePattern, frozenset[AccessControlEntry]] = {}
        for key, entries in stored.items():
            try:
                acls[pattern_from_stored(key)] = frozenset(entry_from_stored(e) for e in entries)
            except (ValueError, KeyError) as exc:
                log.warning("broker %d: ignoring ACLs of unknown resource %s: %s", self.broker_id, key, exc)
        self.authorizer.replace_all(acls)
        log.debug("broker %d: loaded ACLs of %d resources", self.broker_id, len(acls))

    def _store_changed(self) -> None:
        """A change notification (on the loop): reload, one reload at a time."""
        if self._reload_task is not None and not self._reload_task.done():
            self._reload_again = True
            return
        self._reload_task = asyncio.create_task(self._reload_loop(), name="acl-reload")

    async def _reload_loop(self) -> None:
        while True:
            self._reload_again = False
            try:
                await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("broker %d: reloading ACLs failed; retrying in 1 s", self.broker_id)
                await asyncio.sleep(1)
                self._reload_again = True
            if not self._reload_again:
                return

    # -- CreateAcls / DescribeAcls / DeleteAcls -----------------------------------------------

    def describe(self, binding_filter: AclBindingFilter) -> list[AclBinding]:
        assert self.authorizer is not None
        return self.authorizer.acls(binding_filter)

    async def create(self, bindings: list[AclBinding]) -> list[str | None]:
        """Per binding: None when created (or already there), else why not (INVALID_REQUEST)."""
        assert self.authorizer is not None
        results: list[str | None] = [validate_binding(b) for b in bindings]
        by_resource: dict[ResourcePattern, list[int]] = defaultdict(list)
        for i, b in enumerate(bindings):
            if results[i] is None:
                by_resource[b.pattern].append(i)
        for pattern, indexes in by_resource.items():
            new = frozenset(stored_entry(bindings[i].entry) for i in indexes)

            def add(cur: frozenset[AclEntry], new: frozenset[AclEntry] = new) -> frozenset[AclEntry]:
                return cur | new

            try:
                _, after = await self.store.update_acls(stored_resource(pattern), add)
            except Exception as exc:
                log.exception("broker %d: creating ACLs on %s", self.broker_id, pattern)
                for i in indexes:
                    results[i] = f"Failed to create ACL: {exc}"
                continue
            self.authorizer.set_resource(pattern, (entry_from_stored(e) for e in after))
            log.info("broker %d: added ACLs on %s: %s", self.broker_id, pattern,
                     ", ".join(str(bindings[i].entry) for i in indexes))
        return results

    async def delete(self, filters: list[AclBindingFilter]) -> list[list[tuple[AclBinding, str | None]]]:
        """Per filter, the bindings it deleted (with an error text where the store failed),
        as AclAuthorizer.deleteAcls reports them: a binding matched by several filters is
        reported for the first."""
        assert self.authorizer is not None
        current = [b.pattern for b in self.authorizer.bindings()]
        results: list[list[tuple[AclBinding, str | None]]] = [[] for _ in filters]
        for pattern, indexes in deletion_targets(current, filters).items():
            owner: dict[AclEntry, int] = {}

            def change(cur: frozenset[AclEntry], pattern: ResourcePattern = pattern,
                       indexes: list[int] = indexes, owner: dict[AclEntry, int] = owner) -> frozenset[AclEntry]:
                owner.clear()
                for stored in cur:
                    binding = AclBinding(pattern, entry_from_stored(stored))
                    for i in indexes:
                        if filters[i].entry.matches(binding.entry):
                            owner[stored] = i
                            break
                return frozenset(e for e in cur if e not in owner)

            error: str | None = None
            try:
                _, after = await self.store.update_acls(stored_resource(pattern), change)
                self.authorizer.set_resource(pattern, (entry_from_stored(e) for e in after))
            except Exception as exc:
                log.exception("broker %d: deleting ACLs on %s", self.broker_id, pattern)
                error = str(exc)
            for stored, i in sorted(owner.items()):
                results[i].append((AclBinding(pattern, entry_from_stored(stored)), error))
            if owner:
                log.info("broker %d: removed %d ACLs on %s", self.broker_id, len(owner), pattern)
        return results

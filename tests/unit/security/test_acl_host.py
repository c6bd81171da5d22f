"""The broker's ACL host over the local metadata store: CreateAcls and DeleteAcls as
Kafka's AclAuthorizer applies them (validation per binding, idempotent creation, a
deleted binding reported under the first filter matching it), and ACLs that survive a
new store instance on the same directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

from snakafka.cluster.store.local import LocalMetadataStore
from snakafka.config.broker import BrokerConfig
from snakafka.security.acl import (
    AccessControlEntry,
    AccessControlEntryFilter,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)
from snakafka.security.principal import KafkaPrincipal
from snakafka.server.acl_host import AclHost

Op, P = AclOperation, AclPermissionType
TOPIC = ResourceType.TOPIC
CONFIG = BrokerConfig.load(None, {"authorizer.class.name": "kafka.security.authorizer.AclAuthorizer"})


def binding(name: str, principal: str, op: AclOperation, pattern: PatternType = PatternType.LITERAL) -> AclBinding:
    return AclBinding(ResourcePattern(TOPIC, name, pattern), AccessControlEntry(principal, "*", op, P.ALLOW))


async def host_on(directory: Path) -> AclHost:
    store = LocalMetadataStore(directory)
    await store.start()
    host = AclHost(CONFIG, store)
    await host.start()
    return host


def test_create_delete_and_reload(tmp_path: Path) -> None:
    async def scenario() -> None:
        host = await host_on(tmp_path)
        assert host.authorizer is not None
        results = await host.create([
            binding("orders", "User:alice", Op.READ),
            binding("orders", "User:alice", Op.READ),  # the same again: no error, one ACL
            binding("orders", "alice", Op.READ),  # not a principal
            binding("log-", "User:bob", Op.WRITE, PatternType.PREFIXED),
            binding("", "User:bob", Op.WRITE),
        ])
        assert [r is None for r in results] == [True, True, False, True, False]
        alice, bob = KafkaPrincipal.parse("User:alice"), KafkaPrincipal.parse("User:bob")
        assert host.authorizer.authorize(alice, "1.2.3.4", Op.DESCRIBE, TOPIC, "orders")
        assert host.authorizer.authorize(bob, "1.2.3.4", Op.WRITE, TOPIC, "log-app")
        assert len(list(host.authorizer.bindings())) == 2

        reopened = await host_on(tmp_path)  # the store's file, read anew
        assert reopened.authorizer is not None
        assert list(reopened.authorizer.bindings()) == list(host.authorizer.bindings())

        every_topic = ResourcePatternFilter(TOPIC, None, PatternType.ANY)
        deleted = await host.delete([
            AclBindingFilter(ResourcePatternFilter(TOPIC, "log-app", PatternType.MATCH), AccessControlEntryFilter()),
            AclBindingFilter(every_topic, AccessControlEntryFilter()),
            AclBindingFilter(every_topic, AccessControlEntryFilter(principal="User:nobody")),
        ])
        assert [[b.pattern.name for b, _ in per_filter] for per_filter in deleted] == [["log-"], ["orders"], []]
        assert not host.authorizer.authorize(bob, "1.2.3.4", Op.WRITE, TOPIC, "log-app")
        assert list((await host_on(tmp_path)).authorizer.bindings()) == []  # type: ignore[union-attr]

    asyncio.run(scenario())


def test_no_authorizer_without_the_config(tmp_path: Path) -> None:
    host = AclHost(BrokerConfig.load(None, {}), LocalMetadataStore(tmp_path))
    assert host.authorizer is None

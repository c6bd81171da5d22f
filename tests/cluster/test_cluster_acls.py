"""ACLs in a ZooKeeper cluster: created through one broker, stored in Kafka's znodes and
JSON (/kafka-acl, /kafka-acl-extended/prefixed and their change queues), enforced by
another broker once the change notification reaches it, removed through that other
broker and lifted on the first; replication (followers' fetches need ClusterAction, open
here as no ACL is on the cluster) keeps working with the authorizer on."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    NewTopic,
    ResourcePatternType,
)
from confluent_kafka.admin import ResourceType as AdminResourceType
from integration.acl_clients import (
    OK,
    TOPIC_DENIED,
    acl,
    admin,
    consume,
    grant,
    produce,
    revoke,
    unique,
)
from integration.helpers import wait_until
from kazoo.client import KazooClient  # type: ignore[import-untyped]
from kio.schema.errors import ErrorCode
from kio.static.primitive import i8

from cluster.conftest import CLUSTER_OVERRIDES, ZkChroot
from snakafka.client.connection import BrokerConnection
from snakafka.client.requests import build, request, schema
from snakafka.cluster.store.zk_acls import (
    LITERAL_CHANGES_PATH,
    ensure_acl_paths,
    purge_old_notifications,
    read_all_acls,
    resource_path,
    update_resource_acls,
)
from snakafka.security.acl import AclOperation as Op
from snakafka.security.acl import AclPermissionType as P
from snakafka.security.acl import PatternType, ResourceType
from snakafka.testing.cluster import LocalCluster

pytestmark = pytest.mark.timeout(120)


def send(bootstrap: str, req: Any) -> Any:
    host, port = bootstrap.rsplit(":", 1)

    async def go() -> Any:
        async with BrokerConnection(host, int(port)) as conn:
            return await conn.send(req, timeout=10)

    return asyncio.run(asyncio.wait_for(go(), 20))


def creation(name: str, op: Op, permission: P, pattern: PatternType, principal: str) -> Any:
    return build(schema(30, 3).AclCreation, resource_type=i8(ResourceType.TOPIC), resource_name=name,
                 resource_pattern_type=i8(pattern), principal=principal, host="*", operation=i8(op),
                 permission_type=i8(permission))


def metadata_error(bootstrap: str, topic: str) -> ErrorCode:
    s = schema(3, 12)
    resp = send(bootstrap, request(3, 12, topics=(build(s.MetadataRequestTopic, topic_id=None, name=topic),),
                                   allow_auto_topic_creation=False, include_topic_authorized_operations=False))
    return ErrorCode(resp.topics[0].error_code)


def described_groups(bootstrap: str, name: str) -> list[str]:
    """DescribeAcls of one broker (the wire, so it is that broker that answers)."""
    resp = send(bootstrap, request(29, 3, resource_type_filter=i8(ResourceType.GROUP), resource_name_filter=name,
                                   pattern_type_filter=i8(PatternType.ANY), principal_filter=None, host_filter=None,
                                   operation=i8(Op.ANY), permission_type=i8(P.ANY)))
    return [r.resource_name for r in resp.resources]


def test_acls_created_on_one_broker_are_enforced_by_another(zk: ZkChroot, tmp_path: Any) -> None:
    overrides = {**CLUSTER_OVERRIDES, "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
                 "allow.everyone.if.no.acl.found": "true"}
    with LocalCluster(tmp_path / "cluster", brokers=2, zookeeper_connect=zk.connect, overrides=overrides) as cluster:
        b0, b1 = (p.bootstrap for p in cluster.processes)
        t = unique("zk-")
        client = admin(cluster.bootstrap)
        client.create_topics([NewTopic(t, num_partitions=1, replication_factor=2)])[t].result(20)
        wait_until(lambda: metadata_error(b1, t) == ErrorCode.none, 20, message="topic on broker 1")
        assert produce(cluster.bootstrap, t, b"before") is OK

        created = send(b0, request(30, 3, creations=(
            creation(t, Op.READ, P.ALLOW, PatternType.LITERAL, "User:bob"),
            creation(t[:-2], Op.WRITE, P.DENY, PatternType.PREFIXED, "User:*"))))
        assert [r.error_code for r in created.results] == [ErrorCode.none, ErrorCode.none]

        # Kafka's znodes and JSON
        literal, _ = zk.get(f"/kafka-acl/Topic/{t}")
        assert json.loads(literal) == {"version": 1, "acls": [
            {"principal": "User:bob", "permissionType": "Allow", "operation": "Read", "host": "*"}]}
        prefixed, _ = zk.get(f"/kafka-acl-extended/prefixed/Topic/{t[:-2]}")
        assert json.loads(prefixed)["acls"] == [
            {"principal": "User:*", "permissionType": "Deny", "operation": "Write", "host": "*"}]
        changes = zk.raw.get_children(zk.path("/kafka-acl-changes"))
        assert [zk.get(f"/kafka-acl-changes/{c}")[0] for c in changes] == [f"TOPIC:{t}".encode()]
        (extended,) = zk.raw.get_children(zk.path("/kafka-acl-extended-changes"))
        assert json.loads(zk.get(f"/kafka-acl-extended-changes/{extended}")[0]) == {
            "version": 1, "resourceType": "TOPIC", "name": t[:-2], "patternType": "PREFIXED"}

        # broker 1 learns of them from ZooKeeper and enforces them
        wait_until(lambda: metadata_error(b1, t) == ErrorCode.topic_authorization_failed, 20,
                   message="broker 1 refusing the topic")
        assert produce(b1, t) == TOPIC_DENIED
        flt = AclBindingFilter(AdminResourceType.ANY, None, ResourcePatternType.ANY, None, None,  # type: ignore[arg-type]
                               AclOperation.ANY, AclPermissionType.ANY)
        admin1 = admin(b1)  # kept alive until its answer is in
        listed = admin1.describe_acls(flt, request_timeout=10).result(10)
        assert {(x.name, x.principal) for x in listed} == {(t, "User:bob"), (t[:-2], "User:*")}

        # removed through broker 1, lifted on broker 0
        deleted = send(b1, request(31, 3, filters=(build(
            schema(31, 3).DeleteAclsFilter, resource_type_filter=i8(ResourceType.TOPIC), resource_name_filter=t,
            pattern_type_filter=i8(PatternType.MATCH), principal_filter=None, host_filter=None,
            operation=i8(Op.ANY), permission_type=i8(P.ANY)),)))
        assert len(deleted.filter_results[0].matching_acls) == 2
        assert not zk.exists(f"/kafka-acl/Topic/{t}")
        wait_until(lambda: metadata_error(b0, t) == ErrorCode.none, 20, message="broker 0 allowing the topic")
        assert produce(b0, t, b"after") is OK
        assert consume(cluster.bootstrap, t) == [b"before", b"after"]

        # confluent-kafka's AdminClient against the cluster: every broker lists, then forgets, the ACL
        other = unique("zk2-")
        grant(cluster.bootstrap, acl("GROUP", other, "READ", principal="User:carol"))
        def listed_everywhere(expected: list[str]) -> bool:
            return all(described_groups(p.bootstrap, other) == expected for p in cluster.processes)

        wait_until(lambda: listed_everywhere([other]), 20, message="ACL listed by every broker")
        assert [d.name for d in revoke(cluster.bootstrap, "GROUP", other)] == [other]
        wait_until(lambda: listed_everywhere([]), 20, message="ACL gone from every broker")


def test_acl_znodes_compare_and_set_and_notification_purge(zk: ZkChroot) -> None:
    """The store functions on a real ZooKeeper: concurrent writers of one resource lose
    nothing (compare-and-set on the znode version), an emptied resource's znode goes, and
    old change notifications are purged."""
    zk.raw.ensure_path(zk.chroot)
    client = KazooClient(hosts=zk.connect, timeout=10.0)
    client.start(timeout=10.0)
    try:
        ensure_acl_paths(client)
        key = ("LITERAL", "Topic", "orders")

        def writer(principal: str) -> None:
            for i in range(8):
                entry = (principal, "Allow", "Read", f"10.0.0.{i}")

                def add(cur: frozenset[tuple[str, str, str, str]], entry: tuple[str, str, str, str] = entry
                        ) -> frozenset[tuple[str, str, str, str]]:
                    return cur | {entry}

                update_resource_acls(client, key, add)

        threads = [threading.Thread(target=writer, args=(f"User:w{n}",)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(read_all_acls(client)[key]) == 24
        update_resource_acls(client, key, lambda cur: frozenset())
        assert client.exists(resource_path(key)) is None
        assert key not in read_all_acls(client)
        queue = zk.raw.get_children(zk.path(LITERAL_CHANGES_PATH))
        assert len(queue) == 25  # one notification per change
        time.sleep(0.01)
        update_resource_acls(client, key, lambda cur: cur | {("User:last", "Allow", "Read", "*")})
        purge_old_notifications(client, LITERAL_CHANGES_PATH, max_age_ms=0)
        assert len(zk.raw.get_children(zk.path(LITERAL_CHANGES_PATH))) == 1
    finally:
        client.stop()
        client.close()

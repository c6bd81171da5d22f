"""CreateAcls, DescribeAcls and DeleteAcls, and the authorized-operations fields, on the
wire (our protocol client, every version we serve): what Kafka answers without an
authorizer (SECURITY_DISABLED; every supported operation), and with one."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from kio.schema.errors import ErrorCode
from kio.static.primitive import i8

from integration.acl_clients import acl, grant
from integration.helpers import confluent_create_topic
from snakafka.client.connection import BrokerConnection
from snakafka.client.requests import build, request, schema
from snakafka.security.acl import (
    SUPPORTED_OPERATIONS,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourceType,
    to_bitfield,
)
from snakafka.testing.process import BrokerProcess

CREATE, DESCRIBE, DELETE = 30, 29, 31
Op, P = AclOperation, AclPermissionType
TOPIC_OPS = to_bitfield(set(SUPPORTED_OPERATIONS[ResourceType.TOPIC]))
CLUSTER_OPS = to_bitfield(set(SUPPORTED_OPERATIONS[ResourceType.CLUSTER]))


def send(bootstrap: str, *requests: Any) -> list[Any]:
    host, port = bootstrap.rsplit(":", 1)

    async def go() -> list[Any]:
        async with BrokerConnection(host, int(port)) as conn:
            return [await conn.send(r, timeout=10) for r in requests]

    return asyncio.run(asyncio.wait_for(go(), 30))


def creation(version: int, name: str, op: int = Op.READ, *, principal: str = "User:alice",
             pattern: PatternType = PatternType.LITERAL, rtype: ResourceType = ResourceType.TOPIC) -> Any:
    return build(schema(CREATE, version).AclCreation, resource_type=i8(rtype), resource_name=name,
                 resource_pattern_type=i8(pattern), principal=principal, host="*", operation=i8(op),
                 permission_type=i8(P.ALLOW))


def describe(version: int, name: str | None, pattern: PatternType = PatternType.ANY) -> Any:
    return request(DESCRIBE, version, resource_type_filter=i8(ResourceType.TOPIC), resource_name_filter=name,
                   pattern_type_filter=i8(pattern), principal_filter=None, host_filter=None, operation=i8(Op.ANY),
                   permission_type=i8(P.ANY))


def delete(version: int, name: str, pattern: PatternType = PatternType.ANY) -> Any:
    return request(DELETE, version, filters=(build(
        schema(DELETE, version).DeleteAclsFilter, resource_type_filter=i8(ResourceType.TOPIC), resource_name_filter=name,
        pattern_type_filter=i8(pattern), principal_filter=None, host_filter=None, operation=i8(Op.ANY),
        permission_type=i8(P.ANY)),))


def metadata(version: int, topic: str) -> Any:
    s = schema(3, version)
    return request(3, version, topics=(build(s.MetadataRequestTopic, topic_id=None, name=topic),),
                   allow_auto_topic_creation=False, include_topic_authorized_operations=True,
                   include_cluster_authorized_operations=True)


def test_without_an_authorizer(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name)
    created, described, deleted, meta, cluster = send(
        broker.bootstrap, request(CREATE, 1, creations=(creation(1, "t"),)), describe(3, None), delete(2, "t"),
        metadata(10, topic_name), request(60, 1, include_cluster_authorized_operations=True, endpoint_type=i8(1)))
    assert [r.error_code for r in created.results] == [ErrorCode.security_disabled]
    assert created.results[0].error_message == "No Authorizer is configured on the broker"
    assert described.error_code == ErrorCode.security_disabled
    assert [r.error_code for r in deleted.filter_results] == [ErrorCode.security_disabled]
    # Kafka without an authorizer: every supported operation
    assert meta.topics[0].topic_authorized_operations == TOPIC_OPS
    assert meta.cluster_authorized_operations == CLUSTER_OPS
    assert cluster.cluster_authorized_operations == CLUSTER_OPS


@pytest.mark.parametrize("version", [1, 2, 3])
def test_acl_apis_at_every_version(acl_broker: BrokerProcess, version: int) -> None:
    name = f"wire-{version}-{uuid.uuid4().hex[:8]}"
    created, = send(acl_broker.bootstrap, request(CREATE, version, creations=(
        creation(version, name), creation(version, name, Op.WRITE, pattern=PatternType.PREFIXED),
        creation(version, name, Op.UNKNOWN), creation(version, "other", principal="alice"),
        creation(version, "elsewhere", rtype=ResourceType.CLUSTER))))
    codes = [r.error_code for r in created.results]
    assert codes == [ErrorCode.none, ErrorCode.none] + [ErrorCode.invalid_request] * 3
    assert "kafka-cluster" in (created.results[4].error_message or "")

    literal, matching = send(acl_broker.bootstrap, describe(version, name, PatternType.LITERAL),
                             describe(version, name + "-x", PatternType.MATCH))
    assert literal.error_code == ErrorCode.none
    assert [(r.resource_name, r.pattern_type, [(a.principal, a.operation) for a in r.acls]) for r in literal.resources] == \
        [(name, PatternType.LITERAL, [("User:alice", Op.READ)])]
    assert [(r.resource_name, r.pattern_type) for r in matching.resources] == [(name, PatternType.PREFIXED)]

    first, again = send(acl_broker.bootstrap, delete(version, name), delete(version, name))
    assert first.filter_results[0].error_code == ErrorCode.none
    assert sorted((m.resource_name, m.pattern_type, m.operation) for m in first.filter_results[0].matching_acls) == \
        [(name, PatternType.LITERAL, Op.READ), (name, PatternType.PREFIXED, Op.WRITE)]
    assert again.filter_results[0].matching_acls == ()


def test_authorized_operations_with_acls(acl_broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(acl_broker.bootstrap, topic_name)
    grant(acl_broker.bootstrap, acl("TOPIC", topic_name, "WRITE"))
    meta, = send(acl_broker.bootstrap, metadata(10, topic_name))
    assert meta.topics[0].topic_authorized_operations == to_bitfield({Op.WRITE, Op.DESCRIBE})
    assert meta.cluster_authorized_operations == CLUSTER_OPS  # no ACL on the cluster: allow.everyone...

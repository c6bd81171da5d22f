"""CreateAcls, DescribeAcls and DeleteAcls, and the authorized-operations fields, on the
wire (our protocol client, every version we serve): what Kafka answers without an
authorizer (SECURITY_DISABLED; every supported operation), and with one."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from kio.schema.errors import ErrorCode
from kio.static.primitive import i8, i16, i32, i64

from integration.acl_clients import acl, grant
from integration.helpers import confluent_create_topic
from snakafka.client.connection import BrokerConnection
from snakafka.client.requests import build, millis, request, schema
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


def test_every_api_refuses_with_kafkas_code(acl_broker: BrokerProcess) -> None:
    """One request per API family on a topic, a group and a transactional id whose ACLs
    name only User:bob: each answers the code Kafka's KafkaApis answers ANONYMOUS.
    (OffsetForLeaderEpoch passes with ClusterAction, open here: see test_acls_closed.py.)"""
    b = acl_broker.bootstrap
    t, g, x = (f"{kind}-{uuid.uuid4().hex[:8]}" for kind in ("wt", "wg", "wx"))
    open_group = f"wo-{uuid.uuid4().hex[:8]}"  # no ACL: open (allow.everyone.if.no.acl.found)
    confluent_create_topic(b, t)
    grant(b, acl("TOPIC", t, "ALL", principal="User:bob"), acl("GROUP", g, "ALL", principal="User:bob"),
          acl("TRANSACTIONAL_ID", x, "ALL", principal="User:bob"))

    def s(key: int, version: int) -> Any:
        return schema(key, version)

    part = (i32(0),)
    offsets = (build(s(8, 8).OffsetCommitRequestTopic, name=t, partitions=(build(
        s(8, 8).OffsetCommitRequestPartition, partition_index=i32(0), committed_offset=i64(1),
        committed_leader_epoch=i32(-1), committed_metadata=""),)),)
    txn_offsets = (build(s(28, 3).TxnOffsetCommitRequestTopic, name=t, partitions=(build(
        s(28, 3).TxnOffsetCommitRequestPartition, partition_index=i32(0), committed_offset=i64(1),
        committed_leader_epoch=i32(-1), committed_metadata=""),)),)
    requests: dict[str, tuple[Any, Any, ErrorCode]] = {
        "ListOffsets": (request(2, 7, replica_id=i32(-1), isolation_level=i8(0), topics=(build(
            s(2, 7).ListOffsetsTopic, name=t, partitions=(build(s(2, 7).ListOffsetsPartition, partition_index=i32(0),
                                                                current_leader_epoch=i32(-1), timestamp=i64(-1)),)),)),
                        lambda r: r.topics[0].partitions[0].error_code, ErrorCode.topic_authorization_failed),
        "FindCoordinator(group)": (request(10, 4, key_type=i8(0), coordinator_keys=(g,)),
                                   lambda r: r.coordinators[0].error_code, ErrorCode.group_authorization_failed),
        "FindCoordinator(txn)": (request(10, 4, key_type=i8(1), coordinator_keys=(x,)),
                                 lambda r: r.coordinators[0].error_code, ErrorCode.transactional_id_authorization_failed),
        "JoinGroup": (request(11, 9, group_id=g, session_timeout=millis(10000), rebalance_timeout=millis(10000),
                              member_id="", group_instance_id=None, protocol_type="consumer", protocols=(), reason=None),
                      lambda r: r.error_code, ErrorCode.group_authorization_failed),
        "Heartbeat": (request(12, 4, group_id=g, generation_id=i32(1), member_id="m", group_instance_id=None),
                      lambda r: r.error_code, ErrorCode.group_authorization_failed),
        "SyncGroup": (request(14, 5, group_id=g, generation_id=i32(1), member_id="m", group_instance_id=None,
                              protocol_type=None, protocol_name=None, assignments=()),
                      lambda r: r.error_code, ErrorCode.group_authorization_failed),
        "LeaveGroup": (request(13, 5, group_id=g, members=(build(s(13, 5).MemberIdentity, member_id="m",
                                                                   group_instance_id=None, reason=None),)),
                       lambda r: r.error_code, ErrorCode.group_authorization_failed),
        "OffsetCommit(group)": (request(8, 8, group_id=g, generation_id_or_member_epoch=i32(-1), member_id="",
                                        group_instance_id=None, topics=offsets),
                                lambda r: r.topics[0].partitions[0].error_code, ErrorCode.group_authorization_failed),
        "OffsetCommit(topic)": (request(8, 8, group_id=open_group, generation_id_or_member_epoch=i32(-1), member_id="",
                                        group_instance_id=None, topics=offsets),
                                lambda r: r.topics[0].partitions[0].error_code, ErrorCode.topic_authorization_failed),
        "OffsetFetch(group)": (request(9, 8, require_stable=False, groups=(build(
            s(9, 8).OffsetFetchRequestGroup, group_id=g, topics=None),)),
            lambda r: r.groups[0].error_code, ErrorCode.group_authorization_failed),
        "OffsetFetch(topic)": (request(9, 8, require_stable=False, groups=(build(
            s(9, 8).OffsetFetchRequestGroup, group_id=open_group, topics=(build(
                s(9, 8).OffsetFetchRequestTopics, name=t, partition_indexes=part),)),)),
            lambda r: r.groups[0].topics[0].partitions[0].error_code, ErrorCode.topic_authorization_failed),
        "OffsetDelete": (request(47, 0, group_id=g, topics=()), lambda r: r.error_code,
                         ErrorCode.group_authorization_failed),
        "DescribeGroups": (request(15, 5, groups=(g,), include_authorized_operations=True),
                           lambda r: r.groups[0].error_code, ErrorCode.group_authorization_failed),
        "DeleteGroups": (request(42, 2, groups_names=(g,)), lambda r: r.results[0].error_code,
                         ErrorCode.group_authorization_failed),
        "InitProducerId": (request(22, 4, transactional_id=x, transaction_timeout=millis(60000), producer_id=i64(-1),
                                   producer_epoch=i16(-1)),
                           lambda r: r.error_code, ErrorCode.transactional_id_authorization_failed),
        "AddPartitionsToTxn": (request(24, 3, v3_and_below_transactional_id=x, v3_and_below_producer_id=i64(1),
                                       v3_and_below_producer_epoch=i16(0), v3_and_below_topics=(build(
                                           s(24, 3).AddPartitionsToTxnTopic, name=t, partitions=part),)),
                               lambda r: r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
                               ErrorCode.transactional_id_authorization_failed),
        "AddOffsetsToTxn": (request(25, 3, transactional_id=x, producer_id=i64(1), producer_epoch=i16(0), group_id=g),
                            lambda r: r.error_code, ErrorCode.transactional_id_authorization_failed),
        "EndTxn": (request(26, 3, transactional_id=x, producer_id=i64(1), producer_epoch=i16(0), committed=True),
                   lambda r: r.error_code, ErrorCode.transactional_id_authorization_failed),
        "TxnOffsetCommit": (request(28, 3, transactional_id=x, group_id=g, producer_id=i64(1), producer_epoch=i16(0),
                                    generation_id=i32(-1), member_id="", group_instance_id=None, topics=txn_offsets),
                            lambda r: r.topics[0].partitions[0].error_code, ErrorCode.transactional_id_authorization_failed),
        "DescribeTransactions": (request(65, 0, transactional_ids=(x,)), lambda r: r.transaction_states[0].error_code,
                                 ErrorCode.transactional_id_authorization_failed),
    }
    answers = send(b, *(req for req, _, _ in requests.values()))
    got = {name: ErrorCode(pick(resp)) for (name, (_, pick, _)), resp in zip(requests.items(), answers)}
    assert got == {name: code for name, (_, _, code) in requests.items()}


def test_metadata_by_topic_id_keeps_an_undescribable_name_secret(acl_broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(acl_broker.bootstrap, topic_name)
    (before,) = send(acl_broker.bootstrap, metadata(12, topic_name))
    topic_id = before.topics[0].topic_id
    grant(acl_broker.bootstrap, acl("TOPIC", topic_name, "READ", principal="User:bob"))
    s = schema(3, 12)
    by_name, by_id = send(acl_broker.bootstrap, metadata(12, topic_name), request(
        3, 12, topics=(build(s.MetadataRequestTopic, topic_id=topic_id, name=None),), allow_auto_topic_creation=False,
        include_topic_authorized_operations=False))
    assert (by_name.topics[0].name, by_name.topics[0].error_code) == (topic_name, ErrorCode.topic_authorization_failed)
    assert [(t.name, t.topic_id, t.error_code) for t in by_id.topics] == \
        [(None, topic_id, ErrorCode.topic_authorization_failed)]

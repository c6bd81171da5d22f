"""ACLs on a broker with allow.everyone.if.no.acl.found=false (the default), with real
clients: one broker, restarted on the same data directory three times:

1. open (allow.everyone.if.no.acl.found=true): make a topic, then ACLs that let
   ANONYMOUS administer ACLs (Alter, Describe on the cluster) and deny everyone all on it;
2. with super.users naming ANONYMOUS: the DENY does not apply to a super user;
3. closed: the ACLs survived the restarts (the local metadata store), and everything
   without an ACL is refused with Kafka's code until an ACL allows it: produce, auto
   creation, CreateTopics, idempotent and transactional producers, broker configs, a
   follower's Fetch, ListGroups without Describe on the cluster, and CreateAcls itself
   once a DENY of Alter on the cluster exists.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)
from kio.schema.errors import ErrorCode
from kio.static.primitive import i8, i16, i32, i64

from integration.acl_clients import (
    OK,
    TOPIC_DENIED,
    acl,
    admin,
    consume,
    grant,
    produce,
)
from integration.helpers import confluent_create_topic
from snakafka.client.connection import BrokerConnection
from snakafka.client.requests import build, millis, request, schema
from snakafka.testing.process import BrokerProcess

# One __consumer_offsets partition: each restart loads every partition of it.
BASE = {"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "1"}


def init_producer_id(bootstrap: str) -> ErrorCode:
    """An idempotent producer's InitProducerId (no transactional id), on the wire."""
    host, port = bootstrap.rsplit(":", 1)

    async def go() -> ErrorCode:
        async with BrokerConnection(host, int(port)) as conn:
            resp = await conn.send(request(22, 4, transactional_id=None, transaction_timeout=millis(60000),
                                           producer_id=i64(-1), producer_epoch=i16(-1)), timeout=10)
            return ErrorCode(resp.error_code)

    return asyncio.run(go())


def follower_fetch(bootstrap: str, topic: str) -> ErrorCode:
    """A Fetch as a follower sends it (replica_id >= 0), which needs ClusterAction."""
    host, port = bootstrap.rsplit(":", 1)
    s = schema(1, 12)

    async def go() -> ErrorCode:
        async with BrokerConnection(host, int(port)) as conn:
            resp = await conn.send(request(
                1, 12, replica_id=i32(1), max_wait=millis(0), min_bytes=i32(1), max_bytes=i32(1 << 20),
                isolation_level=i8(0), session_id=i32(0), session_epoch=i32(-1), forgotten_topics_data=(), rack_id="",
                topics=(build(s.FetchTopic, topic=topic, partitions=(build(
                    s.FetchPartition, partition=i32(0), current_leader_epoch=i32(-1), fetch_offset=i64(0),
                    last_fetched_epoch=i32(-1), log_start_offset=i64(-1), partition_max_bytes=i32(1 << 20)),)),)),
                timeout=10)
            return ErrorCode(resp.responses[0].partitions[0].error_code)

    return asyncio.run(go())


def offset_for_leader_epoch(bootstrap: str, topic: str) -> ErrorCode:
    host, port = bootstrap.rsplit(":", 1)
    s = schema(23, 4)

    async def go() -> ErrorCode:
        async with BrokerConnection(host, int(port)) as conn:
            resp = await conn.send(request(23, 4, replica_id=i32(-1), topics=(build(
                s.OffsetForLeaderTopic, topic=topic, partitions=(build(
                    s.OffsetForLeaderPartition, partition=i32(0), current_leader_epoch=i32(-1),
                    leader_epoch=i32(0)),)),)), timeout=10)
            return ErrorCode(resp.topics[0].partitions[0].error_code)

    return asyncio.run(go())


def reassignment_codes(bootstrap: str) -> tuple[ErrorCode, ErrorCode]:
    """(AlterPartitionReassignments, ListPartitionReassignments): Alter / Describe on the cluster."""
    host, port = bootstrap.rsplit(":", 1)

    async def go() -> tuple[ErrorCode, ErrorCode]:
        async with BrokerConnection(host, int(port)) as conn:
            altered = await conn.send(request(45, 0, timeout=millis(10000), topics=()), timeout=10)
            listed = await conn.send(request(46, 0, timeout=millis(10000), topics=None), timeout=10)
            return ErrorCode(altered.error_code), ErrorCode(listed.error_code)

    return asyncio.run(go())


def admin_code(futures: dict) -> int | None:
    (f,) = futures.values()
    try:
        f.result(10)
    except KafkaException as exc:
        return int(exc.args[0].code())
    return None


def test_closed_broker_super_users_and_acls_across_restarts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with BrokerProcess(data, overrides={**BASE, "allow.everyone.if.no.acl.found": "true"}) as p:
        b = p.bootstrap
        confluent_create_topic(b, "locked-1")
        assert produce(b, "locked-1", b"secret") is OK
        grant(b, acl("CLUSTER", "kafka-cluster", "ALTER"), acl("CLUSTER", "kafka-cluster", "DESCRIBE"),
              acl("TOPIC", "locked-", "ALL", "DENY", pattern="PREFIXED", principal="User:*"),
              # the consumers that read by assign() look up their (unused) group's coordinator
              acl("GROUP", "assign-", "READ", pattern="PREFIXED"))
        assert produce(b, "locked-1", b"x") == TOPIC_DENIED

    with BrokerProcess(data, overrides={**BASE, "super.users": "User:admin;User:ANONYMOUS"}) as p:
        assert produce(p.bootstrap, "locked-1", b"super") is OK
        # a group made by the super user, which ANONYMOUS will not see in phase 3
        assert consume(p.bootstrap, "locked-1", group="hidden-group") == [b"secret", b"super"]
        assert init_producer_id(p.bootstrap) == ErrorCode.none

    with BrokerProcess(data, overrides=BASE) as p:
        b = p.bootstrap
        a = admin(b)
        flt = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,  # type: ignore[arg-type]
                               AclOperation.ANY, AclPermissionType.ANY)
        kept = {(x.name, x.operation.name, x.permission_type.name) for x in a.describe_acls(flt).result(10)}
        assert kept == {("kafka-cluster", "ALTER", "ALLOW"), ("kafka-cluster", "DESCRIBE", "ALLOW"),
                        ("locked-", "ALL", "DENY"), ("assign-", "READ", "ALLOW")}
        assert produce(b, "locked-1") == TOPIC_DENIED
        assert "locked-1" not in a.list_topics(timeout=10).topics

        # nothing is allowed without an ACL: an idempotent producer (no IdempotentWrite,
        # no Write on any topic), CreateTopics and auto-creation (no Create), broker configs
        assert init_producer_id(b) == ErrorCode.cluster_authorization_failed
        assert admin_code(a.create_topics([NewTopic("ct-1", 1, 1)], request_timeout=10)) == TOPIC_DENIED
        assert produce(b, "ct-auto") == TOPIC_DENIED
        broker_configs = ConfigResource(ConfigResource.Type.BROKER, "0")
        assert admin_code(a.describe_configs([broker_configs], request_timeout=10)) == \
            KafkaError.CLUSTER_AUTHORIZATION_FAILED

        grant(b, acl("TOPIC", "ct-", "CREATE", pattern="PREFIXED"), acl("TOPIC", "ct-", "WRITE", pattern="PREFIXED"))
        assert admin_code(a.create_topics([NewTopic("ct-1", 1, 1)], request_timeout=10)) is None
        assert produce(b, "ct-auto", b"auto-created") is OK
        assert init_producer_id(b) == ErrorCode.none  # Write on some topic is enough (KIP-679)
        assert produce(b, "ct-auto", b"idempotent", **{"enable.idempotence": True}) is OK
        assert consume(b, "ct-auto") == TOPIC_DENIED  # no Read
        assert follower_fetch(b, "ct-auto") == ErrorCode.topic_authorization_failed  # no ClusterAction
        assert offset_for_leader_epoch(b, "ct-auto") == ErrorCode.none  # Describe, implied by Write
        assert offset_for_leader_epoch(b, "locked-1") == ErrorCode.topic_authorization_failed

        # transactions need Write on the transactional id
        def transaction() -> None:
            tp = Producer({"bootstrap.servers": b, "transactional.id": "tx-1", "socket.timeout.ms": 5000})
            tp.init_transactions(10)
            tp.begin_transaction()
            tp.produce("ct-1", b"in-txn")
            tp.commit_transaction(10)

        with pytest.raises(KafkaException) as exc:
            transaction()
        assert exc.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        grant(b, acl("TRANSACTIONAL_ID", "tx-1", "WRITE"))
        transaction()

        # ListGroups: without Describe on the cluster, only the groups the principal may Describe
        grant(b, acl("TOPIC", "ct-", "READ", pattern="PREFIXED"), acl("GROUP", "lg-", "READ", pattern="PREFIXED"))
        assert consume(b, "ct-1", group="lg-1") == [b"in-txn"]
        assert {"hidden-group", "lg-1"} <= {g.group_id for g in a.list_consumer_groups().result(10).valid}
        grant(b, acl("CLUSTER", "kafka-cluster", "DESCRIBE", "DENY"))
        listed = {g.group_id for g in a.list_consumer_groups().result(10).valid}
        assert "lg-1" in listed
        assert "hidden-group" not in listed

        # with a DENY of Alter on the cluster, not even ACLs can be changed any more
        grant(b, acl("CLUSTER", "kafka-cluster", "ALTER", "DENY"))
        assert admin_code(a.create_acls([acl("TOPIC", "any", "READ")], request_timeout=10)) == \
            KafkaError.CLUSTER_AUTHORIZATION_FAILED
        denied = ErrorCode.cluster_authorization_failed
        assert reassignment_codes(b) == (denied, denied)
        log = p.log_path.read_text()
        assert ("Principal = User:ANONYMOUS is Denied Operation = Alter from host = 127.0.0.1 on resource = "
                "Cluster:LITERAL:kafka-cluster for request = CreateAcls with resourceRefCount = 1") in log

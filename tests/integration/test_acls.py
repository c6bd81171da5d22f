"""ACLs with real clients (confluent-kafka) against a broker with Kafka's AclAuthorizer.

Until SASL lands every connection is User:ANONYMOUS, so each test makes ACLs for
ANONYMOUS (and for other principals, which must then not let ANONYMOUS in). The shared
broker runs allow.everyone.if.no.acl.found=true: a resource without ACLs is open, one
with ACLs allows exactly what they allow; each test works on names of its own so the
prefixed patterns of one never reach another's. The other way round
(allow.everyone.if.no.acl.found=false), super users and ACLs surviving a restart are in
test_acls_closed.py.
"""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from integration.acl_clients import (
    GROUP_DENIED,
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
from integration.helpers import confluent_create_topic
from snakafka.testing.process import BrokerProcess


def test_admin_client_creates_describes_and_deletes_acls(acl_broker: BrokerProcess) -> None:
    b = acl_broker.bootstrap
    t = unique("adm-")
    grant(b, acl("TOPIC", t, "READ", principal="User:alice"),
          acl("TOPIC", f"{t}-", "WRITE", "DENY", pattern="PREFIXED", principal="User:bob", host="10.1.2.3"),
          acl("GROUP", t, "READ", principal="User:alice"))
    a = admin(b)

    def described(resource: ResourceType, name: str | None, pattern: ResourcePatternType,
                  principal: str | None = None) -> set[tuple[str, str, str, str, str]]:
        flt = AclBindingFilter(resource, name, pattern, principal, None,  # type: ignore[arg-type]  # None: any
                               AclOperation.ANY, AclPermissionType.ANY)
        return {(x.restype.name, x.name, x.resource_pattern_type.name, x.principal, x.operation.name)
                for x in a.describe_acls(flt, request_timeout=10).result(10)}

    mine = {("TOPIC", t, "LITERAL", "User:alice", "READ"), ("TOPIC", f"{t}-", "PREFIXED", "User:bob", "WRITE"),
            ("GROUP", t, "LITERAL", "User:alice", "READ")}
    assert mine <= described(ResourceType.ANY, None, ResourcePatternType.ANY)
    # MATCH: every pattern that applies to the named topic
    assert described(ResourceType.TOPIC, f"{t}-x", ResourcePatternType.MATCH) == {("TOPIC", f"{t}-", "PREFIXED", "User:bob", "WRITE")}
    assert described(ResourceType.TOPIC, t, ResourcePatternType.LITERAL) == {("TOPIC", t, "LITERAL", "User:alice", "READ")}
    assert described(ResourceType.ANY, None, ResourcePatternType.ANY, "User:bob") >= {("TOPIC", f"{t}-", "PREFIXED", "User:bob", "WRITE")}

    deleted = revoke(b, "TOPIC", t, "MATCH")  # the literal and nothing else (the prefix does not prefix t)
    assert {(d.name, d.principal) for d in deleted} == {(t, "User:alice")}
    assert described(ResourceType.TOPIC, t, ResourcePatternType.ANY) == set()
    assert {d.name for d in revoke(b, "ANY", f"{t}-", "ANY")} == {f"{t}-"}
    assert {d.name for d in revoke(b, "GROUP", t)} == {t}
    assert not {x for x in described(ResourceType.ANY, None, ResourcePatternType.ANY) if t in x[1]}

    # a binding Kafka refuses: INVALID_REQUEST with its reason
    bad = acl("CLUSTER", "not-kafka-cluster", "ALTER")
    (future,) = a.create_acls([bad], request_timeout=10).values()
    with pytest.raises(KafkaException) as exc:
        future.result(10)
    assert exc.value.args[0].code() == KafkaError.INVALID_REQUEST
    assert "kafka-cluster" in exc.value.args[0].str()


def test_topic_read_write_matrix(acl_broker: BrokerProcess) -> None:
    b = acl_broker.bootstrap
    t = unique("mx-")
    confluent_create_topic(b, t)
    assert produce(b, t, b"open") is OK  # no ACL on t: allow.everyone.if.no.acl.found
    grant(b, acl("TOPIC", t, "WRITE"))
    assert produce(b, t, b"w") is OK  # Write (which implies Describe)
    assert consume(b, t) == TOPIC_DENIED  # but not Read
    grant(b, acl("TOPIC", t, "READ"))
    assert consume(b, t) == [b"open", b"w"]
    # DENY over ALLOW, through a prefixed pattern
    grant(b, acl("TOPIC", t[:-2], "READ", "DENY", pattern="PREFIXED"))
    assert consume(b, t) == TOPIC_DENIED
    assert produce(b, t, b"still") is OK
    # host filters: a DENY for another address changes nothing, one for ours refuses
    grant(b, acl("TOPIC", t, "WRITE", "DENY", host="10.9.9.9"))
    assert produce(b, t, b"other-host") is OK
    grant(b, acl("TOPIC", t, "WRITE", "DENY", host="127.0.0.1"))
    assert produce(b, t, b"x") == TOPIC_DENIED
    # ACLs of another principal do not let ANONYMOUS in; removing all reopens the topic
    revoke(b, "TOPIC", t)
    revoke(b, "TOPIC", t[:-2], "PREFIXED")
    grant(b, acl("TOPIC", t, "ALL", principal="User:bob"))
    assert produce(b, t, b"x") == TOPIC_DENIED
    revoke(b, "TOPIC", t)
    assert produce(b, t, b"reopened") is OK


def test_metadata_hides_topics_the_principal_may_not_describe(acl_broker: BrokerProcess) -> None:
    b = acl_broker.bootstrap
    hidden, visible = unique("hid-"), unique("vis-")
    confluent_create_topic(b, hidden)
    confluent_create_topic(b, visible)
    grant(b, acl("TOPIC", hidden, "READ", principal="User:bob"))
    a = admin(b)
    listed = a.list_topics(timeout=10).topics
    assert visible in listed
    assert hidden not in listed
    by_name = a.list_topics(topic=hidden, timeout=10).topics[hidden]
    assert by_name.error is not None and by_name.error.code() == TOPIC_DENIED
    # Describe through Write or Delete shows it again (implied operations)
    grant(b, acl("TOPIC", hidden, "DELETE"))
    assert hidden in a.list_topics(timeout=10).topics



def test_group_matrix(acl_broker: BrokerProcess) -> None:
    b = acl_broker.bootstrap
    t, g = unique("gt-"), unique("grp-")
    confluent_create_topic(b, t)
    assert produce(b, t, b"one") is OK
    grant(b, acl("TOPIC", t, "READ"), acl("GROUP", g, "READ", principal="User:bob"))
    assert consume(b, t, group=g) == GROUP_DENIED
    grant(b, acl("GROUP", g[:-3], "READ", pattern="PREFIXED"))
    assert consume(b, t, group=g) == [b"one"]  # joined, read and committed
    a = admin(b)
    from confluent_kafka import ConsumerGroupTopicPartitions

    (future,) = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)], request_timeout=10).values()
    assert [(p.topic, p.offset) for p in future.result(10).topic_partitions] == [(t, 1)]
    (described,) = a.describe_consumer_groups([g], include_authorized_operations=True, request_timeout=10).values()
    ops = {op.name for op in described.result(10).authorized_operations}
    assert ops == {"READ", "DESCRIBE"}  # Describe implied by Read; no Delete
    listed = {x.group_id for x in a.list_consumer_groups(request_timeout=10).result(10).valid}
    assert g in listed  # may Describe the group
    (deleted,) = a.delete_consumer_groups([g], request_timeout=10).values()
    with pytest.raises(KafkaException) as exc:
        deleted.result(10)
    assert exc.value.args[0].code() == GROUP_DENIED
    # OffsetCommit needs Read on the topic too: with only Describe, the commit is refused
    revoke(b, "TOPIC", t)
    grant(b, acl("TOPIC", t, "DESCRIBE"), acl("TOPIC", t, "WRITE"))
    assert consume(b, t, group=g) == TOPIC_DENIED
    # a DENY on the group wins over the prefixed ALLOW
    grant(b, acl("GROUP", g, "ALL", "DENY"))
    assert consume(b, t, group=g) == GROUP_DENIED


def test_authorized_operations_of_topics_and_cluster(acl_broker: BrokerProcess) -> None:
    b = acl_broker.bootstrap
    t = unique("ops-")
    confluent_create_topic(b, t)
    grant(b, acl("TOPIC", t, "WRITE"), acl("TOPIC", t, "ALTER_CONFIGS"))
    a = admin(b)
    from confluent_kafka import TopicCollection

    (future,) = a.describe_topics(TopicCollection([t]), include_authorized_operations=True, request_timeout=10).values()
    ops = {op.name for op in future.result(10).authorized_operations}
    assert ops == {"WRITE", "DESCRIBE", "ALTER_CONFIGS", "DESCRIBE_CONFIGS"}
    cluster = a.describe_cluster(include_authorized_operations=True, request_timeout=10).result(10)
    # no ACL on the cluster: everything (allow.everyone.if.no.acl.found)
    assert {op.name for op in cluster.authorized_operations} == {
        "CREATE", "CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE", "ALTER", "DESCRIBE"}


def test_topic_admin_requests_check_the_topic(acl_broker: BrokerProcess) -> None:
    """DeleteTopics needs Delete, CreatePartitions Alter, DescribeConfigs DescribeConfigs
    (or AlterConfigs): with ACLs on the topic that allow none of these, each is refused."""
    b = acl_broker.bootstrap
    t = unique("tadm-")
    confluent_create_topic(b, t)
    grant(b, acl("TOPIC", t, "READ"))
    a = admin(b)
    from confluent_kafka.admin import ConfigResource, NewPartitions

    def code(futures: dict) -> int | None:
        (f,) = futures.values()
        try:
            f.result(10)
        except KafkaException as exc:
            return int(exc.args[0].code())
        return None

    assert code(a.create_partitions([NewPartitions(t, 2)], request_timeout=10)) == TOPIC_DENIED
    assert code(a.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, t)], request_timeout=10)) == TOPIC_DENIED
    assert code(a.delete_topics([t], request_timeout=10)) == TOPIC_DENIED
    assert code(a.create_topics([NewTopic(t, 1, 1)], request_timeout=10)) == KafkaError.TOPIC_ALREADY_EXISTS
    grant(b, acl("TOPIC", t, "ALTER"), acl("TOPIC", t, "DELETE"), acl("TOPIC", t, "DESCRIBE_CONFIGS"))
    assert code(a.create_partitions([NewPartitions(t, 2)], request_timeout=10)) is None
    assert code(a.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, t)], request_timeout=10)) is None
    assert code(a.delete_topics([t], request_timeout=10)) is None


def test_kafka_python_admin_acls(acl_broker: BrokerProcess) -> None:
    """kafka-python's KafkaAdminClient speaks the same ACL APIs (at the versions it knows)."""
    from kafka.admin import (
        ACL,
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        KafkaAdminClient,
    )
    from kafka.admin import ResourcePattern as KpPattern
    from kafka.admin import ResourcePatternFilter as KpPatternFilter
    from kafka.admin import ResourceType as KpResourceType

    name = unique("kp-")
    client = KafkaAdminClient(bootstrap_servers=acl_broker.bootstrap)
    try:
        created = client.create_acls([ACL("User:alice", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
                                          KpPattern(KpResourceType.TOPIC, name, ACLResourcePatternType.PREFIXED))])
        assert not created["failed"] and len(created["succeeded"]) == 1
        match = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                          KpPatternFilter(KpResourceType.TOPIC, f"{name}-x", ACLResourcePatternType.MATCH))
        found, _error = client.describe_acls(match)
        assert [(a.principal, a.resource_pattern.resource_name) for a in found] == [("User:alice", name)]
        ((_filter, deleted, _code),) = client.delete_acls([match])
        assert [a.resource_pattern.resource_name for a in deleted] == [name]
    finally:
        client.close()

"""confluent-kafka (librdkafka) AdminClient against a real snakafka broker subprocess:
creating (and validating), listing, describing, growing and deleting topics, topic and
broker configs, and what producing to a deleted topic does with auto-create on and off.
"""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
)

from integration.helpers import (
    BASE_TS,
    Send,
    confluent_admin,
    confluent_consume,
    confluent_create_topic,
    confluent_produce,
    confluent_producer,
    confluent_topic_metadata,
    wait_until,
)
from snakafka.testing.process import BrokerProcess

TIMEOUT = 10


def _exists(admin, name) -> bool:
    t = admin.list_topics(timeout=5).topics.get(name)
    return t is not None and t.error is None


def _describe(admin, name) -> dict:
    res = ConfigResource(ConfigResource.Type.TOPIC, name)
    return admin.describe_configs([res], request_timeout=TIMEOUT)[res].result(TIMEOUT)


def test_admin_create_list_describe_alter_partitions(broker: BrokerProcess, topic_name: str) -> None:
    admin = confluent_admin(broker.bootstrap)
    fs = admin.create_topics([NewTopic(topic_name, num_partitions=3, replication_factor=1,
                                       config={"retention.ms": "123456789", "max.message.bytes": "200000"})],
                             operation_timeout=TIMEOUT, request_timeout=TIMEOUT)
    assert fs[topic_name].result(TIMEOUT) is None

    t = wait_until(lambda: confluent_topic_metadata(admin, topic_name), TIMEOUT, message="topic in metadata")
    assert t.error is None
    assert sorted(t.partitions) == [0, 1, 2]
    for pid, p in t.partitions.items():
        assert p.id == pid
        assert p.leader == 0
        assert p.replicas == [0]
        assert p.isrs == [0]
        assert p.error is None
    assert topic_name in admin.list_topics(timeout=5).topics

    configs = _describe(admin, topic_name)
    assert configs["retention.ms"].value == "123456789"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["max.message.bytes"].value == "200000"
    assert configs["cleanup.policy"].value == "delete"
    assert configs["cleanup.policy"].source == ConfigSource.DEFAULT_CONFIG.value
    assert configs["message.timestamp.type"].value == "CreateTime"

    # creating it again fails with TOPIC_ALREADY_EXISTS
    fs = admin.create_topics([NewTopic(topic_name, num_partitions=1, replication_factor=1)], request_timeout=TIMEOUT)
    with pytest.raises(KafkaException) as exc:
        fs[topic_name].result(TIMEOUT)
    assert exc.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS

    # create partitions 3 -> 5; shrinking is refused
    fs = admin.create_partitions([NewPartitions(topic_name, 5)], request_timeout=TIMEOUT)
    assert fs[topic_name].result(TIMEOUT) is None
    wait_until(lambda: len(confluent_topic_metadata(admin, topic_name).partitions) == 5, TIMEOUT, message="5 partitions")
    assert all(p.leader == 0 for p in confluent_topic_metadata(admin, topic_name).partitions.values())
    fs = admin.create_partitions([NewPartitions(topic_name, 2)], request_timeout=TIMEOUT)
    with pytest.raises(KafkaException) as exc:
        fs[topic_name].result(TIMEOUT)
    assert exc.value.args[0].code() == KafkaError.INVALID_PARTITIONS
    # new partitions take records
    acked = confluent_produce(broker.bootstrap, topic_name, [Send(b"k", b"on-4", (), BASE_TS, partition=4)])
    assert (acked[0].partition, acked[0].offset) == (4, 0)

    # incremental alter: set one, delete another (back to its default)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic_name, incremental_configs=[
        ConfigEntry("retention.ms", "555000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("max.message.bytes", None, incremental_operation=AlterConfigOpType.DELETE),
    ])
    admin.incremental_alter_configs([res], request_timeout=TIMEOUT)[res].result(TIMEOUT)
    configs = _describe(admin, topic_name)
    assert configs["retention.ms"].value == "555000"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["max.message.bytes"].value == "1048588"
    assert configs["max.message.bytes"].source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value

    # an invalid value is refused and changes nothing
    res = ConfigResource(ConfigResource.Type.TOPIC, topic_name, incremental_configs=[
        ConfigEntry("retention.ms", "not-a-number", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as exc:
        admin.incremental_alter_configs([res], request_timeout=TIMEOUT)[res].result(TIMEOUT)
    assert exc.value.args[0].code() == KafkaError.INVALID_CONFIG
    assert _describe(admin, topic_name)["retention.ms"].value == "555000"

    # delete: gone from metadata
    assert admin.delete_topics([topic_name], operation_timeout=TIMEOUT, request_timeout=TIMEOUT)[topic_name].result(TIMEOUT) is None
    wait_until(lambda: not _exists(admin, topic_name), TIMEOUT, message="topic gone from metadata")
    # deleting it again: UNKNOWN_TOPIC_OR_PART
    with pytest.raises(KafkaException) as exc:
        admin.delete_topics([topic_name], request_timeout=TIMEOUT)[topic_name].result(TIMEOUT)
    assert exc.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_delete_topic_without_auto_create(noauto_broker: BrokerProcess, topic_name: str) -> None:
    """With auto.create.topics.enable=false a deleted topic stays gone: producing fails."""
    bootstrap = noauto_broker.bootstrap
    admin = confluent_admin(bootstrap)
    confluent_create_topic(bootstrap, topic_name, 2)
    acked = confluent_produce(bootstrap, topic_name, [Send(b"k", b"before-delete", (), BASE_TS, partition=1)])
    assert (acked[0].partition, acked[0].offset) == (1, 0)
    admin.delete_topics([topic_name], request_timeout=TIMEOUT)[topic_name].result(TIMEOUT)
    wait_until(lambda: not _exists(admin, topic_name), TIMEOUT, message="topic gone from metadata")

    p = confluent_producer(bootstrap, {"message.timeout.ms": 3000, "topic.metadata.propagation.max.ms": 500})
    errors = []
    p.produce(topic_name, b"after-delete", on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(10) == 0
    assert len(errors) == 1 and errors[0] is not None, f"produce to a deleted topic succeeded: {errors}"
    assert errors[0].code() in (KafkaError._UNKNOWN_TOPIC, KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._MSG_TIMED_OUT), errors[0]
    assert not _exists(admin, topic_name), "a metadata request re-created the topic with auto-create off"


def test_deleted_topic_recreated_by_auto_create(broker: BrokerProcess, topic_name: str) -> None:
    """With auto-create on (the default), producing to a deleted topic creates it anew
    with num.partitions (1) partitions and an empty log."""
    admin = confluent_admin(broker.bootstrap)
    confluent_create_topic(broker.bootstrap, topic_name, 3)
    confluent_produce(broker.bootstrap, topic_name, [Send(None, b"old", (), BASE_TS, partition=0)] * 3)
    admin.delete_topics([topic_name], request_timeout=TIMEOUT)[topic_name].result(TIMEOUT)
    wait_until(lambda: not _exists(admin, topic_name), TIMEOUT, message="topic gone from metadata")
    acked = confluent_produce(broker.bootstrap, topic_name, [Send(None, b"new", (), BASE_TS + 1)])
    assert (acked[0].partition, acked[0].offset) == (0, 0)
    assert len(confluent_topic_metadata(admin, topic_name).partitions) == 1
    got = confluent_consume(broker.bootstrap, topic_name, [0])
    assert [(r.offset, r.value) for r in got] == [(0, b"new")]


def test_create_topics_validation(broker: BrokerProcess, topic_name: str) -> None:
    admin = confluent_admin(broker.bootstrap)

    def create_error(topic: NewTopic, **kw) -> int:
        fs = admin.create_topics([topic], request_timeout=TIMEOUT, **kw)
        try:
            fs[topic.topic].result(TIMEOUT)
        except KafkaException as exc:
            return exc.args[0].code()
        return KafkaError.NO_ERROR

    assert create_error(NewTopic(topic_name, num_partitions=1, replication_factor=3)) == KafkaError.INVALID_REPLICATION_FACTOR
    assert create_error(NewTopic(topic_name, num_partitions=0, replication_factor=1)) == KafkaError.INVALID_PARTITIONS
    assert create_error(NewTopic("bad name!", num_partitions=1, replication_factor=1)) == KafkaError.TOPIC_EXCEPTION
    assert create_error(NewTopic("x" * 250, num_partitions=1, replication_factor=1)) == KafkaError.TOPIC_EXCEPTION
    assert create_error(NewTopic(topic_name, 1, 1, config={"retention.ms": "soon"})) == KafkaError.INVALID_CONFIG
    assert create_error(NewTopic(topic_name, 1, 1, config={"no.such.config": "1"})) == KafkaError.INVALID_CONFIG
    assert create_error(NewTopic(topic_name, 1, 1, config={"cleanup.policy": "shred"})) == KafkaError.INVALID_CONFIG
    # validate_only: accepted, not created
    assert create_error(NewTopic(topic_name, num_partitions=2, replication_factor=1), validate_only=True) == KafkaError.NO_ERROR
    assert not _exists(admin, topic_name)
    # -1 defaults: num.partitions (1) and default.replication.factor (1)
    assert create_error(NewTopic(topic_name)) == KafkaError.NO_ERROR
    t = wait_until(lambda: confluent_topic_metadata(admin, topic_name), TIMEOUT, message="topic in metadata")
    assert len(t.partitions) == 1 and t.partitions[0].replicas == [0]
    assert not _exists(admin, "bad name!")


def test_describe_broker_configs(broker: BrokerProcess) -> None:
    admin = confluent_admin(broker.bootstrap)
    res = ConfigResource(ConfigResource.Type.BROKER, "0")
    configs = admin.describe_configs([res], request_timeout=TIMEOUT)[res].result(TIMEOUT)
    assert configs["message.max.bytes"].value == "1048588"
    assert configs["num.partitions"].value == "1"
    assert configs["auto.create.topics.enable"].value == "true"
    # set by --override on the command line: a static broker config
    assert configs["group.initial.rebalance.delay.ms"].value == "0"
    assert configs["group.initial.rebalance.delay.ms"].source == ConfigSource.STATIC_BROKER_CONFIG.value

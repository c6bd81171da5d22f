"""Group administration: confluent-kafka's AdminClient and the `snakafka groups` CLI."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest
from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from snakafka.testing.process import BrokerProcess

from .group_clients import member, produce_numbered, settle
from .helpers import confluent_create_topic


def cli(broker: BrokerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "snakafka", "groups", *args, "--bootstrap-server", broker.bootstrap],
                          check=False, capture_output=True, text=True, timeout=60)


def test_list_describe_lag_reset_and_delete(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    produce_numbered(broker.bootstrap, topic_name, 10, 2)
    group = f"adm-{uuid.uuid4().hex[:8]}"
    c = member(broker.bootstrap, group)
    c.subscribe([topic_name])
    settle([c], {0, 1}, [2])
    c.commit(offsets=[TopicPartition(topic_name, 0, 3), TopicPartition(topic_name, 1, 5)], asynchronous=False)

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    listed = admin.list_consumer_groups().result(20)
    assert group in {g.group_id for g in listed.valid}
    described = admin.describe_consumer_groups([group])[group].result(20)
    assert len(described.members) == 1
    assert {tp.partition for tp in described.members[0].assignment.topic_partitions} == {0, 1}

    out = cli(broker, "list")
    assert out.returncode == 0 and group in out.stdout and "Stable" in out.stdout
    out = cli(broker, "describe", group)
    assert out.returncode == 0, out.stderr
    rows = {tuple(line.split()[1:6]) for line in out.stdout.splitlines() if line.startswith(group)}
    assert (topic_name, "0", "3", "5", "2") in rows and (topic_name, "1", "5", "5", "0") in rows, out.stdout

    refused = cli(broker, "reset-offsets", "--group", group, "--topic", topic_name, "--to-earliest", "--execute")
    assert refused.returncode != 0 and "inactive" in refused.stderr

    failed = admin.delete_consumer_groups([group])[group]
    with pytest.raises(KafkaException) as refused_delete:
        failed.result(20)
    assert refused_delete.value.args[0].code() == KafkaError.NON_EMPTY_GROUP
    c.close()

    reset = cli(broker, "reset-offsets", "--group", group, "--topic", topic_name, "--to-earliest", "--execute")
    assert reset.returncode == 0, reset.stderr
    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(20)
    assert {tp.partition: tp.offset for tp in offsets.topic_partitions} == {0: 0, 1: 0}
    moved = cli(broker, "reset-offsets", "--group", group, "--topic", topic_name, "--to-offset", "4", "--execute")
    assert moved.returncode == 0, moved.stderr
    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(20)
    assert {tp.partition: tp.offset for tp in offsets.topic_partitions} == {0: 4, 1: 4}

    admin.delete_consumer_groups([group])[group].result(20)
    deadline = time.monotonic() + 10
    while group in {g.group_id for g in admin.list_consumer_groups().result(20).valid} and time.monotonic() < deadline:
        time.sleep(0.1)
    assert group not in {g.group_id for g in admin.list_consumer_groups().result(20).valid}
    asked = [TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)]
    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, asked)])[group].result(20)
    assert len(offsets.topic_partitions) == 2
    assert all(tp.offset < 0 for tp in offsets.topic_partitions), "a deleted group has no committed offsets"

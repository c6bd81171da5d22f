"""The admin commands (topics, configs, cluster describe, leader-election, delete-records,
log-dirs, describe-producers, groups --output json) against a single broker process,
their results checked with confluent-kafka where a real client can see them, `--output
json` parsed back, and every error path: exit status 1 with one line on stderr for an
unreachable broker, a missing topic or a refused request, 2 for bad arguments."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import ConfigResource, ResourceType

from snakafka.testing.process import BrokerProcess, free_port

from .admin_cli import snakafka, snakafka_process
from .helpers import (
    Send,
    confluent_admin,
    confluent_create_topic,
    confluent_produce,
    confluent_producer,
    wait_until,
)


def boot(broker: BrokerProcess) -> tuple[str, str]:
    return ("--bootstrap-server", broker.bootstrap)


# -- topics ------------------------------------------------------------------------------


def test_topics_create_list_describe_alter_delete(broker: BrokerProcess, topic_name: str) -> None:
    b = boot(broker)
    created = snakafka("topics", "create", *b, "--topic", topic_name, "--partitions", "3",
                       "--config", "retention.ms=123456", "--config", "max.message.bytes=50000").ok()
    assert created.stdout.strip() == f"Created topic {topic_name}."
    # a real client sees what the command made
    admin = confluent_admin(broker.bootstrap)
    metadata = admin.list_topics(topic=topic_name, timeout=10).topics[topic_name]
    assert len(metadata.partitions) == 3
    resource = ConfigResource(ResourceType.TOPIC, topic_name)
    configs = admin.describe_configs([resource])[resource].result(10)
    assert configs["retention.ms"].value == "123456" and configs["max.message.bytes"].value == "50000"

    duplicate = snakafka("topics", "create", *b, "--topic", topic_name, "--partitions", "1")
    assert "TOPIC_ALREADY_EXISTS" in duplicate.failed_with_one_line()
    assert snakafka("topics", "create", *b, "--topic", topic_name, "--if-not-exists").ok().stdout == ""

    assert topic_name in snakafka("topics", "list", *b, "--output", "json").json()
    assert topic_name in snakafka("topics", "list", *b).ok().stdout.splitlines()
    assert "__consumer_offsets" not in snakafka("topics", "list", *b, "--exclude-internal", "--output", "json").json()

    [described] = snakafka("topics", "describe", *b, "--topic", topic_name, "--output", "json").json()
    assert described["name"] == topic_name
    assert described["partitions"] == [{"partition": p, "leader": 0, "replicas": [0], "isr": [0], "offline_replicas": []}
                                       for p in range(3)]
    assert described["configs"]["retention.ms"] == "123456" and described["configs"]["max.message.bytes"] == "50000"
    assert "segment.bytes" not in described["configs"], "only non-default configs"
    text = snakafka("topics", "describe", *b, "--topic", topic_name).ok().stdout.splitlines()
    assert text[0].startswith(f"Topic: {topic_name}\tTopicId: ") and "PartitionCount: 3\tReplicationFactor: 1" in text[0]
    assert "retention.ms=123456" in text[0]
    assert text[1:] == [f"\tTopic: {topic_name}\tPartition: {p}\tLeader: 0\tReplicas: 0\tIsr: 0" for p in range(3)]

    snakafka("topics", "alter", *b, "--topic", topic_name, "--partitions", "5").ok()
    wait_until(lambda: len(admin.list_topics(topic=topic_name, timeout=10).topics[topic_name].partitions) == 5,
               message="5 partitions")
    refused = snakafka("topics", "alter", *b, "--topic", topic_name, "--partitions", "2")
    assert "INVALID_PARTITIONS" in refused.failed_with_one_line()

    snakafka("topics", "delete", *b, "--topic", topic_name).ok()
    assert topic_name not in snakafka("topics", "list", *b, "--output", "json").json()
    missing = f"Topic '{topic_name}' does not exist as expected"
    assert snakafka("topics", "delete", *b, "--topic", topic_name).failed_with_one_line().endswith(missing)
    snakafka("topics", "delete", *b, "--topic", topic_name, "--if-exists").ok()
    assert snakafka("topics", "describe", *b, "--topic", topic_name).failed_with_one_line().endswith(missing)
    assert snakafka("topics", "describe", *b, "--topic", topic_name, "--if-exists", "--output", "json").json() == []
    assert snakafka("topics", "alter", *b, "--topic", topic_name, "--partitions", "9").failed_with_one_line() \
        .endswith(missing)
    snakafka("topics", "alter", *b, "--topic", topic_name, "--partitions", "9", "--if-exists").ok()


def test_topics_replica_assignment_and_partition_filters(broker: BrokerProcess, topic_name: str) -> None:
    b = boot(broker)
    snakafka("topics", "create", *b, "--topic", topic_name, "--replica-assignment", "0,0",
             "--config", "min.insync.replicas=2").ok()
    [t] = snakafka("topics", "describe", *b, "--topic", topic_name, "--output", "json").json()
    assert [p["replicas"] for p in t["partitions"]] == [[0], [0]]
    # one replica in the ISR, min.insync.replicas 2: under min ISR, not under-replicated
    under_min = snakafka("topics", "describe", *b, "--topic", topic_name, "--under-min-isr-partitions",
                         "--output", "json").json()
    assert [p["partition"] for p in under_min[0]["partitions"]] == [0, 1]
    for flag in ("--under-replicated-partitions", "--unavailable-partitions", "--at-min-isr-partitions"):
        assert snakafka("topics", "describe", *b, "--topic", topic_name, flag, "--output", "json").json() == [], flag
    text = snakafka("topics", "describe", *b, "--topic", topic_name, "--under-min-isr-partitions").ok().stdout
    assert text.splitlines() == [f"\tTopic: {topic_name}\tPartition: {p}\tLeader: 0\tReplicas: 0\tIsr: 0" for p in (0, 1)]
    unknown_broker = snakafka("topics", "create", *b, "--topic", topic_name + "-x", "--replica-assignment", "7")
    assert "INVALID_REPLICA_ASSIGNMENT" in unknown_broker.failed_with_one_line()


# -- configs ---------------------------------------------------------------------------------


def test_topic_configs_describe_and_alter(broker: BrokerProcess, topic_name: str) -> None:
    b = boot(broker)
    confluent_create_topic(broker.bootstrap, topic_name, 1, {"retention.ms": "5000"})
    entity = ("--entity-type", "topics", "--entity-name", topic_name)
    [described] = snakafka("configs", *b, *entity, "--describe", "--output", "json").json()
    assert [(c["name"], c["value"], c["source"]) for c in described["configs"]] == \
        [("retention.ms", "5000", "DYNAMIC_TOPIC_CONFIG")]
    altered = snakafka("configs", *b, *entity, "--alter", "--add-config", "cleanup.policy=[compact,delete],segment.ms=60000",
                       "--delete-config", "retention.ms").ok()
    assert altered.stdout.strip() == f"Completed updating config for topic {topic_name}."
    resource = ConfigResource(ResourceType.TOPIC, topic_name)
    admin = confluent_admin(broker.bootstrap)
    seen = admin.describe_configs([resource])[resource].result(10)
    assert seen["cleanup.policy"].value == "compact,delete" and seen["segment.ms"].value == "60000"
    assert seen["retention.ms"].is_default
    text = snakafka("configs", *b, *entity, "--describe").ok().stdout.splitlines()
    assert text[0] == f"Dynamic configs for topic {topic_name} are:"
    assert any(line.startswith("  segment.ms=60000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:segment.ms=60000")
               for line in text)
    everything = snakafka("configs", *b, *entity, "--describe", "--all", "--output", "json").json()[0]["configs"]
    assert {c["name"]: c["source"] for c in everything}["segment.bytes"] == "DEFAULT_CONFIG"

    bad = snakafka("configs", *b, *entity, "--alter", "--add-config", "no.such.config=1")
    assert "INVALID_CONFIG" in bad.failed_with_one_line()
    missing = snakafka("configs", *b, "--entity-type", "topics", "--entity-name", topic_name + "-gone", "--describe")
    assert missing.failed_with_one_line().endswith("does not exist as expected")
    users = snakafka("configs", *b, "--entity-type", "users", "--entity-name", "alice", "--describe")
    assert "snakafka users" in users.failed_with_one_line()


def produce_error(bootstrap: str, topic: str, size: int) -> KafkaError | None:
    """Produce one record of `size` bytes; its delivery error (None: acknowledged)."""
    producer = confluent_producer(bootstrap, {"linger.ms": 0, "message.max.bytes": 10_000_000})
    errors: list[KafkaError | None] = []
    producer.produce(topic, b"x" * size, partition=0, on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(20)
    assert len(errors) == 1
    return errors[0]


def refused_as_too_large(bootstrap: str, topic: str) -> bool:
    error = produce_error(bootstrap, topic, 5000)
    return error is not None and error.code() == KafkaError.MSG_SIZE_TOO_LARGE


@pytest.mark.slow
def test_dynamic_broker_configs_apply_at_run_time_and_persist(fresh_broker: BrokerProcess, topic_name: str) -> None:
    """message.max.bytes set on the broker at run time refuses a larger record at once (the
    logs' configs follow), survives a restart (stored in the metadata file), and its removal
    lets the record in again; keys Kafka cannot change at run time are refused with its message."""
    b = boot(fresh_broker)
    confluent_create_topic(fresh_broker.bootstrap, topic_name, 1)
    assert produce_error(fresh_broker.bootstrap, topic_name, 5000) is None
    broker0 = ("--entity-type", "brokers", "--entity-name", "0")
    out = snakafka("configs", *b, *broker0, "--alter", "--add-config", "message.max.bytes=3000,log.retention.ms=7200000")
    assert out.ok().stdout.strip() == "Completed updating config for broker 0."
    assert refused_as_too_large(fresh_broker.bootstrap, topic_name)
    default = snakafka("configs", *b, "--entity-type", "brokers", "--entity-default", "--alter",
                       "--add-config", "log.cleaner.threads=2,leader.replication.throttled.rate=1048576")
    assert default.ok().stdout.strip() == "Completed updating default config for brokers in the cluster."

    described = {d["entity_name"]: {c["name"]: c for c in d["configs"]}
                 for d in snakafka("configs", *b, "--entity-type", "brokers", "--describe", "--output", "json").json()}
    assert described["<default>"]["log.cleaner.threads"]["source"] == "DYNAMIC_DEFAULT_BROKER_CONFIG"
    assert described["0"]["message.max.bytes"]["value"] == "3000"
    assert described["0"]["message.max.bytes"]["source"] == "DYNAMIC_BROKER_CONFIG"
    # confluent-kafka's AdminClient reads the same sources
    resource = ConfigResource(ResourceType.BROKER, "0")
    admin = confluent_admin(fresh_broker.bootstrap)
    seen = admin.describe_configs([resource])[resource].result(10)
    assert seen["message.max.bytes"].value == "3000" and seen["message.max.bytes"].source == 2
    assert seen["log.cleaner.threads"].value == "2" and seen["log.cleaner.threads"].source == 3
    assert not seen["log.retention.ms"].is_read_only and seen["num.partitions"].is_read_only
    topic = ConfigResource(ResourceType.TOPIC, topic_name)  # the topic's retention follows the broker's
    assert admin.describe_configs([topic])[topic].result(10)["retention.ms"].value == "7200000"

    fixed = snakafka("configs", *b, *broker0, "--alter", "--add-config", "num.partitions=4,log.retention.ms=1")
    assert fixed.failed_with_one_line().endswith(
        "INVALID_REQUEST: Invalid config value for resource ConfigResource(type=BROKER, name='0'): "
        "Cannot update these configs dynamically: Set(num.partitions)")
    bad_value = snakafka("configs", *b, *broker0, "--alter", "--add-config", "log.retention.ms=soon")
    assert "Invalid value soon for configuration log.retention.ms" in bad_value.failed_with_one_line()
    other = snakafka("configs", *b, "--entity-type", "brokers", "--entity-name", "3", "--describe")
    assert other.failed_with_one_line().startswith("snakafka configs: ")

    fresh_broker.stop()
    fresh_broker.start()
    assert refused_as_too_large(fresh_broker.bootstrap, topic_name)
    snakafka("configs", *b, *broker0, "--alter", "--delete-config", "message.max.bytes").ok()
    assert produce_error(fresh_broker.bootstrap, topic_name, 5000) is None
    assert "message.max.bytes" not in {c["name"] for c in snakafka(
        "configs", *b, *broker0, "--describe", "--output", "json").json()[0]["configs"]}


# -- cluster, elections, records, log dirs, producers --------------------------------------------


def test_cluster_describe(broker: BrokerProcess) -> None:
    described = snakafka("cluster", "describe", *boot(broker), "--output", "json").json()
    assert described["controller"] == 0 and len(described["cluster_id"]) == 22
    assert described["brokers"] == [{"id": 0, "host": "127.0.0.1", "port": broker.port, "rack": None}]
    text = snakafka("cluster", "describe", *boot(broker)).ok().stdout.splitlines()
    assert text[:2] == [f"Cluster ID: {described['cluster_id']}", "Controller: 0"]
    assert text[3].split() == ["0", "127.0.0.1", str(broker.port), "-"]


def test_leader_election_on_a_single_broker(broker: BrokerProcess, topic_name: str, tmp_path: Path) -> None:
    """A single broker is its own controller: every partition's only replica leads already."""
    b = boot(broker)
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    one = snakafka("leader-election", *b, "--election-type", "preferred", "--topic", topic_name, "--partition", "1")
    assert one.ok().stdout.strip() == f"Valid replica already elected for partitions {topic_name}-1"
    whole = snakafka("leader-election", *b, "--election-type", "PREFERRED", "--topic", topic_name, "--output", "json")
    assert whole.json()["noop"] == [{"topic": topic_name, "partition": p} for p in (0, 1)]
    everything = snakafka("leader-election", *b, "--election-type", "unclean", "--all-topic-partitions", "--output", "json")
    assert everything.json() == {"election_type": "UNCLEAN", "succeeded": [], "noop": [], "failed": []}
    path = tmp_path / "election.json"
    path.write_text(json.dumps({"partitions": [{"topic": topic_name, "partition": 0},
                                               {"topic": topic_name, "partition": 7}]}))
    partly = snakafka("leader-election", *b, "--election-type", "preferred", "--path-to-json-file", str(path))
    assert partly.exit_code == 1
    assert f"Valid replica already elected for partitions {topic_name}-0" in partly.stdout
    assert f"for partition: {topic_name}-7: UNKNOWN_TOPIC_OR_PARTITION" in partly.stderr


def test_delete_records_moves_the_log_start_offset(broker: BrokerProcess, topic_name: str, tmp_path: Path) -> None:
    b = boot(broker)
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    confluent_produce(broker.bootstrap, topic_name, [Send(None, b"v%d" % i, partition=i % 2) for i in range(20)])
    path = tmp_path / "offsets.json"
    path.write_text(json.dumps({"version": 1, "partitions": [{"topic": topic_name, "partition": 0, "offset": 4},
                                                             {"topic": topic_name, "partition": 1, "offset": -1}]}))
    done = snakafka("delete-records", *b, "--offset-json-file", str(path)).ok().stdout.splitlines()
    assert done == ["Executing records delete operation", "Records delete operation completed:",
                    f"partition: {topic_name}-0\tlow_watermark: 4", f"partition: {topic_name}-1\tlow_watermark: 10"]
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused"})
    try:
        assert consumer.get_watermark_offsets(TopicPartition(topic_name, 0), timeout=10) == (4, 10)
        assert consumer.get_watermark_offsets(TopicPartition(topic_name, 1), timeout=10) == (10, 10)
    finally:
        consumer.close()

    path.write_text(json.dumps({"version": 1, "partitions": [{"topic": topic_name, "partition": 0, "offset": 11},
                                                             {"topic": topic_name, "partition": 9, "offset": 1}]}))
    beyond = snakafka("delete-records", *b, "--offset-json-file", str(path), "--output", "json")
    assert beyond.exit_code == 1
    assert json.loads(beyond.stdout) == [
        {"topic": topic_name, "partition": 0, "low_watermark": None, "error": "OFFSET_OUT_OF_RANGE"},
        {"topic": topic_name, "partition": 9, "low_watermark": None, "error": "UNKNOWN_TOPIC_OR_PARTITION"}]
    compacted = topic_name + "-c"
    confluent_create_topic(broker.bootstrap, compacted, 1, {"cleanup.policy": "compact"})
    path.write_text(json.dumps({"version": 1, "partitions": [{"topic": compacted, "partition": 0, "offset": 0}]}))
    policy = snakafka("delete-records", *b, "--offset-json-file", str(path))
    assert policy.exit_code == 1 and "error: POLICY_VIOLATION" in policy.stdout


def test_log_dirs_and_describe_producers(broker: BrokerProcess, topic_name: str) -> None:
    b = boot(broker)
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    acked = confluent_produce(broker.bootstrap, topic_name, [Send(None, b"x" * 100, partition=0) for _ in range(5)],
                              conf={"enable.idempotence": True})
    assert len(acked) == 5
    described = snakafka("log-dirs", "--describe", *b, "--topic-list", topic_name, "--output", "json").json()
    [only] = described["brokers"]
    assert only["broker"] == 0
    sizes = {p["partition"]: p["size"] for d in only["logDirs"] for p in d["partitions"]}
    assert set(sizes) == {f"{topic_name}-0", f"{topic_name}-1"}
    assert sizes[f"{topic_name}-0"] > 500 and sizes[f"{topic_name}-1"] == 0
    assert str(broker.data_dir) in {d["logDir"] for d in only["logDirs"]}
    unknown = snakafka("log-dirs", "--describe", *b, "--broker-list", "4")
    assert "do not exist from --broker-list: 4" in unknown.failed_with_one_line()

    [producer] = snakafka("describe-producers", *b, "--topic", topic_name, "--partition", "0", "--output", "json").json()
    assert producer["producer_id"] >= 0 and producer["producer_epoch"] >= 0
    assert producer["last_sequence"] == 4 and producer["current_transaction_start_offset"] == -1
    assert snakafka("describe-producers", *b, "--topic", topic_name, "--partition", "1", "--output", "json").json() == []
    missing = snakafka("describe-producers", *b, "--topic", topic_name, "--partition", "5")
    assert "UNKNOWN_TOPIC_OR_PARTITION" in missing.failed_with_one_line()


def test_groups_output_json(broker: BrokerProcess, topic_name: str) -> None:
    b = boot(broker)
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    confluent_produce(broker.bootstrap, topic_name, [Send(None, b"v", partition=i % 2) for i in range(10)])
    group = f"g-{uuid.uuid4().hex[:8]}"
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic_name, 0, 2), TopicPartition(topic_name, 1, 5)], asynchronous=False)
    finally:
        consumer.close()
    listed = snakafka("groups", "list", *b, "--output", "json").json()
    assert {"group": group, "state": "Empty", "protocol_type": ""} in listed or \
        any(g["group"] == group for g in listed)
    described = snakafka("groups", "describe", group, *b, "--output", "json").json()
    assert described["group"] == group and described["members"] == 0
    assert [(p["topic"], p["partition"], p["current_offset"], p["log_end_offset"], p["lag"]) for p in
            described["partitions"]] == [(topic_name, 0, 2, 5, 3), (topic_name, 1, 5, 5, 0)]


def test_reassign_partitions_on_a_single_broker(broker: BrokerProcess, topic_name: str, tmp_path: Path) -> None:
    """--generate proposes the one broker; a single broker is no cluster controller, so
    the reassignment requests are refused with NOT_CONTROLLER (one line, status 1)."""
    b = boot(broker)
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    moves = tmp_path / "topics.json"
    moves.write_text(json.dumps({"topics": [{"topic": topic_name}], "version": 1}))
    generated = snakafka("reassign-partitions", *b, "--generate", "--topics-to-move-json-file", str(moves),
                         "--broker-list", "0").ok().stdout.splitlines()
    assert generated[0] == "Current partition replica assignment"
    assert json.loads(generated[1])["partitions"] == [
        {"topic": topic_name, "partition": p, "replicas": [0], "log_dirs": ["any"]} for p in (0, 1)]
    assert generated[3] == "Proposed partition reassignment configuration" and json.loads(generated[4]) == \
        json.loads(generated[1])
    too_many = snakafka("reassign-partitions", *b, "--generate", "--topics-to-move-json-file", str(moves),
                        "--broker-list", "0,1")
    assert "do not exist from --broker-list: 1" in too_many.failed_with_one_line()
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": topic_name, "partition": 0, "replicas": [0]}]}))
    refused = snakafka("reassign-partitions", *b, "--execute", "--reassignment-json-file", str(plan))
    assert "NOT_CONTROLLER" in refused.failed_with_one_line()
    assert "NOT_CONTROLLER" in snakafka("reassign-partitions", *b, "--list").failed_with_one_line()
    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": topic_name + "-gone", "partition": 0,
                                                              "replicas": [0]}]}))
    missing = snakafka("reassign-partitions", *b, "--execute", "--reassignment-json-file", str(plan))
    assert missing.failed_with_one_line().endswith("not found")


# -- errors ------------------------------------------------------------------------------------


COMMANDS = [
    ("topics", "list"),
    ("topics", "describe", "--topic", "t"),
    ("topics", "create", "--topic", "t"),
    ("topics", "alter", "--topic", "t", "--partitions", "2"),
    ("topics", "delete", "--topic", "t"),
    ("configs", "--entity-type", "topics", "--entity-name", "t", "--describe"),
    ("configs", "--entity-type", "brokers", "--entity-name", "0", "--alter", "--add-config", "log.retention.ms=1"),
    ("cluster", "describe"),
    ("leader-election", "--election-type", "preferred", "--all-topic-partitions"),
    ("log-dirs", "--describe"),
    ("describe-producers", "--topic", "t", "--partition", "0"),
    ("groups", "list"),
    ("groups", "describe", "g"),
    ("reassign-partitions", "--list"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_unreachable_broker_is_one_line_and_status_1(command: tuple[str, ...]) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    line = snakafka(*command, "--bootstrap-server", nobody).failed_with_one_line()
    assert line.startswith(f"snakafka {command[0]}: ") and "127.0.0.1" in line


def test_delete_records_unreachable(tmp_path: Path) -> None:
    path = tmp_path / "offsets.json"
    path.write_text(json.dumps({"partitions": [{"topic": "t", "partition": 0, "offset": 1}], "version": 1}))
    nobody = f"127.0.0.1:{free_port()}"
    assert snakafka("delete-records", "--bootstrap-server", nobody, "--offset-json-file", str(path)) \
        .failed_with_one_line().startswith("snakafka delete-records: ")


BAD_ARGUMENTS = [
    ("topics", "create"),  # no --topic
    ("topics", "create", "--topic", "t", "--partitions", "2", "--replica-assignment", "0,0"),
    ("topics", "create", "--topic", "t", "--replica-assignment", "0:x"),
    ("topics", "create", "--topic", "t", "--config", "noequals"),
    ("topics", "alter", "--topic", "t", "--partitions", "0"),
    ("topics", "list", "--output", "yaml"),
    ("configs", "--entity-type", "topics", "--entity-name", "t", "--describe", "--alter"),
    ("configs", "--entity-type", "topics", "--entity-name", "t", "--alter"),
    ("configs", "--entity-type", "brokers", "--entity-name", "zero", "--describe"),
    ("configs", "--entity-type", "topics", "--entity-default", "--describe"),
    ("configs", "--entity-type", "clients", "--describe"),
    ("leader-election", "--election-type", "preferred"),
    ("leader-election", "--election-type", "sideways", "--all-topic-partitions"),
    ("leader-election", "--election-type", "preferred", "--partition", "0", "--all-topic-partitions"),
    ("delete-records", "--offset-json-file", "/nonexistent/offsets.json"),
    ("describe-producers", "--topic", "t"),
    ("cluster", "describe", "--bootstrap-server", "no-port-here"),
    ("reassign-partitions",),
    ("reassign-partitions", "--generate", "--broker-list", "0"),
    ("reassign-partitions", "--execute"),
]


@pytest.mark.parametrize("command", BAD_ARGUMENTS, ids=lambda c: " ".join(c))
def test_bad_arguments_are_status_2(command: tuple[str, ...]) -> None:
    snakafka(*command).failed_with_one_line(exit_code=2)


def test_bad_json_files_are_status_2(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text('{"partitions": [{"topic": "t"}]}')
    snakafka("delete-records", "--offset-json-file", str(path)).failed_with_one_line(exit_code=2)
    snakafka("leader-election", "--election-type", "preferred", "--path-to-json-file", str(path)) \
        .failed_with_one_line(exit_code=2)
    snakafka("reassign-partitions", "--execute", "--reassignment-json-file", str(path)).failed_with_one_line(exit_code=2)
    path.write_text('{"partitions": [{"topic": "t", "partition": 0, "replicas": [1, 1]}]}')
    snakafka("reassign-partitions", "--verify", "--reassignment-json-file", str(path)).failed_with_one_line(exit_code=2)
    path.write_text("not json")
    snakafka("delete-records", "--offset-json-file", str(path)).failed_with_one_line(exit_code=2)


def test_exit_statuses_of_the_real_process(broker: BrokerProcess) -> None:
    """As a shell sees them: 0 with JSON on stdout, 1 with one stderr line, 2 for usage."""
    assert isinstance(snakafka_process("topics", "list", *boot(broker), "--output", "json").json(), list)
    missing = snakafka_process("topics", "describe", *boot(broker), "--topic", "no-such-topic-here")
    assert missing.failed_with_one_line() == "snakafka topics: Topic 'no-such-topic-here' does not exist as expected"
    snakafka_process("topics", "create", *boot(broker)).failed_with_one_line(exit_code=2)

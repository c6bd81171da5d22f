"""`snakafka topics create | list | describe | alter | delete`: kafka-topics.sh, with its
option names, over the Kafka protocol (CreateTopics, Metadata, DescribeConfigs,
CreatePartitions, DeleteTopics), so it administers any Kafka-compatible broker.

`describe` prints Kafka's layout (a line per topic with its non-default configs, a line
per partition with leader, replicas, ISR and offline replicas); `--output json` gives
[{"name", "partitions": [{"partition", "leader", "replicas", "isr", "offline_replicas"}],
"configs": {key: value}}].
"""

from __future__ import annotations

from typing import Any

import click

from snakafka.cli.admin_common import (
    CommandFailed,
    output_option,
    print_json,
    run_admin,
)
from snakafka.cli.groups import bootstrap_option
from snakafka.client.admin import (
    TOPIC_RESOURCE,
    AdminClient,
    AdminError,
    PartitionInfo,
    TopicDescription,
)
from snakafka.protocol.errors import ErrorCode

TOOL = "topics"
DEFAULT_CONFIG = 5  # DescribeConfigs ConfigSource of a value nobody set


def parse_replica_assignment(text: str) -> list[list[int]]:
    """kafka-topics.sh's --replica-assignment: partitions separated by commas, each a list
    of broker ids separated by colons ("0:1,1:2"): the replicas of partition 0, 1, ..."""
    result: list[list[int]] = []
    for i, part in enumerate(text.split(",")):
        try:
            brokers = [int(b) for b in part.strip().split(":")]
        except ValueError:
            raise click.BadParameter(f"partition {i}: '{part}' is not a colon-separated list of broker ids",
                                     param_hint="--replica-assignment") from None
        if len(set(brokers)) != len(brokers):
            raise click.BadParameter(f"Partition replica lists may not contain duplicate entries: {part}",
                                     param_hint="--replica-assignment")
        if result and len(brokers) != len(result[0]):
            raise click.BadParameter(f"Partition {i} has different replication factor: {brokers}",
                                     param_hint="--replica-assignment")
        result.append(brokers)
    return result


def parse_configs(values: tuple[str, ...], option: str = "--config") -> dict[str, str]:
    configs = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected key=value, got {item!r}", param_hint=option)
        configs[key.strip()] = value
    return configs


@click.group("topics")
def topics() -> None:
    """Create, list, describe, alter and delete topics (like kafka-topics.sh)."""


@topics.command("create")
@bootstrap_option
@click.option("--topic", required=True)
@click.option("--partitions", type=click.IntRange(min=1), default=None, help="Default: the broker's num.partitions.")
@click.option("--replication-factor", type=click.IntRange(min=1), default=None,
              help="Default: the broker's default.replication.factor.")
@click.option("--replica-assignment", default=None, metavar="B:B,B:B", help="Replicas per partition, e.g. 0:1,1:2.")
@click.option("--config", "configs", multiple=True, metavar="KEY=VALUE", help="A topic config (repeatable).")
@click.option("--if-not-exists", is_flag=True, help="Succeed without doing anything if the topic exists.")
def create_cmd(bootstrap: str, topic: str, partitions: int | None, replication_factor: int | None,
               replica_assignment: str | None, configs: tuple[str, ...], if_not_exists: bool) -> None:
    """Create a topic."""
    if replica_assignment is not None and (partitions is not None or replication_factor is not None):
        raise click.UsageError("Option --replica-assignment can't be used with --partitions or --replication-factor")
    assignment = dict(enumerate(parse_replica_assignment(replica_assignment))) if replica_assignment else None
    topic_configs = parse_configs(configs)

    async def job(admin: AdminClient) -> bool:
        try:
            await admin.create_topic(topic, -1 if partitions is None else partitions,
                                     -1 if replication_factor is None else replication_factor, assignment, topic_configs)
        except AdminError as exc:
            if exc.code == ErrorCode.topic_already_exists and if_not_exists:
                return False
            raise
        return True

    if run_admin(TOOL, bootstrap, job):
        click.echo(f"Created topic {topic}.")


@topics.command("list")
@bootstrap_option
@click.option("--exclude-internal", is_flag=True, help="Leave out __consumer_offsets and __transaction_state.")
@output_option
def list_cmd(bootstrap: str, exclude_internal: bool, output: str) -> None:
    """List the topics' names."""

    async def job(admin: AdminClient) -> list[str]:
        found, _, _ = await admin.metadata(None)
        return sorted(name for name, t in found.items() if not (exclude_internal and t.internal))

    names = run_admin(TOOL, bootstrap, job)
    if output == "json":
        print_json(names)
    else:
        for name in names:
            click.echo(name)


def _partition_filter(under_replicated: bool, under_min_isr: bool, at_min_isr: bool, unavailable: bool,
                      live: set[int]) -> Any:
    """kafka-topics.sh's partition filters (any of those given), None without one."""
    if not (under_replicated or under_min_isr or at_min_isr or unavailable):
        return None

    def wanted(p: PartitionInfo, min_isr: int) -> bool:
        return ((under_replicated and len(p.isr) < len(p.replicas))
                or (under_min_isr and len(p.isr) < min_isr)
                or (at_min_isr and len(p.isr) == min_isr)
                or (unavailable and (p.leader < 0 or p.leader not in live)))

    return wanted


@topics.command("describe")
@bootstrap_option
@click.option("--topic", "names", multiple=True, help="Topic to describe (repeatable); default: all.")
@click.option("--under-replicated-partitions", is_flag=True, help="Only partitions whose ISR is smaller than their replicas.")
@click.option("--under-min-isr-partitions", is_flag=True, help="Only partitions whose ISR is below min.insync.replicas.")
@click.option("--at-min-isr-partitions", is_flag=True, help="Only partitions whose ISR is exactly min.insync.replicas.")
@click.option("--unavailable-partitions", is_flag=True, help="Only partitions whose leader is not available.")
@click.option("--exclude-internal", is_flag=True)
@click.option("--if-exists", is_flag=True, help="Describe only the given topics that exist.")
@output_option
def describe_cmd(bootstrap: str, names: tuple[str, ...], under_replicated_partitions: bool,
                 under_min_isr_partitions: bool, at_min_isr_partitions: bool, unavailable_partitions: bool,
                 exclude_internal: bool, if_exists: bool, output: str) -> None:
    """Each partition's leader, replicas, ISR and offline replicas, and the topic's configs."""

    async def job(admin: AdminClient) -> tuple[list[tuple[TopicDescription, dict[str, str], int]], set[int]]:
        found, errors, _ = await admin.metadata(list(names) if names else None)
        live = set(admin.cluster.brokers)  # the live brokers, as the metadata lists them
        missing = [n for n in names if n not in found]
        if missing and not if_exists:
            error = errors.get(missing[0], ErrorCode.unknown_topic_or_partition)
            if error == ErrorCode.unknown_topic_or_partition:
                raise CommandFailed(f"Topic '{missing[0]}' does not exist as expected")
            raise AdminError(error, f"topic {missing[0]}")
        result = []
        for name in sorted(found):
            t = found[name]
            if exclude_internal and t.internal:
                continue
            entries = await admin.describe_configs(TOPIC_RESOURCE, name)
            configs = {e.name: e.value or "" for e in entries if e.source != DEFAULT_CONFIG and not e.sensitive}
            min_isr = next((int(e.value) for e in entries if e.name == "min.insync.replicas" and e.value), 1)
            result.append((t, configs, min_isr))
        return result, live

    described, live = run_admin(TOOL, bootstrap, job)
    wanted = _partition_filter(under_replicated_partitions, under_min_isr_partitions, at_min_isr_partitions,
                               unavailable_partitions, live)
    shown = []
    for t, configs, min_isr in described:
        partitions = [p for p in t.partitions if wanted is None or wanted(p, min_isr)]
        if wanted is not None and not partitions:
            continue
        shown.append((t, configs, partitions))
    if output == "json":
        print_json([{"name": t.name, "partitions": [
            {"partition": p.partition, "leader": p.leader if p.leader >= 0 else None, "replicas": list(p.replicas),
             "isr": list(p.isr), "offline_replicas": list(p.offline_replicas)} for p in partitions],
            "configs": configs} for t, configs, partitions in shown])
        return
    for t, configs, partitions in shown:
        if wanted is None:
            rf = len(t.partitions[0].replicas) if t.partitions else 0
            click.echo(f"Topic: {t.name}\tTopicId: {t.topic_id}\tPartitionCount: {len(t.partitions)}\t"
                       f"ReplicationFactor: {rf}\tConfigs: {','.join(f'{k}={v}' for k, v in sorted(configs.items()))}")
        for p in partitions:
            line = (f"\tTopic: {t.name}\tPartition: {p.partition}\tLeader: {p.leader if p.leader >= 0 else 'none'}\t"
                    f"Replicas: {','.join(map(str, p.replicas))}\tIsr: {','.join(map(str, p.isr))}")
            if p.offline_replicas:
                line += f"\tOffline: {','.join(map(str, p.offline_replicas))}"
            click.echo(line)


@topics.command("alter")
@bootstrap_option
@click.option("--topic", required=True)
@click.option("--partitions", type=click.IntRange(min=1), required=True, help="The new (larger) partition count.")
@click.option("--replica-assignment", default=None, metavar="B:B,B:B", help="Replicas of each new partition.")
@click.option("--if-exists", is_flag=True, help="Succeed without doing anything if the topic does not exist.")
def alter_cmd(bootstrap: str, topic: str, partitions: int, replica_assignment: str | None, if_exists: bool) -> None:
    """Add partitions to a topic (configs: `snakafka configs`)."""
    assignment = parse_replica_assignment(replica_assignment) if replica_assignment else None

    async def job(admin: AdminClient) -> None:
        try:
            await admin.create_partitions(topic, partitions, assignment)
        except AdminError as exc:
            if exc.code != ErrorCode.unknown_topic_or_partition:
                raise
            if not if_exists:
                raise CommandFailed(f"Topic '{topic}' does not exist as expected") from None

    run_admin(TOOL, bootstrap, job)


@topics.command("delete")
@bootstrap_option
@click.option("--topic", required=True)
@click.option("--if-exists", is_flag=True, help="Succeed without doing anything if the topic does not exist.")
def delete_cmd(bootstrap: str, topic: str, if_exists: bool) -> None:
    """Delete a topic."""

    async def job(admin: AdminClient) -> None:
        try:
            await admin.delete_topic(topic)
        except AdminError as exc:
            if exc.code != ErrorCode.unknown_topic_or_partition:
                raise
            if not if_exists:
                raise CommandFailed(f"Topic '{topic}' does not exist as expected") from None

    run_admin(TOOL, bootstrap, job)

"""Commands on partitions: `snakafka leader-election` (kafka-leader-election.sh, over
ElectLeaders to the controller), `snakafka delete-records` (kafka-delete-records.sh, over
DeleteRecords to the leaders) and `snakafka describe-producers` (kafka-transactions.sh
describe-producers, over DescribeProducers to the leader), with Kafka's JSON files and
messages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from snakafka.cli.admin_common import (
    FAILURE_EXIT,
    output_option,
    print_json,
    print_table,
    run_admin,
)
from snakafka.cli.groups import bootstrap_option
from snakafka.client.admin import AdminClient, TopicPartition
from snakafka.protocol.errors import ErrorCode

ELECTION_TYPES = {"preferred": 0, "unclean": 1}


def _read_json(path: Path, option: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint=option) from None


def parse_election_file(data: Any) -> list[TopicPartition]:
    """kafka-leader-election.sh's --path-to-json-file: {"partitions": [{"topic", "partition"}]}."""
    try:
        partitions = [(str(p["topic"]), int(p["partition"])) for p in data["partitions"]]
    except (KeyError, TypeError, ValueError):
        raise click.BadParameter('expected {"partitions": [{"topic": "t", "partition": 0}, ...]}',
                                 param_hint="--path-to-json-file") from None
    if len(set(partitions)) != len(partitions):
        raise click.BadParameter("Duplicate partitions in the file", param_hint="--path-to-json-file")
    return partitions


def parse_offset_file(data: Any) -> dict[TopicPartition, int]:
    """kafka-delete-records.sh's --offset-json-file:
    {"partitions": [{"topic", "partition", "offset"}], "version": 1}."""
    try:
        entries = [((str(p["topic"]), int(p["partition"])), int(p["offset"])) for p in data["partitions"]]
    except (KeyError, TypeError, ValueError):
        raise click.BadParameter('expected {"partitions": [{"topic": "t", "partition": 0, "offset": 10}], "version": 1}',
                                 param_hint="--offset-json-file") from None
    offsets = dict(entries)
    if len(offsets) != len(entries):
        raise click.BadParameter("Offset json file contains duplicate topic partitions", param_hint="--offset-json-file")
    return offsets


def _tp_list(tps: list[TopicPartition]) -> str:
    return ", ".join(f"{t}-{p}" for t, p in sorted(tps))


@click.command("leader-election")
@bootstrap_option
@click.option("--election-type", required=True, type=click.Choice(list(ELECTION_TYPES), case_sensitive=False))
@click.option("--topic", default=None, help="A topic: its --partition, or all its partitions.")
@click.option("--partition", type=int, default=None, help="With --topic: one partition.")
@click.option("--all-topic-partitions", is_flag=True, help="Every partition of the cluster.")
@click.option("--path-to-json-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help='{"partitions": [{"topic": "t", "partition": 0}]}')
@output_option
def leader_election(bootstrap: str, election_type: str, topic: str | None, partition: int | None,
                    all_topic_partitions: bool, path_to_json_file: Path | None, output: str) -> None:
    """Elect preferred or (for partitions without a live leader) unclean leaders."""
    chosen = [x for x in (topic is not None, all_topic_partitions, path_to_json_file is not None) if x]
    if len(chosen) != 1:
        raise click.UsageError("One and only one of the following options is required: "
                               "--all-topic-partitions, --topic, --path-to-json-file")
    if partition is not None and topic is None:
        raise click.UsageError("--partition needs --topic")
    kind = ELECTION_TYPES[election_type.lower()]
    from_file = parse_election_file(_read_json(path_to_json_file, "--path-to-json-file")) if path_to_json_file else None

    async def job(admin: AdminClient) -> dict[TopicPartition, tuple[ErrorCode, str | None]]:
        partitions: list[TopicPartition] | None = from_file
        if topic is not None:
            if partition is not None:
                partitions = [(topic, partition)]
            else:
                found, _, _ = await admin.metadata([topic])
                if topic not in found:
                    return {(topic, -1): (ErrorCode.unknown_topic_or_partition, f"Topic '{topic}' does not exist")}
                partitions = [(topic, p.partition) for p in found[topic].partitions]
        return await admin.elect_leaders(kind, partitions)

    results = run_admin("leader-election", bootstrap, job)
    succeeded = [tp for tp, (e, _) in results.items() if e == ErrorCode.none]
    noop = [tp for tp, (e, _) in results.items() if e == ErrorCode.election_not_needed]
    failed = {tp: r for tp, r in results.items() if r[0] not in (ErrorCode.none, ErrorCode.election_not_needed)}
    if output == "json":
        print_json({"election_type": election_type.upper(),
                    "succeeded": [{"topic": t, "partition": p} for t, p in sorted(succeeded)],
                    "noop": [{"topic": t, "partition": p} for t, p in sorted(noop)],
                    "failed": [{"topic": t, "partition": p, "error": e.name.upper(), "message": m}
                               for (t, p), (e, m) in sorted(failed.items())]})
    else:
        if succeeded:
            click.echo(f"Successfully completed leader election ({election_type.upper()}) for partitions "
                       f"{_tp_list(succeeded)}")
        if noop:
            click.echo(f"Valid replica already elected for partitions {_tp_list(noop)}")
    if failed:
        for (t, p), (error, message) in sorted(failed.items()):
            where = t if p < 0 else f"{t}-{p}"
            click.echo(f"Error completing leader election ({election_type.upper()}) for partition: {where}: "
                       f"{error.name.upper()}{': ' + message if message else ''}", err=True)
        click.echo(f"snakafka leader-election: {len(failed)} replica(s) could not be elected", err=True)
        raise SystemExit(FAILURE_EXIT)


@click.command("delete-records")
@bootstrap_option
@click.option("--offset-json-file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='{"partitions": [{"topic": "t", "partition": 0, "offset": 10}], "version": 1}; offset -1: '
                   "the high watermark")
@output_option
def delete_records(bootstrap: str, offset_json_file: Path, output: str) -> None:
    """Delete the records below the given offsets (like kafka-delete-records.sh)."""
    offsets = parse_offset_file(_read_json(offset_json_file, "--offset-json-file"))

    async def job(admin: AdminClient) -> dict[TopicPartition, tuple[ErrorCode, int]]:
        return await admin.delete_records(offsets)

    if output != "json":
        click.echo("Executing records delete operation")
    results = run_admin("delete-records", bootstrap, job)
    failed = sorted(tp for tp, (e, _) in results.items() if e != ErrorCode.none)
    if output == "json":
        print_json([{"topic": t, "partition": p, "low_watermark": lw if e == ErrorCode.none else None,
                     "error": None if e == ErrorCode.none else e.name.upper()}
                    for (t, p), (e, lw) in sorted(results.items())])
    else:
        click.echo("Records delete operation completed:")
        for (t, p), (error, low) in sorted(results.items()):
            detail = f"low_watermark: {low}" if error == ErrorCode.none else f"error: {error.name.upper()}"
            click.echo(f"partition: {t}-{p}\t{detail}")
    if failed:
        click.echo(f"snakafka delete-records: records of {_tp_list(failed)} could not be deleted", err=True)
        raise SystemExit(FAILURE_EXIT)


@click.command("describe-producers")
@bootstrap_option
@click.option("--topic", required=True)
@click.option("--partition", type=click.IntRange(min=0), required=True)
@click.option("--broker-id", type=int, default=None, help="Ask this broker instead of the partition's leader.")
@output_option
def describe_producers(bootstrap: str, topic: str, partition: int, broker_id: int | None, output: str) -> None:
    """The active producers of a partition (like kafka-transactions.sh describe-producers)."""

    async def job(admin: AdminClient) -> list[Any]:
        return await admin.describe_producers((topic, partition), broker_id)

    producers = run_admin("describe-producers", bootstrap, job)
    rows = [{"producer_id": int(p.producer_id), "producer_epoch": int(p.producer_epoch),
             "latest_coordinator_epoch": int(p.coordinator_epoch), "last_sequence": int(p.last_sequence),
             "last_timestamp": int(p.last_timestamp), "current_transaction_start_offset": int(p.current_txn_start_offset)}
            for p in producers]
    if output == "json":
        print_json(rows)
        return
    print_table([["ProducerId", "ProducerEpoch", "LatestCoordinatorEpoch", "LastSequence", "LastTimestamp",
                  "CurrentTransactionStartOffset"]] + [list(r.values()) for r in rows])

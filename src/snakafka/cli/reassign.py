"""`snakafka reassign-partitions`: kafka-reassign-partitions.sh, with its JSON files, over
AlterPartitionReassignments / ListPartitionReassignments (KIP-455) to the controller.

    --generate --topics-to-move-json-file F --broker-list 0,1,2   current and proposed assignments
    --execute --reassignment-json-file F [--throttle BYTES/S]     start (prints the rollback JSON)
    --verify --reassignment-json-file F                           progress; clears throttles when done
    --cancel --reassignment-json-file F                           back to the original replicas
    --list                                                        the ongoing reassignments

--throttle sets the replication throttles Kafka's tool sets (the brokers'
leader/follower.replication.throttled.rate and the topics' throttled replica lists), which
the brokers honour (replication/throttle.py); --verify clears them once done.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from snakafka.cli.admin_common import (
    FAILURE_EXIT,
    CommandFailed,
    output_option,
    print_json,
    run_admin,
)
from snakafka.cli.groups import bootstrap_option
from snakafka.client.admin import (
    BROKER_RESOURCE,
    TOPIC_RESOURCE,
    AdminClient,
    TopicPartition,
)
from snakafka.cluster.assignment import AssignmentError, assign_replicas
from snakafka.protocol.errors import ErrorCode

TOOL = "reassign-partitions"
SET, DELETE = 0, 1
BROKER_THROTTLES = ("leader.replication.throttled.rate", "follower.replication.throttled.rate")
TOPIC_THROTTLES = ("leader.replication.throttled.replicas", "follower.replication.throttled.replicas")
Plan = dict[TopicPartition, list[int]]


def _read_json(path: Path, option: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint=option) from None


def parse_reassignment(data: Any) -> Plan:
    """{"version": 1, "partitions": [{"topic", "partition", "replicas", "log_dirs"?}]}."""
    try:
        entries = [((str(p["topic"]), int(p["partition"])), [int(r) for r in p["replicas"]]) for p in data["partitions"]]
    except (KeyError, TypeError, ValueError):
        raise click.BadParameter('expected {"version": 1, "partitions": [{"topic": "t", "partition": 0, '
                                 '"replicas": [1, 2]}]}', param_hint="--reassignment-json-file") from None
    plan = dict(entries)
    if len(plan) != len(entries):
        raise click.BadParameter("Partition reassignment list cannot contain duplicate partitions",
                                 param_hint="--reassignment-json-file")
    for (t, p), replicas in plan.items():
        if not replicas or len(set(replicas)) != len(replicas):
            raise click.BadParameter(f"Partition replica lists may not contain duplicate entries or be empty: {t}-{p}",
                                     param_hint="--reassignment-json-file")
    return plan


def plan_json(plan: Plan) -> dict[str, Any]:
    return {"version": 1, "partitions": [{"topic": t, "partition": p, "replicas": r, "log_dirs": ["any"] * len(r)}
                                         for (t, p), r in sorted(plan.items())]}


async def _current(admin: AdminClient, partitions: list[TopicPartition]) -> Plan:
    topics, _, _ = await admin.metadata(sorted({t for t, _ in partitions}))
    current: Plan = {}
    for t, p in partitions:
        info = topics.get(t)
        found = next((x for x in info.partitions if x.partition == p), None) if info else None
        if found is None:
            raise CommandFailed(f"Topic {t} or partition {t}-{p} not found")
        current[(t, p)] = list(found.replicas)
    return current


@click.command("reassign-partitions")
@bootstrap_option
@click.option("--generate", "action", flag_value="generate", help="Propose a reassignment over --broker-list.")
@click.option("--execute", "action", flag_value="execute", help="Start the reassignment of the file.")
@click.option("--verify", "action", flag_value="verify", help="Report progress; clear the throttles when done.")
@click.option("--cancel", "action", flag_value="cancel", help="Cancel the reassignments of the file.")
@click.option("--list", "action", flag_value="list", help="List the ongoing reassignments.")
@click.option("--topics-to-move-json-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='{"topics": [{"topic": "t"}], "version": 1}')
@click.option("--broker-list", default=None, metavar="0,1,2", help="With --generate: the brokers to spread over.")
@click.option("--reassignment-json-file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--throttle", type=click.IntRange(min=1), default=None, help="Replication throttle in B/s while the new replicas catch up.")
@click.option("--preserve-throttles", is_flag=True, help="With --verify / --cancel: leave the throttles.")
@output_option
def reassign_partitions(bootstrap: str, action: str | None, topics_to_move_json_file: Path | None,
                        broker_list: str | None, reassignment_json_file: Path | None, throttle: int | None,
                        preserve_throttles: bool, output: str) -> None:
    """Move partitions between brokers (like kafka-reassign-partitions.sh)."""
    if action is None:
        raise click.UsageError("Command must include exactly one action: --generate, --execute, --verify, --cancel, --list")
    if action == "generate":
        if topics_to_move_json_file is None or broker_list is None:
            raise click.UsageError("--generate needs --topics-to-move-json-file and --broker-list")
        try:
            brokers = sorted({int(b) for b in broker_list.split(",") if b.strip()})
            topics = [str(t["topic"]) for t in _read_json(topics_to_move_json_file, "--topics-to-move-json-file")["topics"]]
        except (KeyError, TypeError, ValueError):
            raise click.UsageError('expected --broker-list 0,1,2 and {"topics": [{"topic": "t"}], "version": 1}') from None
        _generate(bootstrap, topics, brokers, output)
        return
    if action == "list":
        _list(bootstrap, output)
        return
    if reassignment_json_file is None:
        raise click.UsageError(f"--{action} needs --reassignment-json-file")
    plan = parse_reassignment(_read_json(reassignment_json_file, "--reassignment-json-file"))
    if action == "execute":
        _execute(bootstrap, plan, throttle, output)
    elif action == "verify":
        _verify(bootstrap, plan, preserve_throttles, output)
    else:
        _cancel(bootstrap, plan, preserve_throttles, output)


def _generate(bootstrap: str, topics: list[str], brokers: list[int], output: str) -> None:
    async def job(admin: AdminClient) -> tuple[Plan, Plan]:
        found, _, _ = await admin.metadata(topics)
        missing = [t for t in topics if t not in found]
        if missing:
            raise CommandFailed(f"Topic {missing[0]} not found")
        live = {b.broker_id for b in (await admin.describe_cluster()).brokers}
        unknown = [b for b in brokers if b not in live]
        if unknown:
            raise CommandFailed(f"The given brokers do not exist from --broker-list: {','.join(map(str, unknown))}")
        current: Plan = {}
        proposed: Plan = {}
        for name in topics:
            parts = found[name].partitions
            current.update({(name, p.partition): list(p.replicas) for p in parts})
            try:
                assigned = assign_replicas(brokers, len(parts), len(parts[0].replicas) if parts else 1)
            except AssignmentError as exc:
                raise CommandFailed(str(exc)) from None
            proposed.update({(name, p): list(r) for p, r in assigned.items()})
        return current, proposed

    current, proposed = run_admin(TOOL, bootstrap, job)
    if output == "json":
        print_json({"current": plan_json(current), "proposed": plan_json(proposed)})
        return
    click.echo(f"Current partition replica assignment\n{json.dumps(plan_json(current))}\n")
    click.echo(f"Proposed partition reassignment configuration\n{json.dumps(plan_json(proposed))}")


async def _set_throttles(admin: AdminClient, plan: Plan, current: Plan, rate: int) -> None:
    """What kafka-reassign-partitions.sh --throttle sets: the rate on every broker taking
    part, and per topic the throttled replicas (leader side: the current replicas;
    follower side: the replicas being added)."""
    brokers = sorted({b for tp in plan for b in plan[tp] + current[tp]})
    for broker in brokers:
        await admin.alter_configs(BROKER_RESOURCE, str(broker), [(k, SET, str(rate)) for k in BROKER_THROTTLES],
                                  broker_id=broker)
    by_topic: dict[str, tuple[list[str], list[str]]] = {}
    for (t, p), target in sorted(plan.items()):
        leader_side, follower_side = by_topic.setdefault(t, ([], []))
        leader_side += [f"{p}:{b}" for b in current[(t, p)]]
        follower_side += [f"{p}:{b}" for b in target if b not in current[(t, p)]]
    for t, (leader_side, follower_side) in by_topic.items():
        await admin.alter_configs(TOPIC_RESOURCE, t, [(TOPIC_THROTTLES[0], SET, ",".join(leader_side)),
                                                      (TOPIC_THROTTLES[1], SET, ",".join(follower_side) or None)]
                                  if follower_side else [(TOPIC_THROTTLES[0], SET, ",".join(leader_side))])


async def _clear_throttles(admin: AdminClient, topics: set[str]) -> list[int]:
    brokers = sorted(b.broker_id for b in (await admin.describe_cluster()).brokers)
    for broker in brokers:
        await admin.alter_configs(BROKER_RESOURCE, str(broker), [(k, DELETE, None) for k in BROKER_THROTTLES],
                                  broker_id=broker)
    for t in sorted(topics):
        await admin.alter_configs(TOPIC_RESOURCE, t, [(k, DELETE, None) for k in TOPIC_THROTTLES])
    return brokers


def _report_errors(errors: dict[TopicPartition, tuple[ErrorCode, str | None]], what: str) -> None:
    if errors:
        click.echo(f"Error {what} partition(s):", err=True)
        for (t, p), (code, message) in sorted(errors.items()):
            click.echo(f"{t}-{p}: {code.name.upper()}{': ' + message if message else ''}", err=True)
        raise SystemExit(FAILURE_EXIT)


def _execute(bootstrap: str, plan: Plan, throttle: int | None, output: str) -> None:
    async def job(admin: AdminClient) -> tuple[Plan, dict[TopicPartition, tuple[ErrorCode, str | None]]]:
        current = await _current(admin, list(plan))
        if throttle is not None:
            await _set_throttles(admin, plan, current, throttle)
        results = await admin.alter_partition_reassignments({tp: r for tp, r in plan.items()})
        return current, results

    current, results = run_admin(TOOL, bootstrap, job)
    errors = {tp: r for tp, r in results.items() if r[0] != ErrorCode.none}
    if output == "json":
        print_json({"current": plan_json(current), "started": [{"topic": t, "partition": p} for (t, p) in sorted(
            set(results) - set(errors))], "errors": [{"topic": t, "partition": p, "error": e.name.upper(), "message": m}
                                                     for (t, p), (e, m) in sorted(errors.items())]})
        if errors:
            raise SystemExit(FAILURE_EXIT)
        return
    click.echo(f"Current partition replica assignment\n\n{json.dumps(plan_json(current))}\n\n"
               "Save this to use as the --reassignment-json-file option during rollback")
    if throttle is not None:
        click.echo("Warning: You must run --verify periodically, until the reassignment completes, to ensure the "
                   f"throttle is removed.\nThe inter-broker throttle limit was set to {throttle} B/s")
    _report_errors(errors, "reassigning")
    click.echo("Successfully started partition reassignments for "
               + ",".join(f"{t}-{p}" for t, p in sorted(results)))


def _verify(bootstrap: str, plan: Plan, preserve_throttles: bool, output: str) -> None:
    async def job(admin: AdminClient) -> tuple[dict[TopicPartition, str], list[int] | None]:
        ongoing = await admin.list_partition_reassignments(list(plan))
        current = await _current(admin, list(plan))
        status = {tp: "in_progress" if tp in ongoing else "completed" if current[tp] == target else "mismatch"
                  for tp, target in plan.items()}
        cleared = None
        if not preserve_throttles and all(s != "in_progress" for s in status.values()):
            cleared = await _clear_throttles(admin, {t for t, _ in plan})
        return status, cleared

    status, cleared = run_admin(TOOL, bootstrap, job)
    if output == "json":
        print_json({"partitions": [{"topic": t, "partition": p, "status": s} for (t, p), s in sorted(status.items())],
                    "throttles_cleared": cleared is not None})
        return
    click.echo("Status of partition reassignment:")
    for (t, p), s in sorted(status.items()):
        if s == "mismatch":
            click.echo(f"There is no active reassignment of partition {t}-{p}, but replica set is not {plan[(t, p)]}.")
        else:
            click.echo(f"Reassignment of partition {t}-{p} is {'completed' if s == 'completed' else 'still in progress'}.")
    if cleared is not None:
        click.echo(f"\nClearing broker-level throttles on brokers {','.join(map(str, cleared))}")
        for t in sorted({t for t, _ in plan}):
            click.echo(f"Clearing topic-level throttles on topic {t}")


def _cancel(bootstrap: str, plan: Plan, preserve_throttles: bool, output: str) -> None:
    async def job(admin: AdminClient) -> dict[TopicPartition, tuple[ErrorCode, str | None]]:
        results = await admin.alter_partition_reassignments({tp: None for tp in plan})
        if not preserve_throttles:
            await _clear_throttles(admin, {t for t, _ in plan})
        return results

    results = run_admin(TOOL, bootstrap, job)
    errors = {tp: r for tp, r in results.items() if r[0] != ErrorCode.none}
    cancelled = sorted(set(results) - set(errors))
    if output == "json":
        print_json({"cancelled": [{"topic": t, "partition": p} for t, p in cancelled],
                    "errors": [{"topic": t, "partition": p, "error": e.name.upper(), "message": m}
                               for (t, p), (e, m) in sorted(errors.items())]})
        if errors:
            raise SystemExit(FAILURE_EXIT)
        return
    if cancelled:
        click.echo("Successfully cancelled partition reassignments for: " + ",".join(f"{t}-{p}" for t, p in cancelled))
    _report_errors(errors, "cancelling reassignment of")


def _list(bootstrap: str, output: str) -> None:
    async def job(admin: AdminClient) -> dict[TopicPartition, tuple[list[int], list[int], list[int]]]:
        return await admin.list_partition_reassignments(None)

    ongoing = run_admin(TOOL, bootstrap, job)
    if output == "json":
        print_json([{"topic": t, "partition": p, "replicas": r, "adding": a, "removing": d}
                    for (t, p), (r, a, d) in sorted(ongoing.items())])
        return
    if not ongoing:
        click.echo("No partition reassignments found.")
        return
    click.echo("Current partition reassignments:")
    for (t, p), (r, a, d) in sorted(ongoing.items()):
        click.echo(f"{t}-{p}: replicas: {','.join(map(str, r))}. adding: {','.join(map(str, a))}. "
                   f"removing: {','.join(map(str, d))}.")


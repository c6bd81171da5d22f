"""`snakafka groups`: list, describe and reset consumer groups, like kafka-consumer-groups.sh.

Talks to a broker over the Kafka protocol with our minimal client: ListGroups,
DescribeGroups, OffsetFetch, ListOffsets and (for resets) OffsetCommit as a standalone
member, which the coordinator accepts only while the group is empty, as Kafka does.
"""

from __future__ import annotations

import asyncio
import datetime
import sys
from dataclasses import dataclass
from typing import Any

import click
from kio.schema.errors import ErrorCode
from kio.static.primitive import i8, i32, i64

from snakafka.cli.admin_common import fail, output_option, print_json
from snakafka.client.connection import BrokerConnection, ConnectionClosed
from snakafka.client.requests import build, parse_bootstrap
from snakafka.client.requests import request as _req
from snakafka.client.requests import schema as _schema
from snakafka.protocol.consumer_protocol import parse_assignment

bootstrap_option = click.option("--bootstrap-server", "bootstrap", default="127.0.0.1:9092", show_default=True)
# after bootstrap_option: the admin modules import it from here

LATEST, EARLIEST = -1, -2


@dataclass
class PartitionLag:
    topic: str
    partition: int
    committed: int
    log_end: int
    member_id: str
    host: str
    client_id: str

    @property
    def lag(self) -> int | None:
        return None if self.committed < 0 else max(self.log_end - self.committed, 0)


class GroupAdmin:
    def __init__(self, conn: BrokerConnection) -> None:
        self.conn = conn

    async def list_groups(self) -> list[tuple[str, str, str]]:
        resp = await self.conn.send(_req(16, 4, states_filter=()))
        return [(g.group_id, g.protocol_type, g.group_state) for g in resp.groups]

    async def describe(self, group: str) -> Any:
        resp = await self.conn.send(_req(15, 5, groups=(group,), include_authorized_operations=False))
        return resp.groups[0]

    async def committed(self, group: str) -> dict[tuple[str, int], int]:
        resp = await self.conn.send(_req(9, 7, group_id=group, topics=None, require_stable=False))
        if resp.error_code != ErrorCode.none:
            raise click.ClickException(f"OffsetFetch failed: {resp.error_code.name.upper()}")
        return {(t.name, p.partition_index): p.committed_offset for t in resp.topics for p in t.partitions}

    async def list_offsets(self, partitions: list[tuple[str, int]], timestamp: int) -> dict[tuple[str, int], int]:
        s = _schema(2, 7)
        topics: dict[str, list[int]] = {}
        for t, p in partitions:
            topics.setdefault(t, []).append(p)
        req = _req(2, 7, replica_id=i32(-1), isolation_level=i8(0), topics=tuple(
            build(s.ListOffsetsTopic, name=t, partitions=tuple(
                build(s.ListOffsetsPartition, partition_index=i32(p), current_leader_epoch=i32(-1), timestamp=i64(timestamp))
                for p in ps)) for t, ps in topics.items()))
        resp = await self.conn.send(req)
        return {(t.name, p.partition_index): p.offset for t in resp.topics for p in t.partitions}

    async def partitions_of(self, topics: list[str]) -> list[tuple[str, int]]:
        s = _schema(3, 12)
        resp = await self.conn.send(_req(3, 12, topics=tuple(build(s.MetadataRequestTopic, topic_id=None, name=t) for t in topics),
                                         allow_auto_topic_creation=False, include_topic_authorized_operations=False))
        result = []
        for t in resp.topics:
            if t.error_code != ErrorCode.none:
                raise click.ClickException(f"topic {t.name}: {t.error_code.name}")
            result += [(t.name, p.partition_index) for p in t.partitions]
        return sorted(result)

    async def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        s = _schema(8, 8)
        topics: dict[str, list[tuple[int, int]]] = {}
        for (t, p), o in offsets.items():
            topics.setdefault(t, []).append((p, o))
        req = _req(8, 8, group_id=group, generation_id_or_member_epoch=i32(-1), member_id="", group_instance_id=None,
                   topics=tuple(build(s.OffsetCommitRequestTopic, name=t, partitions=tuple(
                       build(s.OffsetCommitRequestPartition, partition_index=i32(p), committed_offset=i64(o),
                             committed_leader_epoch=i32(-1), committed_metadata="") for p, o in ps))
                       for t, ps in topics.items()))
        resp = await self.conn.send(req)
        errors = {(t.name, p.partition_index): p.error_code for t in resp.topics for p in t.partitions if p.error_code != ErrorCode.none}
        if errors:
            raise click.ClickException(f"offset commit failed: { {f'{t}-{p}': e.name for (t, p), e in errors.items()} }")

    async def lag(self, group: str) -> tuple[Any, list[PartitionLag]]:
        described = await self.describe(group)
        committed = await self.committed(group)
        owners: dict[tuple[str, int], Any] = {}
        for m in described.members:
            assignment = parse_assignment(m.member_assignment)
            for topic, parts in (assignment.partitions if assignment else {}).items():
                for p in parts:
                    owners[(topic, p)] = m
        tps = sorted(set(committed) | set(owners))
        ends = await self.list_offsets(tps, LATEST) if tps else {}
        rows = []
        for tp in tps:
            m = owners.get(tp)
            rows.append(PartitionLag(tp[0], tp[1], committed.get(tp, -1), ends.get(tp, -1),
                                     m.member_id if m else "-", m.client_host if m else "-", m.client_id if m else "-"))
        return described, rows


def _connect(bootstrap: str) -> BrokerConnection:
    host, _, port = bootstrap.rpartition(":")
    return BrokerConnection(host or "127.0.0.1", int(port))


async def _with_admin(bootstrap: str, job: Any) -> Any:
    async with _connect(bootstrap) as conn:
        return await job(GroupAdmin(conn))


def _run(bootstrap: str, job: Any) -> Any:
    """Run a job on a connection to `bootstrap`; an unreachable broker or a lost connection
    is one line on stderr and exit status 1, a malformed address a usage error (2)."""
    try:
        parse_bootstrap(bootstrap)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--bootstrap-server") from None
    try:
        return asyncio.run(_with_admin(bootstrap, job))
    except (OSError, TimeoutError, ConnectionClosed) as exc:
        fail("groups", f"cannot reach {bootstrap}: {exc or type(exc).__name__}")


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


@click.group("groups")
def groups() -> None:
    """List, describe and reset consumer groups (like kafka-consumer-groups.sh)."""


@groups.command("list")
@bootstrap_option
@output_option
def list_cmd(bootstrap: str, output: str) -> None:
    """List the groups with their state."""
    found = _run(bootstrap, lambda a: a.list_groups())
    if output == "json":
        print_json([{"group": g, "state": s, "protocol_type": t} for g, t, s in sorted(found)])
        return
    rows = [["GROUP", "STATE", "PROTOCOL-TYPE"]] + [[g, s, t] for g, t, s in sorted(found)]
    _table(rows)


@groups.command("describe")
@click.argument("group")
@bootstrap_option
@output_option
def describe_cmd(group: str, bootstrap: str, output: str) -> None:
    """Members, assignment, committed offset, log end offset and lag per partition."""
    described, rows = _run(bootstrap, lambda a: a.lag(group))
    if described.error_code != ErrorCode.none:
        fail("groups", f"group {group}: {described.error_code.name.upper()}")
    if output == "json":
        print_json({"group": group, "state": described.group_state, "members": len(described.members), "partitions": [
            {"topic": r.topic, "partition": r.partition, "current_offset": None if r.committed < 0 else r.committed,
             "log_end_offset": r.log_end, "lag": r.lag, "consumer_id": None if r.member_id == "-" else r.member_id,
             "host": None if r.host == "-" else r.host, "client_id": None if r.client_id == "-" else r.client_id}
            for r in rows]})
        return
    click.echo(f"Consumer group '{group}' is {described.group_state} ({len(described.members)} members)")
    table = [["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"]]
    for r in rows:
        table.append([group, r.topic, str(r.partition), "-" if r.committed < 0 else str(r.committed), str(r.log_end),
                      "-" if r.lag is None else str(r.lag), r.member_id, r.host, r.client_id])
    _table(table)


@groups.command("reset-offsets")
@click.option("--group", required=True)
@click.option("--topic", "topics", multiple=True, required=True, help="Topic (repeatable); all its partitions.")
@click.option("--to-earliest", "mode", flag_value="earliest")
@click.option("--to-latest", "mode", flag_value="latest")
@click.option("--to-offset", type=int, default=None)
@click.option("--to-datetime", type=click.DateTime(["%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S"]), default=None,
              help="Local time YYYY-MM-DDTHH:mm:SS[.sss]")
@click.option("--execute", is_flag=True, help="Apply the reset (default: dry run, print the plan).")
@bootstrap_option
def reset_cmd(group: str, topics: tuple[str, ...], mode: str | None, to_offset: int | None,
              to_datetime: datetime.datetime | None, execute: bool, bootstrap: str) -> None:
    """Reset committed offsets of an empty group."""
    chosen = [m for m in (mode, to_offset is not None and "offset", to_datetime is not None and "datetime") if m]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime")

    async def job(admin: GroupAdmin) -> dict[tuple[str, int], int]:
        described = await admin.describe(group)
        if described.group_state not in ("Empty", "Dead", ""):
            raise click.ClickException(
                f"Assignments can only be reset if the group '{group}' is inactive, but the current state is {described.group_state}."
            )
        tps = await admin.partitions_of(list(topics))
        if mode == "earliest":
            plan = await admin.list_offsets(tps, EARLIEST)
        elif mode == "latest":
            plan = await admin.list_offsets(tps, LATEST)
        elif to_datetime is not None:
            ts = int(to_datetime.timestamp() * 1000)
            found = await admin.list_offsets(tps, ts)
            latest = await admin.list_offsets(tps, LATEST)
            plan = {tp: (o if o >= 0 else latest[tp]) for tp, o in found.items()}
        else:
            earliest = await admin.list_offsets(tps, EARLIEST)
            latest = await admin.list_offsets(tps, LATEST)
            assert to_offset is not None
            plan = {tp: min(max(to_offset, earliest[tp]), latest[tp]) for tp in tps}
        if execute:
            await admin.commit(group, plan)
        return plan

    plan = _run(bootstrap, job)
    _table([["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]] + [[group, t, str(p), str(o)] for (t, p), o in sorted(plan.items())])
    if not execute:
        click.echo("(dry run: add --execute to apply)", err=True)
    sys.stdout.flush()

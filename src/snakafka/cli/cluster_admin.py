"""`snakafka cluster describe` (cluster id, controller, brokers with endpoints and rack,
from DescribeCluster) and `snakafka log-dirs --describe` (kafka-log-dirs.sh: each
broker's log dirs and the size of every partition in them, from DescribeLogDirs).
"""

from __future__ import annotations

from typing import Any

import click

from snakafka.cli.admin_common import (
    CommandFailed,
    output_option,
    print_json,
    print_table,
    run_admin,
)
from snakafka.cli.groups import bootstrap_option
from snakafka.client.admin import AdminClient, ClusterDescription
from snakafka.protocol.errors import ErrorCode


@click.group("cluster")
def cluster() -> None:
    """Describe the cluster."""


@cluster.command("describe")
@bootstrap_option
@output_option
def describe_cmd(bootstrap: str, output: str) -> None:
    """Cluster id, controller, and the brokers with their endpoints and rack."""

    async def job(admin: AdminClient) -> ClusterDescription:
        return await admin.describe_cluster()

    described = run_admin("cluster", bootstrap, job)
    if output == "json":
        print_json({"cluster_id": described.cluster_id, "controller": described.controller, "brokers": [
            {"id": b.broker_id, "host": b.host, "port": b.port, "rack": b.rack} for b in described.brokers]})
        return
    click.echo(f"Cluster ID: {described.cluster_id}")
    click.echo(f"Controller: {described.controller}")
    print_table([["BROKER", "HOST", "PORT", "RACK"]] + [
        [b.broker_id, b.host, b.port, b.rack or "-"] for b in described.brokers])


def _int_list(text: str | None, option: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated broker ids, got {text!r}", param_hint=option) from None


@click.command("log-dirs")
@bootstrap_option
@click.option("--describe", is_flag=True, required=True, help="Describe the log dirs (the only action).")
@click.option("--broker-list", default=None, metavar="0,1", help="Brokers to ask; default: all.")
@click.option("--topic-list", default=None, metavar="T1,T2", help="Topics to show; default: all.")
@output_option
def log_dirs(bootstrap: str, describe: bool, broker_list: str | None, topic_list: str | None, output: str) -> None:
    """Log dirs of brokers and the size of each partition in them (like kafka-log-dirs.sh)."""
    brokers = _int_list(broker_list, "--broker-list")
    topics = [t.strip() for t in topic_list.split(",") if t.strip()] if topic_list else None

    async def job(admin: AdminClient) -> list[dict[str, Any]]:
        live = sorted(b.broker_id for b in (await admin.describe_cluster()).brokers)
        unknown = [b for b in brokers or [] if b not in live]
        if unknown:
            raise CommandFailed(f"ERROR: The given brokers do not exist from --broker-list: {','.join(map(str, unknown))}. "
                                f"Current existent brokers: {','.join(map(str, live))}")
        result = []
        for broker_id in brokers or live:
            dirs = await admin.describe_log_dirs(broker_id, topics)
            result.append({"broker": broker_id, "logDirs": [{
                "logDir": d.log_dir,
                "error": None if d.error_code == ErrorCode.none else d.error_code.name.upper(),
                "partitions": [{"partition": f"{t.name}-{p.partition_index}", "size": int(p.partition_size),
                                "offsetLag": int(p.offset_lag), "isFuture": bool(p.is_future_key)}
                               for t in d.topics for p in t.partitions]} for d in dirs]})
        return result

    described = run_admin("log-dirs", bootstrap, job)
    if output == "json":
        print_json({"version": 1, "brokers": described})
        return
    rows: list[list[Any]] = [["BROKER", "LOG-DIR", "PARTITION", "SIZE", "OFFSET-LAG"]]
    for b in described:
        for d in b["logDirs"]:
            rows += [[b["broker"], d["logDir"], p["partition"], p["size"], p["offsetLag"]] for p in d["partitions"]]
    print_table(rows)

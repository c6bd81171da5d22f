"""What the admin commands share (topics, configs, cluster describe, leader-election,
delete-records, log-dirs, describe-producers, groups): running one job on an admin client,
turning failures into one line on stderr with exit status 1 (a bad argument is click's
usage error, status 2), and printing tables or JSON (`--output json`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn, TypeVar

import click

from snakafka.client.admin import AdminClient, AdminError
from snakafka.client.cluster import ClientError
from snakafka.client.connection import ConnectionClosed
from snakafka.client.requests import parse_bootstrap

T = TypeVar("T")
FAILURE_EXIT = 1

output_option = click.option("--output", "output", type=click.Choice(["table", "json"]), default="table",
                             show_default=True, help="Human-readable text, or JSON for scripts.")


class CommandFailed(Exception):
    """A failure the command reports itself (a topic that does not exist, say): one line."""


def fail(tool: str, message: str) -> NoReturn:
    click.echo(f"snakafka {tool}: {message}", err=True)
    raise SystemExit(FAILURE_EXIT)


def bootstrap_servers(value: str) -> list[tuple[str, int]]:
    try:
        return parse_bootstrap(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--bootstrap-server") from None


def run_admin(tool: str, bootstrap: str, job: Callable[[AdminClient], Awaitable[T]]) -> T:
    """Run `job` with an admin client connected through `bootstrap`; an unreachable broker,
    a refused request or a CommandFailed ends the process with one line and status 1."""
    servers = bootstrap_servers(bootstrap)

    async def main() -> T:
        async with AdminClient(servers) as admin:
            return await job(admin)

    try:
        return asyncio.run(main())
    except (ClientError, AdminError, CommandFailed, ConnectionClosed, OSError, TimeoutError) as exc:
        fail(tool, str(exc) or type(exc).__name__)


def print_table(rows: Sequence[Sequence[Any]]) -> None:
    """Columns padded to their widest cell; the first row is the header."""
    text = [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in text) for i in range(len(text[0]))]
    for r in text:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2))

"""`snakafka users`: SCRAM credentials, as `kafka-configs.sh --entity-type users` manages them.

    snakafka users --bootstrap-server B --user alice --add-scram 'SCRAM-SHA-256=[iterations=8192,password=alice-secret]'
    snakafka users --bootstrap-server B --user alice --delete-scram SCRAM-SHA-256
    snakafka users --bootstrap-server B --describe [--user alice]

Over the Kafka protocol (AlterUserScramCredentials / DescribeUserScramCredentials,
KIP-554): the password is salted here with a fresh random salt, so only the salted form
travels, as Kafka's admin client does. --command-config takes a client properties file
(security.protocol, sasl.*, ssl.*) for a secured broker. --add-config / --delete-config
are accepted as kafka-configs.sh spells them.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from pathlib import Path
from typing import Any

import click
from kio.schema.alter_user_scram_credentials.v0.request import (
    AlterUserScramCredentialsRequest,
    ScramCredentialDeletion,
    ScramCredentialUpsertion,
)
from kio.schema.describe_user_scram_credentials.v0.request import (
    DescribeUserScramCredentialsRequest,
    UserName,
)
from kio.schema.errors import ErrorCode
from kio.static.primitive import i8, i32

from snakafka.cli.client_security import client_security, read_properties
from snakafka.cli.options import CONFIG_ERROR_EXIT
from snakafka.client.connection import BrokerConnection
from snakafka.client.security import AuthenticationError, ClientSecurity
from snakafka.config.definitions import ConfigError
from snakafka.security import scram

DEFAULT_ITERATIONS = 4096  # kafka-configs.sh's default
_ENTRY = re.compile(r"(SCRAM-SHA-(?:256|512))=\[([^\]]*)\]")


def parse_add(text: str) -> list[tuple[scram.ScramMechanism, int, str]]:
    """'SCRAM-SHA-256=[iterations=8192,password=pw],SCRAM-SHA-512=[password=pw]'."""
    result = []
    rest = text.strip()
    while rest:
        m = _ENTRY.match(rest)
        if m is None:
            raise click.BadParameter(f"expected SCRAM-SHA-256=[iterations=N,password=PW] entries, got {rest!r}",
                                     param_hint="--add-scram")
        fields = dict(part.split("=", 1) for part in m.group(2).split(",") if "=" in part)
        if "password" not in fields:
            raise click.BadParameter(f"{m.group(1)} needs password=...", param_hint="--add-scram")
        mechanism = scram.ScramMechanism.from_name(m.group(1))
        assert mechanism is not None
        try:
            iterations = int(fields.get("iterations", DEFAULT_ITERATIONS))
        except ValueError:
            raise click.BadParameter(f"iterations of {m.group(1)} is not a number", param_hint="--add-scram") from None
        result.append((mechanism, iterations, fields["password"]))
        rest = rest[m.end():].lstrip(",").strip()
    return result


def _mechanism(name: str) -> scram.ScramMechanism:
    mechanism = scram.ScramMechanism.from_name(name.strip())
    if mechanism is None:
        raise click.BadParameter(f"unknown SCRAM mechanism {name!r}", param_hint="--delete-scram")
    return mechanism


async def _connect(bootstrap: str, security: ClientSecurity) -> BrokerConnection:
    errors = []
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            return await BrokerConnection(host, int(port), client_id="snakafka-users", security=security).connect()
        except AuthenticationError as exc:
            raise click.ClickException(f"authentication with {server} failed: {exc}") from None
        except (OSError, TimeoutError, ValueError) as exc:
            errors.append(f"{server}: {exc or type(exc).__name__}")
    raise click.ClickException("cannot connect: " + "; ".join(errors))


async def _describe(conn: BrokerConnection, users: tuple[str, ...]) -> int:
    request = DescribeUserScramCredentialsRequest(users=tuple(UserName(name=u) for u in users) or None)
    response = await conn.send(request)
    if response.error_code != ErrorCode.none:
        raise click.ClickException(f"DescribeUserScramCredentials failed: {response.error_code.name.upper()}: {response.error_message}")
    status = 0
    for result in response.results:
        if result.error_code != ErrorCode.none:
            click.echo(f"Error describing user {result.user}: {result.error_message or result.error_code.name.upper()}", err=True)
            status = 1
            continue
        infos = ", ".join(f"{_name(i.mechanism)}=iterations={i.iterations}" for i in result.credential_infos)
        click.echo(f"SCRAM credential configs for user-principal '{result.user}' are {infos}")
    return status


def _name(wire_type: int) -> str:
    mechanism = scram.ScramMechanism.from_type(int(wire_type))
    return mechanism.mechanism_name if mechanism else f"UNKNOWN({wire_type})"


async def _alter(conn: BrokerConnection, user: str, add: list[tuple[scram.ScramMechanism, int, str]],
                 delete: list[scram.ScramMechanism]) -> int:
    upsertions = []
    for mechanism, iterations, password in add:
        salt = secrets.token_bytes(32)
        upsertions.append(ScramCredentialUpsertion(name=user, mechanism=i8(mechanism.wire_type), iterations=i32(iterations),
                                                   salt=salt, salted_password=scram.hi(mechanism, password.encode(), salt,
                                                                                       iterations)))
    deletions = tuple(ScramCredentialDeletion(name=user, mechanism=i8(m.wire_type)) for m in delete)
    response: Any = await conn.send(AlterUserScramCredentialsRequest(deletions=deletions, upsertions=tuple(upsertions)))
    status = 0
    for result in response.results:
        if result.error_code != ErrorCode.none:
            click.echo(f"Error altering user {result.user}: {result.error_code.name.upper()}: {result.error_message}", err=True)
            status = 1
        else:
            click.echo(f"Completed updating config for user {result.user}.")
    return status


@click.command("users")
@click.option("--bootstrap-server", required=True, help="host:port[,host:port...] of the brokers.")
@click.option("--command-config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Client properties: security.protocol, sasl.mechanism, sasl.jaas.config, ssl.truststore.location, ...")
@click.option("--user", "users", multiple=True, metavar="NAME", help="The user (repeatable with --describe).")
@click.option("--add-scram", "--add-config", "add", metavar="SPEC",
              help="'SCRAM-SHA-256=[iterations=8192,password=PW],SCRAM-SHA-512=[password=PW]' (iterations default 4096).")
@click.option("--delete-scram", "--delete-config", "delete", metavar="MECHANISMS",
              help="Comma-separated mechanisms whose credential to remove: SCRAM-SHA-256,SCRAM-SHA-512.")
@click.option("--describe", is_flag=True, help="List users' SCRAM mechanisms and iterations (all users without --user).")
def users(bootstrap_server: str, command_config: Path | None, users: tuple[str, ...], add: str | None, delete: str | None,
          describe: bool) -> None:
    """Add, remove and describe SCRAM credentials (kafka-configs.sh --entity-type users)."""
    if describe == bool(add or delete):
        raise click.UsageError("give either --describe, or --add-scram / --delete-scram")
    if not describe and len(users) != 1:
        raise click.UsageError("--add-scram / --delete-scram need exactly one --user")
    adds = parse_add(add) if add else []
    deletes = [_mechanism(m) for m in delete.split(",") if m.strip()] if delete else []
    try:
        security = client_security(read_properties(command_config) if command_config else {})
    except ConfigError as exc:
        click.echo(f"snakafka: {exc}", err=True)
        raise SystemExit(CONFIG_ERROR_EXIT) from None

    async def run() -> int:
        conn = await _connect(bootstrap_server, security)
        try:
            if describe:
                return await _describe(conn, users)
            return await _alter(conn, users[0], adds, deletes)
        finally:
            await conn.close()

    raise SystemExit(asyncio.run(run()))

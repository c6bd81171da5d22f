"""`snakafka configs`: kafka-configs.sh for topics and brokers, over DescribeConfigs and
IncrementalAlterConfigs.

    snakafka configs --entity-type topics --entity-name T --describe [--all]
    snakafka configs --entity-type topics --entity-name T --alter --add-config k=v,k2=[a,b] --delete-config k3
    snakafka configs --entity-type brokers --entity-name 0 | --entity-default --describe | --alter ...

Broker configs: the keys Kafka changes at run time are stored and applied by the broker
(per broker, or cluster-wide with --entity-default); others are refused by the broker
with Kafka's message. `--describe` shows the dynamic configs (topic overrides, dynamic
broker configs), `--all` every config with its source. `users` (SCRAM credentials) have
their own command, `snakafka users`, to which this one points.
"""

from __future__ import annotations

import re
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
    BROKER_RESOURCE,
    TOPIC_RESOURCE,
    AdminClient,
    ConfigEntry,
)

TOOL = "configs"
SET, DELETE = 0, 1
SOURCES = {0: "UNKNOWN", 1: "DYNAMIC_TOPIC_CONFIG", 2: "DYNAMIC_BROKER_CONFIG", 3: "DYNAMIC_DEFAULT_BROKER_CONFIG",
           4: "STATIC_BROKER_CONFIG", 5: "DEFAULT_CONFIG", 6: "DYNAMIC_BROKER_LOGGER_CONFIG"}
DYNAMIC_SOURCES = {"topics": {1}, "brokers": {2}, "brokers-default": {3}}
# kafka-configs.sh: commas outside [...] separate entries; [a,b] is a list value.
_ENTRY_SEPARATOR = re.compile(r",(?=[^\]]*(?:\[|$))")


def parse_add_config(text: str) -> dict[str, str]:
    """--add-config 'k1=v1,k2=[v2,v3]' (ConfigCommand.parseConfigsToBeAdded)."""
    result = {}
    for entry in _ENTRY_SEPARATOR.split(text):
        key, sep, value = entry.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"Invalid entity config: all configs to be added must be in the format "
                                     f"\"key=val\", got {entry!r}", param_hint="--add-config")
        value = value.strip()
        if value.startswith("[") and value.endswith("]"):
            value = value[1:-1]
        result[key.strip()] = value
    return result


def _entry_json(e: ConfigEntry) -> dict[str, Any]:
    return {"name": e.name, "value": e.value, "source": SOURCES.get(e.source, str(e.source)),
            "read_only": e.read_only, "sensitive": e.sensitive,
            "synonyms": [{"name": n, "value": v, "source": SOURCES.get(s, str(s))} for n, v, s in e.synonyms]}


def _entry_line(e: ConfigEntry) -> str:
    synonyms = ", ".join(f"{SOURCES.get(s, s)}:{n}={'null' if v is None else v}" for n, v, s in e.synonyms)
    value = "null" if e.value is None else e.value
    return f"  {e.name}={value} sensitive={str(e.sensitive).lower()} synonyms={{{synonyms}}}"


@click.command("configs")
@bootstrap_option
@click.option("--entity-type", required=True, type=click.Choice(["topics", "brokers", "users"]))
@click.option("--entity-name", default=None, help="Topic name or broker id; default: all of them (describe).")
@click.option("--entity-default", is_flag=True, help="Brokers: the cluster-wide default level.")
@click.option("--describe", is_flag=True, help="Show the dynamic configs (with --all: every config).")
@click.option("--all", "describe_all", is_flag=True, help="With --describe: every config, with its source.")
@click.option("--alter", is_flag=True, help="Change configs (--add-config, --delete-config).")
@click.option("--add-config", default=None, metavar="K=V,K2=[A,B]", help="Configs to set.")
@click.option("--delete-config", default=None, metavar="K,K2", help="Configs to remove (back to the default).")
@output_option
def configs(bootstrap: str, entity_type: str, entity_name: str | None, entity_default: bool, describe: bool,
            describe_all: bool, alter: bool, add_config: str | None, delete_config: str | None, output: str) -> None:
    """Describe or change topic and broker configs (like kafka-configs.sh)."""
    if describe == alter:
        raise click.UsageError("Command must include exactly one action: --describe, --alter")
    if entity_default and entity_type != "brokers":
        raise click.UsageError("--entity-default is only supported here for --entity-type brokers")
    if entity_default and entity_name is not None:
        raise click.UsageError("--entity-name and --entity-default cannot both be given")
    if entity_type == "brokers" and entity_name is not None and not entity_name.isdigit():
        raise click.UsageError(f"The entity name for brokers must be a valid integer broker id, found: {entity_name}")
    added: dict[str, str] = {}
    deleted: list[str] = []
    if alter:
        if add_config is None and delete_config is None:
            raise click.UsageError("--alter needs --add-config or --delete-config")
        if entity_name is None and not entity_default:
            raise click.UsageError("--entity-name or --entity-default must be specified with --alter")
        added = parse_add_config(add_config) if add_config else {}
        deleted = [k.strip() for k in (delete_config or "").split(",") if k.strip()]
        if set(added) & set(deleted):
            raise click.UsageError(f"Invalid config(s): {','.join(sorted(set(added) & set(deleted)))}: "
                                   "the same key is both added and deleted")
    if entity_type == "users":
        run_admin(TOOL, bootstrap, _users_hook)
        return
    if describe:
        _describe(bootstrap, entity_type, entity_name, entity_default, describe_all, output)
        return
    ops: list[tuple[str, int, str | None]] = [(k, SET, v) for k, v in added.items()]
    ops += [(k, DELETE, None) for k in deleted]
    broker_id = int(entity_name) if entity_type == "brokers" and entity_name is not None else None

    async def job(admin: AdminClient) -> None:
        if entity_type == "topics":
            assert entity_name is not None
            found, _, _ = await admin.metadata([entity_name])
            if entity_name not in found:
                raise CommandFailed(f"Topic '{entity_name}' does not exist as expected")
            await admin.alter_configs(TOPIC_RESOURCE, entity_name, ops)
        else:
            await admin.alter_configs(BROKER_RESOURCE, "" if entity_default else str(broker_id), ops,
                                      broker_id=broker_id)

    run_admin(TOOL, bootstrap, job)
    if entity_type == "topics":
        click.echo(f"Completed updating config for topic {entity_name}.")
    elif entity_default:
        click.echo("Completed updating default config for brokers in the cluster.")
    else:
        click.echo(f"Completed updating config for broker {entity_name}.")


def _describe(bootstrap: str, entity_type: str, entity_name: str | None, entity_default: bool, describe_all: bool,
              output: str) -> None:
    async def job(admin: AdminClient) -> list[tuple[str, str, list[ConfigEntry]]]:
        described = []
        if entity_type == "topics":
            names = [entity_name] if entity_name is not None else sorted((await admin.metadata(None))[0])
            if entity_name is not None:
                found, _, _ = await admin.metadata([entity_name])
                if entity_name not in found:
                    raise CommandFailed(f"Topic '{entity_name}' does not exist as expected")
            for name in names:
                entries = await admin.describe_configs(TOPIC_RESOURCE, name)
                described.append(("topic", name, [e for e in entries if describe_all or e.source in DYNAMIC_SOURCES["topics"]]))
            return described
        if entity_default or entity_name is None:
            entries = await admin.describe_configs(BROKER_RESOURCE, "")
            described.append(("brokers-default", "", entries))
        if not entity_default:
            ids = [int(entity_name)] if entity_name is not None else sorted(
                b.broker_id for b in (await admin.describe_cluster()).brokers)
            for broker_id in ids:
                entries = await admin.describe_configs(BROKER_RESOURCE, str(broker_id), broker_id=broker_id)
                described.append(("broker", str(broker_id),
                                  [e for e in entries if describe_all or e.source in DYNAMIC_SOURCES["brokers"]]))
        return described

    described = run_admin(TOOL, bootstrap, job)
    if output == "json":
        print_json([{"entity_type": "brokers" if kind.startswith("broker") else "topics",
                     "entity_name": name if kind != "brokers-default" else "<default>",
                     "configs": [_entry_json(e) for e in entries]} for kind, name, entries in described])
        return
    for kind, name, entries in described:
        scope = "All" if describe_all else "Dynamic"
        if kind == "brokers-default":
            click.echo("Default configs for brokers in the cluster are:")
        else:
            click.echo(f"{scope} configs for {kind} {name} are:")
        for e in entries:
            click.echo(_entry_line(e))


async def _users_hook(admin: AdminClient) -> None:
    """Users' SCRAM credentials (kafka-configs.sh --entity-type users) have their own
    command, `snakafka users`, built with the broker's SASL support."""
    raise CommandFailed("user SCRAM credentials are managed with `snakafka users` "
                        "(--describe [--user NAME], --user NAME --add-scram ... | --delete-scram ...)")

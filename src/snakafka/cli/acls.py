"""`snakafka acls`: add, remove and list ACLs, like kafka-acls.sh --bootstrap-server.

The same options as Kafka's AclCommand (--add | --remove | --list, --allow-principal,
--deny-principal, --allow-host, --deny-host, --operation, --topic, --group, --cluster,
--transactional-id, --resource-pattern-type, --principal, --producer, --consumer,
--idempotent, --force), the same defaults (host "*", operation All, pattern type
literal) and the same per-resource-type operation check; it talks CreateAcls,
DescribeAcls and DeleteAcls to the broker with our protocol client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import click
from kio.schema.errors import ErrorCode
from kio.static.primitive import i8

from snakafka.client.connection import BrokerConnection
from snakafka.client.requests import build, parse_bootstrap
from snakafka.client.requests import request as _req
from snakafka.client.requests import schema as _schema
from snakafka.security.acl import (
    CLUSTER_NAME,
    SUPPORTED_OPERATIONS,
    AccessControlEntry,
    AclBinding,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
)

Op = AclOperation
VERSION = 3


def _pattern_text(p: ResourcePattern | tuple[ResourceType, str | None, PatternType]) -> str:
    rtype, name, ptype = (p.resource_type, p.name, p.pattern_type) if isinstance(p, ResourcePattern) else p
    return f"ResourcePattern(resourceType={rtype.name}, name={name}, patternType={ptype.name})"


class AclAdmin:
    def __init__(self, conn: BrokerConnection) -> None:
        self.conn = conn

    async def create(self, bindings: list[AclBinding]) -> None:
        s = _schema(30, VERSION)
        resp = await self.conn.send(_req(30, VERSION, creations=tuple(build(
            s.AclCreation, resource_type=i8(b.pattern.resource_type), resource_name=b.pattern.name,
            resource_pattern_type=i8(b.pattern.pattern_type), principal=b.entry.principal, host=b.entry.host,
            operation=i8(b.entry.operation), permission_type=i8(b.entry.permission_type)) for b in bindings)))
        for b, r in zip(bindings, resp.results):
            if r.error_code != ErrorCode.none:
                raise click.ClickException(f"Error while adding ACL {b.entry} on {_pattern_text(b.pattern)}: "
                                           f"{r.error_code.name}: {r.error_message or ''}".rstrip(": "))

    async def describe(self, rtype: ResourceType, name: str | None, ptype: PatternType,
                       principal: str | None = None) -> list[AclBinding]:
        resp = await self.conn.send(_req(29, VERSION, resource_type_filter=i8(rtype), resource_name_filter=name,
                                         pattern_type_filter=i8(ptype), principal_filter=principal, host_filter=None,
                                         operation=i8(Op.ANY), permission_type=i8(AclPermissionType.ANY)))
        if resp.error_code != ErrorCode.none:
            raise click.ClickException(f"Error while listing ACLs: {resp.error_code.name}: {resp.error_message or ''}")
        return [AclBinding(ResourcePattern(ResourceType(r.resource_type), r.resource_name, PatternType(r.pattern_type)),
                           AccessControlEntry(a.principal, a.host, AclOperation(a.operation),
                                              AclPermissionType(a.permission_type)))
                for r in resp.resources for a in r.acls]

    async def delete(self, rtype: ResourceType, name: str | None, ptype: PatternType,
                     entries: list[AccessControlEntry] | None) -> int:
        """Delete the matching ACLs (all of the resource filter's when `entries` is None)."""
        s = _schema(31, VERSION)

        def one(e: AccessControlEntry | None) -> Any:
            return build(s.DeleteAclsFilter, resource_type_filter=i8(rtype), resource_name_filter=name,
                         pattern_type_filter=i8(ptype), principal_filter=e.principal if e else None,
                         host_filter=e.host if e else None, operation=i8(e.operation if e else Op.ANY),
                         permission_type=i8(e.permission_type if e else AclPermissionType.ANY))

        chosen: list[AccessControlEntry | None] = list(entries) if entries else [None]
        resp = await self.conn.send(_req(31, VERSION, filters=tuple(one(e) for e in chosen)))
        deleted = 0
        for r in resp.filter_results:
            if r.error_code != ErrorCode.none:
                raise click.ClickException(f"Error while removing ACLs: {r.error_code.name}: {r.error_message or ''}")
            deleted += len(r.matching_acls)
        return deleted


async def _with_admin(bootstrap: str, job: Any) -> Any:
    host, port = parse_bootstrap(bootstrap)[0]
    async with BrokerConnection(host, port, client_id="snakafka-acls") as conn:
        return await job(AclAdmin(conn))


def _resources(topics: Iterable[str], groups: Iterable[str], cluster: bool,
               transactional_ids: Iterable[str]) -> list[tuple[ResourceType, str]]:
    found = [(ResourceType.TOPIC, t) for t in topics] + [(ResourceType.GROUP, g) for g in groups]
    found += [(ResourceType.TRANSACTIONAL_ID, t) for t in transactional_ids]
    if cluster:
        found.append((ResourceType.CLUSTER, CLUSTER_NAME))
    return found


def _entries(allow_principals: tuple[str, ...], deny_principals: tuple[str, ...], allow_hosts: tuple[str, ...],
             deny_hosts: tuple[str, ...], operations: list[AclOperation]) -> list[AccessControlEntry]:
    """AclCommand.getAcls: every principal x host x operation, hosts defaulting to "*"."""
    result = []
    for principals, hosts, permission in ((allow_principals, allow_hosts, AclPermissionType.ALLOW),
                                          (deny_principals, deny_hosts, AclPermissionType.DENY)):
        for p in principals:
            for h in hosts or ("*",):
                for op in operations:
                    result.append(AccessControlEntry(p, h, op, permission))
    return result


def _check_principal(value: str) -> None:
    kind, sep, name = value.partition(":")
    if not sep or not kind or not name:
        raise click.UsageError(f"Could not parse principal from `{value}`: expected principalType:principalName")


@click.command("acls")
@click.option("--bootstrap-server", "bootstrap", default="127.0.0.1:9092", show_default=True)
@click.option("--add", "action", flag_value="add", help="Add the ACLs.")
@click.option("--remove", "action", flag_value="remove", help="Remove the ACLs.")
@click.option("--list", "action", flag_value="list", help="List the ACLs of the resources (all if none given).")
@click.option("--allow-principal", "allow_principals", multiple=True, metavar="PRINCIPAL", help="e.g. User:alice (repeatable).")
@click.option("--deny-principal", "deny_principals", multiple=True, metavar="PRINCIPAL", help="e.g. User:bob (repeatable).")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="HOST", help="IP the allowed principals connect from (default *).")
@click.option("--deny-host", "deny_hosts", multiple=True, metavar="HOST", help="IP the denied principals connect from (default *).")
@click.option("--operation", "operations", multiple=True, metavar="OP",
              help="Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, "
                   "IdempotentWrite, All (repeatable; default All).")
@click.option("--topic", "topics", multiple=True, help="Topic (repeatable; '*' for all).")
@click.option("--group", "groups", multiple=True, help="Consumer group (repeatable; '*' for all).")
@click.option("--cluster", is_flag=True, help="The cluster resource.")
@click.option("--transactional-id", "transactional_ids", multiple=True, help="Transactional id (repeatable).")
@click.option("--resource-pattern-type", "pattern_type", default="literal", show_default=True,
              type=click.Choice(["literal", "prefixed", "any", "match"], case_sensitive=False))
@click.option("--principal", "principal_filter", default=None, help="--list: only the ACLs of this principal.")
@click.option("--producer", is_flag=True, help="ACLs for a producer: Write, Describe, Create on the topics.")
@click.option("--consumer", is_flag=True, help="ACLs for a consumer: Read, Describe on the topics, Read on the group.")
@click.option("--idempotent", is_flag=True, help="With --producer: IdempotentWrite on the cluster.")
@click.option("--force", is_flag=True, help="--remove without asking.")
def acls(bootstrap: str, action: str | None, allow_principals: tuple[str, ...], deny_principals: tuple[str, ...],
         allow_hosts: tuple[str, ...], deny_hosts: tuple[str, ...], operations: tuple[str, ...],
         topics: tuple[str, ...], groups: tuple[str, ...], cluster: bool, transactional_ids: tuple[str, ...],
         pattern_type: str, principal_filter: str | None, producer: bool, consumer: bool, idempotent: bool,
         force: bool) -> None:
    """Add, remove or list ACLs (like kafka-acls.sh)."""
    if action is None:
        raise click.UsageError("Command must include exactly one action: --list, --add, --remove.")
    for p in allow_principals + deny_principals + ((principal_filter,) if principal_filter else ()):
        _check_principal(p)
    ptype = PatternType(PatternType.parse(pattern_type))
    if action == "add" and ptype not in (PatternType.LITERAL, PatternType.PREFIXED):
        raise click.UsageError(f"A '--resource-pattern-type' value of '{pattern_type}' is not valid when adding acls.")
    try:
        ops = [AclOperation(AclOperation.parse(o)) for o in operations] or [Op.ALL]
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    resources = _resources(topics, groups, cluster, transactional_ids)
    wanted: dict[tuple[ResourceType, str], list[AccessControlEntry]] = {}
    if producer or consumer:
        if action == "list":
            raise click.UsageError("--producer and --consumer go with --add or --remove")
        if producer:
            for t in topics:
                wanted.setdefault((ResourceType.TOPIC, t), []).extend(
                    _entries(allow_principals, (), allow_hosts, (), [Op.WRITE, Op.DESCRIBE, Op.CREATE]))
            for t in transactional_ids:
                wanted.setdefault((ResourceType.TRANSACTIONAL_ID, t), []).extend(
                    _entries(allow_principals, (), allow_hosts, (), [Op.WRITE, Op.DESCRIBE]))
            if idempotent:
                wanted.setdefault((ResourceType.CLUSTER, CLUSTER_NAME), []).extend(
                    _entries(allow_principals, (), allow_hosts, (), [Op.IDEMPOTENT_WRITE]))
        if consumer:
            for t in topics:
                wanted.setdefault((ResourceType.TOPIC, t), []).extend(
                    _entries(allow_principals, (), allow_hosts, (), [Op.READ, Op.DESCRIBE]))
            for g in groups:
                wanted.setdefault((ResourceType.GROUP, g), []).extend(
                    _entries(allow_principals, (), allow_hosts, (), [Op.READ]))
    else:
        entries = _entries(allow_principals, deny_principals, allow_hosts, deny_hosts, ops)
        for resource in resources:
            supported = set(SUPPORTED_OPERATIONS[resource[0]]) | {Op.ALL}
            bad = sorted({e.operation for e in entries} - supported)
            if bad:
                raise click.UsageError(f"ResourceType {resource[0].kafka_name} only supports operations "
                                       f"{', '.join(o.kafka_name for o in sorted(supported))}")
            wanted[resource] = entries
    if action == "add":
        if not resources:
            raise click.UsageError("You must specify one of: --topic, --cluster, --group, --transactional-id when adding acls")
        if not any(wanted.values()):
            raise click.UsageError("You must specify one of: --allow-principal, --deny-principal when trying to add ACLs.")
        _add(bootstrap, ptype, wanted)
    elif action == "remove":
        if not resources:
            raise click.UsageError("You must specify one of: --topic, --cluster, --group, --transactional-id when removing acls")
        _remove(bootstrap, ptype, wanted, force)
    else:
        _list(bootstrap, ptype, resources, principal_filter)


def _print_current(found: list[AclBinding]) -> None:
    by_pattern: dict[ResourcePattern, list[AccessControlEntry]] = {}
    for b in found:
        by_pattern.setdefault(b.pattern, []).append(b.entry)
    for pattern, entries in by_pattern.items():
        click.echo(f"Current ACLs for resource `{_pattern_text(pattern)}`: ")
        for e in entries:
            click.echo(f" \t{e} ")
        click.echo("")


def _add(bootstrap: str, ptype: PatternType, wanted: dict[tuple[ResourceType, str], list[AccessControlEntry]]) -> None:
    async def job(admin: AclAdmin) -> list[AclBinding]:
        bindings = []
        for (rtype, name), entries in wanted.items():
            pattern = ResourcePattern(rtype, name, ptype)
            click.echo(f"Adding ACLs for resource `{_pattern_text(pattern)}`: ")
            for e in entries:
                click.echo(f" \t{e} ")
            click.echo("")
            bindings += [AclBinding(pattern, e) for e in entries]
        await admin.create(bindings)
        found = []
        for rtype, name in wanted:
            found += await admin.describe(rtype, name, ptype)
        return found

    _print_current(asyncio.run(_with_admin(bootstrap, job)))


def _remove(bootstrap: str, ptype: PatternType, wanted: dict[tuple[ResourceType, str], list[AccessControlEntry]],
            force: bool) -> None:
    for (rtype, name), entries in wanted.items():
        text = _pattern_text((rtype, name, ptype))
        question = ("Are you sure you want to remove ACLs: \n" + "\n".join(f" \t{e} " for e in entries) +
                    f" \n from resource filter `{text}`?") if entries else \
            f"Are you sure you want to delete all ACLs for resource filter `{text}`?"
        if not force and not click.confirm(question):
            continue

        async def job(admin: AclAdmin, rtype: ResourceType = rtype, name: str = name,
                      entries: list[AccessControlEntry] = entries) -> int:
            return await admin.delete(rtype, name, ptype, entries or None)

        asyncio.run(_with_admin(bootstrap, job))


def _list(bootstrap: str, ptype: PatternType, resources: list[tuple[ResourceType, str]],
          principal: str | None) -> None:
    async def job(admin: AclAdmin) -> list[AclBinding]:
        if not resources:
            return await admin.describe(ResourceType.ANY, None, PatternType.ANY if ptype == PatternType.LITERAL
                                        else ptype, principal)
        found = []
        for rtype, name in resources:
            found += await admin.describe(rtype, name, ptype, principal)
        return found

    _print_current(asyncio.run(_with_admin(bootstrap, job)))

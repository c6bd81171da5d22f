"""The ACL authorizer: Kafka's AclAuthorizer (and StandardAuthorizer) decisions, as pure
functions over an in-memory ACL cache.

Rules, as Kafka applies them to a request for operation O on a literal resource R by a
principal P from host H:
- a super user (super.users) is allowed everything;
- the ACLs that apply to R are those on R's exact name, on the wildcard "*" of R's type
  and every PREFIXED pattern that is a prefix of R's name;
- no such ACL at all: allowed only if allow.everyone.if.no.acl.found;
- else denied if any DENY ACL matches (principal P or User:*, host H or "*", operation O
  or All): DENY wins over every ALLOW;
- else allowed if an ALLOW ACL matches for O or an operation implying O (Read, Write,
  Delete and Alter imply Describe; AlterConfigs implies DescribeConfigs; All implies
  everything).

`authorize_by_resource_type` is Kafka's check "may P do O on *some* resource of this
type" (idempotent producers without IdempotentWrite on the cluster, KIP-679).

The cache is replaced wholesale or per resource by the broker when the metadata store
reports a change; nothing here does I/O or logs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from snakafka.security.acl import (
    IMPLIED_BY,
    SUPPORTED_OPERATIONS,
    WILDCARD_HOST,
    WILDCARD_PRINCIPAL,
    WILDCARD_RESOURCE,
    AccessControlEntry,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
)
from snakafka.security.principal import KafkaPrincipal

ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
ALL = AclOperation.ALL

Acls = Mapping[ResourcePattern, frozenset[AccessControlEntry]]


def parse_super_users(text: str | None) -> frozenset[str]:
    """super.users: principals separated by semicolons ("User:admin;User:broker");
    ValueError for one that is not "<type>:<name>"."""
    if not text or not text.strip():
        return frozenset()
    return frozenset(str(KafkaPrincipal.parse(part.strip())) for part in text.split(";") if part.strip())


@dataclass
class AclAuthorizer:
    super_users: frozenset[str] = frozenset()
    allow_everyone_if_no_acl_found: bool = False
    _acls: dict[ResourcePattern, frozenset[AccessControlEntry]] = field(default_factory=dict)

    # -- the cache ---------------------------------------------------------------------

    def replace_all(self, acls: Acls) -> None:
        self._acls = {pattern: frozenset(entries) for pattern, entries in acls.items() if entries}

    def set_resource(self, pattern: ResourcePattern, entries: Iterable[AccessControlEntry]) -> None:
        entries = frozenset(entries)
        if entries:
            self._acls[pattern] = entries
        else:
            self._acls.pop(pattern, None)

    def resource_acls(self, pattern: ResourcePattern) -> frozenset[AccessControlEntry]:
        return self._acls.get(pattern, frozenset())

    def bindings(self) -> Iterator[AclBinding]:
        for pattern in sorted(self._acls):
            for entry in sorted(self._acls[pattern]):
                yield AclBinding(pattern, entry)

    def acls(self, binding_filter: AclBindingFilter) -> list[AclBinding]:
        """DescribeAcls: every cached binding the filter matches."""
        return [b for b in self.bindings() if binding_filter.matches(b)]

    # -- decisions ---------------------------------------------------------------------

    def is_super_user(self, principal: KafkaPrincipal) -> bool:
        return str(principal) in self.super_users

    def matching_acls(self, resource_type: ResourceType, name: str) -> list[AccessControlEntry]:
        """Every entry that applies to the literal resource (type, name)."""
        found: list[AccessControlEntry] = []
        for literal in (WILDCARD_RESOURCE, name):
            found.extend(self._acls.get(ResourcePattern(resource_type, literal, PatternType.LITERAL), ()))
            if literal == name == WILDCARD_RESOURCE:
                break
        for end in range(1, len(name) + 1):
            found.extend(self._acls.get(ResourcePattern(resource_type, name[:end], PatternType.PREFIXED), ()))
        return found

    def authorize(self, principal: KafkaPrincipal, host: str, operation: AclOperation,
                  resource_type: ResourceType, name: str) -> bool:
        if self.is_super_user(principal):
            return True
        acls = self.matching_acls(resource_type, name)
        if not acls:
            return self.allow_everyone_if_no_acl_found
        who = str(principal)
        if any(_matches(e, who, host, operation, DENY) for e in acls):
            return False
        allowing = IMPLIED_BY.get(operation, frozenset({operation}))
        return any(_matches(e, who, host, op, ALLOW) for e in acls for op in allowing)

    def authorized_operations(self, principal: KafkaPrincipal, host: str, resource_type: ResourceType,
                              name: str) -> set[AclOperation]:
        """The supported operations of the resource type this principal may perform on it
        (the authorized operations of Metadata, DescribeGroups and DescribeCluster)."""
        return {op for op in SUPPORTED_OPERATIONS.get(resource_type, ())
                if self.authorize(principal, host, op, resource_type, name)}

    def authorize_by_resource_type(self, principal: KafkaPrincipal, host: str, operation: AclOperation,
                                   resource_type: ResourceType) -> bool:
        """AclAuthorizer.authorizeByResourceType: allowed if some ALLOW pattern for
        (principal, host, operation) is not covered by a DENY (a literal DENY on "*"
        denies all; a DENY prefix covers every allow pattern it prefixes)."""
        if self.is_super_user(principal):
            return True
        who = str(principal)
        names: dict[tuple[AclPermissionType, PatternType], set[str]] = {}
        for pattern, entries in self._acls.items():
            if pattern.resource_type != resource_type:
                continue
            for e in entries:
                if _matches(e, who, host, operation, e.permission_type):
                    names.setdefault((e.permission_type, pattern.pattern_type), set()).add(pattern.name)
        deny_literals = names.get((DENY, PatternType.LITERAL), set())
        if WILDCARD_RESOURCE in deny_literals:
            return False
        if self.allow_everyone_if_no_acl_found:
            return True
        deny_prefixes = names.get((DENY, PatternType.PREFIXED), set())

        def dominated(name: str) -> bool:
            return any(name[:end] in deny_prefixes for end in range(len(name) + 1))

        if any(not dominated(p) for p in names.get((ALLOW, PatternType.PREFIXED), ())):
            return True
        return any(literal == WILDCARD_RESOURCE or (literal not in deny_literals and not dominated(literal))
                   for literal in names.get((ALLOW, PatternType.LITERAL), ()))


def _matches(entry: AccessControlEntry, principal: str, host: str, operation: AclOperation,
             permission: AclPermissionType) -> bool:
    return (entry.permission_type == permission
            and entry.principal in (principal, WILDCARD_PRINCIPAL)
            and entry.operation in (operation, ALL)
            and entry.host in (host, WILDCARD_HOST))


# -- changes, as the authorizer applies CreateAcls and DeleteAcls -------------------------

def validate_binding(binding: AclBinding) -> str | None:
    """Why Kafka refuses to create this binding (INVALID_REQUEST), or None."""
    pattern = binding.pattern
    if binding.is_unknown:
        return "ACL binding contains unknown elements"
    if pattern.resource_type == ResourceType.CLUSTER and pattern.name != "kafka-cluster":
        return "The only valid name for the CLUSTER resource is kafka-cluster"
    if not pattern.name:
        return "Invalid empty resource name specified"
    if "/" in pattern.name:
        return f"ACL binding contains invalid resource name: {pattern.name}"
    try:
        KafkaPrincipal.parse(binding.entry.principal)
    except ValueError as exc:
        return str(exc)
    return None


def deletion_targets(current: Iterable[ResourcePattern],
                     filters: list[AclBindingFilter]) -> dict[ResourcePattern, list[int]]:
    """AclAuthorizer.deleteAcls' first step: the resources the filters may touch (every
    cached pattern, plus the exact pattern of a filter that names one, which another
    broker may have written) and, per resource, the indexes of the filters matching it."""
    candidates = set(current)
    for f in filters:
        p = f.pattern
        if p.matches_at_most_one and p.name is not None:
            candidates.add(ResourcePattern(p.resource_type, p.name, p.pattern_type))
    result: dict[ResourcePattern, list[int]] = {}
    for pattern in sorted(candidates):
        matching = [i for i, f in enumerate(filters) if f.pattern.matches(pattern)]
        if matching:
            result[pattern] = matching
    return result

"""Kafka's ACL vocabulary: resource types, pattern types, operations, permissions, and
the bindings and filters built from them (org.apache.kafka.common.acl / .resource).

The numeric codes are the wire codes of CreateAcls / DescribeAcls / DeleteAcls; the
names are the ones Kafka writes in ZooKeeper's ACL JSON and in its logs ("Topic",
"ClusterAction", "Allow"). Filters match as Kafka's ResourcePatternFilter and
AccessControlEntryFilter do, including the MATCH pattern type (every pattern that would
apply to a named resource: literal, the "*" wildcard and prefixes of it).
Pure: no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

WILDCARD_RESOURCE = "*"
WILDCARD_HOST = "*"
WILDCARD_PRINCIPAL = "User:*"
CLUSTER_NAME = "kafka-cluster"


def _pascal(name: str) -> str:
    """SecurityUtils' names: CLUSTER_ACTION -> ClusterAction, TRANSACTIONAL_ID -> TransactionalId."""
    return "".join(part.capitalize() for part in name.split("_"))


class _Named(enum.IntEnum):
    @property
    def kafka_name(self) -> str:
        return _pascal(self.name)

    @classmethod
    def parse(cls, text: str) -> _Named:
        """By Kafka name or enum name, case-insensitively (kafka-acls.sh accepts both)."""
        wanted = text.replace("_", "").replace("-", "").lower()
        for member in cls:
            if member.name.replace("_", "").lower() == wanted:
                return member
        raise ValueError(f"unknown {cls.__name__} {text!r}")

    @classmethod
    def from_code(cls, code: int) -> _Named:
        try:
            return cls(code)
        except ValueError:
            return cls(0)  # UNKNOWN, as Kafka's fromCode


class ResourceType(_Named):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(_Named):
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class AclOperation(_Named):
    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


class AclPermissionType(_Named):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


Op = AclOperation

# AclEntry.supportedOperations: what authorized-operations bitfields report per type.
SUPPORTED_OPERATIONS: dict[ResourceType, tuple[AclOperation, ...]] = {
    ResourceType.TOPIC: (Op.READ, Op.WRITE, Op.CREATE, Op.DESCRIBE, Op.DELETE, Op.ALTER, Op.DESCRIBE_CONFIGS,
                         Op.ALTER_CONFIGS),
    ResourceType.GROUP: (Op.READ, Op.DESCRIBE, Op.DELETE),
    ResourceType.CLUSTER: (Op.CREATE, Op.CLUSTER_ACTION, Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS, Op.IDEMPOTENT_WRITE,
                           Op.ALTER, Op.DESCRIBE),
    ResourceType.TRANSACTIONAL_ID: (Op.DESCRIBE, Op.WRITE),
    ResourceType.DELEGATION_TOKEN: (Op.DESCRIBE,),
    ResourceType.USER: (Op.CREATE_TOKENS, Op.DESCRIBE_TOKENS),
}

# AclAuthorizer.allowAclExists: an ALLOW of any of these grants the key operation.
IMPLIED_BY: dict[AclOperation, frozenset[AclOperation]] = {
    Op.DESCRIBE: frozenset({Op.DESCRIBE, Op.READ, Op.WRITE, Op.DELETE, Op.ALTER}),
    Op.DESCRIBE_CONFIGS: frozenset({Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS}),
}

CONCRETE_RESOURCE_TYPES = tuple(SUPPORTED_OPERATIONS)
STORED_PATTERN_TYPES = (PatternType.LITERAL, PatternType.PREFIXED)


@dataclass(frozen=True, slots=True, order=True)
class ResourcePattern:
    """A resource an ACL applies to: literal name (or "*"), or a name prefix."""

    resource_type: ResourceType
    name: str
    pattern_type: PatternType = PatternType.LITERAL

    def __str__(self) -> str:  # Kafka's log form: Topic:LITERAL:foo
        return f"{self.resource_type.kafka_name}:{self.pattern_type.name}:{self.name}"

    @property
    def is_unknown(self) -> bool:
        return self.resource_type in (ResourceType.UNKNOWN, ResourceType.ANY) or \
            self.pattern_type not in STORED_PATTERN_TYPES


@dataclass(frozen=True, slots=True, order=True)
class AccessControlEntry:
    """Who (principal "User:alice" or "User:*"), from where (an IP or "*"), what, allow or deny."""

    principal: str
    host: str
    operation: AclOperation
    permission_type: AclPermissionType

    def __str__(self) -> str:  # Kafka's AccessControlEntry.toString
        return (f"(principal={self.principal}, host={self.host}, operation={self.operation.name}, "
                f"permissionType={self.permission_type.name})")

    @property
    def is_unknown(self) -> bool:
        return self.operation in (Op.UNKNOWN, Op.ANY) or \
            self.permission_type in (AclPermissionType.UNKNOWN, AclPermissionType.ANY)


@dataclass(frozen=True, slots=True, order=True)
class AclBinding:
    pattern: ResourcePattern
    entry: AccessControlEntry

    @property
    def is_unknown(self) -> bool:
        return self.pattern.is_unknown or self.entry.is_unknown


@dataclass(frozen=True, slots=True)
class ResourcePatternFilter:
    """Kafka's ResourcePatternFilter: ANY type / pattern type, a None name matches all;
    MATCH matches every stored pattern that applies to the named resource."""

    resource_type: ResourceType = ResourceType.ANY
    name: str | None = None
    pattern_type: PatternType = PatternType.ANY

    def matches(self, pattern: ResourcePattern) -> bool:
        if self.resource_type != ResourceType.ANY and self.resource_type != pattern.resource_type:
            return False
        if self.pattern_type not in (PatternType.ANY, PatternType.MATCH) and self.pattern_type != pattern.pattern_type:
            return False
        if self.name is None:
            return True
        if self.pattern_type in (PatternType.ANY, pattern.pattern_type):
            return self.name == pattern.name
        if pattern.pattern_type == PatternType.LITERAL:
            return self.name == pattern.name or pattern.name == WILDCARD_RESOURCE
        if pattern.pattern_type == PatternType.PREFIXED:
            return self.name.startswith(pattern.name)
        return False

    @property
    def matches_at_most_one(self) -> bool:
        return (self.name is not None and self.resource_type not in (ResourceType.ANY, ResourceType.UNKNOWN)
                and self.pattern_type in STORED_PATTERN_TYPES)

    @property
    def is_unknown(self) -> bool:
        return self.resource_type == ResourceType.UNKNOWN or self.pattern_type == PatternType.UNKNOWN


@dataclass(frozen=True, slots=True)
class AccessControlEntryFilter:
    principal: str | None = None
    host: str | None = None
    operation: AclOperation = Op.ANY
    permission_type: AclPermissionType = AclPermissionType.ANY

    def matches(self, entry: AccessControlEntry) -> bool:
        if self.principal is not None and self.principal != entry.principal:
            return False
        if self.host is not None and self.host != entry.host:
            return False
        if self.operation != Op.ANY and self.operation != entry.operation:
            return False
        return self.permission_type == AclPermissionType.ANY or self.permission_type == entry.permission_type

    @property
    def is_unknown(self) -> bool:
        return self.operation == Op.UNKNOWN or self.permission_type == AclPermissionType.UNKNOWN


@dataclass(frozen=True, slots=True)
class AclBindingFilter:
    pattern: ResourcePatternFilter
    entry: AccessControlEntryFilter

    def matches(self, binding: AclBinding) -> bool:
        return self.pattern.matches(binding.pattern) and self.entry.matches(binding.entry)

    @property
    def is_unknown(self) -> bool:
        return self.pattern.is_unknown or self.entry.is_unknown


MATCH_ALL = AclBindingFilter(ResourcePatternFilter(), AccessControlEntryFilter())


def to_bitfield(operations: set[AclOperation] | frozenset[AclOperation]) -> int:
    """Utils.to32BitField: bit n set for operation code n (authorized operations fields)."""
    value = 0
    for op in operations:
        value |= 1 << int(op)
    return value - (1 << 32) if value >= 1 << 31 else value


def from_bitfield(value: int) -> set[AclOperation]:
    return {op for op in AclOperation if value >= 0 and value & (1 << int(op))}


# -- the stored form -----------------------------------------------------------------------
# The metadata stores keep ACLs as plain strings, in the names of Kafka's ZooKeeper JSON, so
# the cluster layer needs nothing from here: a resource key (pattern type, resource type,
# name) -> a set of entries (principal, permissionType, operation, host).

StoredResource = tuple[str, str, str]  # ("LITERAL" | "PREFIXED", "Topic", "orders")
StoredEntry = tuple[str, str, str, str]  # ("User:alice", "Allow", "Read", "*")


def stored_resource(pattern: ResourcePattern) -> StoredResource:
    return (pattern.pattern_type.name, pattern.resource_type.kafka_name, pattern.name)


def stored_entry(entry: AccessControlEntry) -> StoredEntry:
    return (entry.principal, entry.permission_type.kafka_name, entry.operation.kafka_name, entry.host)


def pattern_from_stored(key: StoredResource) -> ResourcePattern:
    """ValueError for a name this version does not know (Kafka skips those with a warning)."""
    pattern_type, resource_type, name = key
    return ResourcePattern(ResourceType(ResourceType.parse(resource_type)), name, PatternType(PatternType.parse(pattern_type)))


def entry_from_stored(entry: StoredEntry) -> AccessControlEntry:
    principal, permission, operation, host = entry
    return AccessControlEntry(principal, host, AclOperation(AclOperation.parse(operation)),
                              AclPermissionType(AclPermissionType.parse(permission)))

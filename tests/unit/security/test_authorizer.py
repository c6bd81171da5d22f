"""The ACL authorizer's decisions, against Kafka's rules (AclAuthorizer / AclAuthorizerTest):
examples for each rule, then hypothesis properties over random ACL sets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snakafka.security.acl import (
    SUPPORTED_OPERATIONS,
    AccessControlEntry,
    AccessControlEntryFilter,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    from_bitfield,
    to_bitfield,
)
from snakafka.security.authorizer import (
    AclAuthorizer,
    deletion_targets,
    parse_super_users,
    validate_binding,
)
from snakafka.security.principal import KafkaPrincipal

Op, P = AclOperation, AclPermissionType
TOPIC, GROUP, CLUSTER = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER
LIT, PRE = PatternType.LITERAL, PatternType.PREFIXED
ALICE, BOB = KafkaPrincipal.parse("User:alice"), KafkaPrincipal.parse("User:bob")
HOST = "10.0.0.1"


def authorizer(*acls: tuple[ResourcePattern, AccessControlEntry], super_users: str = "",
               allow_everyone: bool = False) -> AclAuthorizer:
    a = AclAuthorizer(parse_super_users(super_users), allow_everyone)
    grouped: dict[ResourcePattern, set[AccessControlEntry]] = {}
    for pattern, entry in acls:
        grouped.setdefault(pattern, set()).add(entry)
    a.replace_all({p: frozenset(e) for p, e in grouped.items()})
    return a


def ace(principal: str = "User:alice", op: AclOperation = Op.READ, perm: AclPermissionType = P.ALLOW,
        host: str = "*") -> AccessControlEntry:
    return AccessControlEntry(principal, host, op, perm)


def topic(name: str, pattern: PatternType = LIT) -> ResourcePattern:
    return ResourcePattern(TOPIC, name, pattern)


# -- examples ----------------------------------------------------------------------------------

def test_no_acls_follow_allow_everyone() -> None:
    assert not authorizer().authorize(ALICE, HOST, Op.READ, TOPIC, "t")
    assert authorizer(allow_everyone=True).authorize(ALICE, HOST, Op.READ, TOPIC, "t")
    # an ACL for someone else on the resource: no longer "no ACL found", even with allow.everyone
    a = authorizer((topic("t"), ace("User:bob")), allow_everyone=True)
    assert not a.authorize(ALICE, HOST, Op.READ, TOPIC, "t")
    assert a.authorize(ALICE, HOST, Op.READ, TOPIC, "other")


def test_literal_wildcard_and_prefixed_patterns_apply() -> None:
    a = authorizer((topic("orders"), ace(op=Op.READ)), (topic("*"), ace(op=Op.WRITE)),
                   (topic("log-", PRE), ace(op=Op.DELETE)))
    assert a.authorize(ALICE, HOST, Op.READ, TOPIC, "orders")
    assert not a.authorize(ALICE, HOST, Op.READ, TOPIC, "orders2")  # literal is exact
    assert a.authorize(ALICE, HOST, Op.WRITE, TOPIC, "anything")
    assert a.authorize(ALICE, HOST, Op.DELETE, TOPIC, "log-app")
    assert not a.authorize(ALICE, HOST, Op.DELETE, TOPIC, "lo")
    assert not a.authorize(ALICE, HOST, Op.READ, GROUP, "orders")  # other resource type


def test_deny_wins_and_wildcard_principal_and_host() -> None:
    a = authorizer((topic("t"), ace(op=Op.ALL)), (topic("t", PRE), ace("User:*", Op.WRITE, P.DENY)))
    assert a.authorize(ALICE, HOST, Op.READ, TOPIC, "t")
    assert not a.authorize(ALICE, HOST, Op.WRITE, TOPIC, "t")
    host_only = authorizer((topic("t"), ace(host="10.0.0.2")))
    assert not host_only.authorize(ALICE, HOST, Op.READ, TOPIC, "t")
    assert host_only.authorize(ALICE, "10.0.0.2", Op.READ, TOPIC, "t")


def test_implied_operations() -> None:
    for op in (Op.READ, Op.WRITE, Op.DELETE, Op.ALTER):
        assert authorizer((topic("t"), ace(op=op))).authorize(ALICE, HOST, Op.DESCRIBE, TOPIC, "t")
    assert not authorizer((topic("t"), ace(op=Op.CREATE))).authorize(ALICE, HOST, Op.DESCRIBE, TOPIC, "t")
    assert authorizer((topic("t"), ace(op=Op.ALTER_CONFIGS))).authorize(ALICE, HOST, Op.DESCRIBE_CONFIGS, TOPIC, "t")
    assert not authorizer((topic("t"), ace(op=Op.DESCRIBE))).authorize(ALICE, HOST, Op.READ, TOPIC, "t")
    # a DENY of Read does not deny Describe (Kafka denies only the operation itself or All)
    a = authorizer((topic("t"), ace(op=Op.WRITE)), (topic("t"), ace(op=Op.READ, perm=P.DENY)))
    assert a.authorize(ALICE, HOST, Op.DESCRIBE, TOPIC, "t")


def test_super_users() -> None:
    a = authorizer((topic("t"), ace("User:*", Op.ALL, P.DENY)), super_users="User:admin; User:alice")
    assert a.authorize(ALICE, HOST, Op.DELETE, TOPIC, "t")
    assert not a.authorize(BOB, HOST, Op.DELETE, TOPIC, "t")
    with pytest.raises(ValueError, match="principalType:principalName"):
        parse_super_users("alice")


def test_authorized_operations_bitfield() -> None:
    a = authorizer((topic("t"), ace(op=Op.WRITE)))
    ops = a.authorized_operations(ALICE, HOST, TOPIC, "t")
    assert ops == {Op.WRITE, Op.DESCRIBE}
    assert from_bitfield(to_bitfield(ops)) == ops
    assert to_bitfield({Op.WRITE, Op.DESCRIBE}) == (1 << 4) | (1 << 8)


def test_authorize_by_resource_type() -> None:
    """Kafka's AuthorizerInterfaceDefaultTest cases: an allow not covered by a deny."""
    assert not authorizer().authorize_by_resource_type(ALICE, HOST, Op.WRITE, TOPIC)
    assert authorizer(allow_everyone=True).authorize_by_resource_type(ALICE, HOST, Op.WRITE, TOPIC)
    assert authorizer((topic("t"), ace(op=Op.WRITE))).authorize_by_resource_type(ALICE, HOST, Op.WRITE, TOPIC)
    assert not authorizer((topic("t"), ace(op=Op.WRITE)), (topic("t"), ace(op=Op.WRITE, perm=P.DENY))) \
        .authorize_by_resource_type(ALICE, HOST, Op.WRITE, TOPIC)
    assert not authorizer((topic("abc"), ace(op=Op.WRITE)), (topic("a", PRE), ace(op=Op.WRITE, perm=P.DENY))) \
        .authorize_by_resource_type(ALICE, HOST, Op.WRITE, TOPIC)
    assert authorizer((topic("abc"), ace(op=Op.WRITE)), (topic("b", PRE), ace(op=Op.WRITE, perm=P.DENY))) \
        .authorize_by_resource_type(ALICE, HOST, Op.WRITE, TOPIC)
    assert not authorizer((topic("abc"), ace(op=Op.WRITE)), (topic("*"), ace(op=Op.WRITE, perm=P.DENY)),
                          allow_everyone=True).authorize_by_resource_type(ALICE, HOST, Op.WRITE, TOPIC)


def test_filters_as_kafka() -> None:
    lit, pre, star = topic("foo"), topic("fo", PRE), topic("*")
    match = ResourcePatternFilter(TOPIC, "foo", PatternType.MATCH)
    assert [p for p in (lit, pre, star, topic("bar")) if match.matches(p)] == [lit, pre, star]
    any_ = ResourcePatternFilter(TOPIC, "foo", PatternType.ANY)
    assert [p for p in (lit, pre, star, topic("foo", PRE)) if any_.matches(p)] == [lit, topic("foo", PRE)]
    assert ResourcePatternFilter().matches(ResourcePattern(GROUP, "g"))
    assert AccessControlEntryFilter(principal="User:alice").matches(ace())
    assert not AccessControlEntryFilter(operation=Op.WRITE).matches(ace())
    filters = [AclBindingFilter(ResourcePatternFilter(TOPIC, "new", LIT), AccessControlEntryFilter())]
    assert deletion_targets([lit], filters) == {topic("new"): [0]}  # a resource another broker may have written


def test_validation() -> None:
    assert validate_binding(AclBinding(ResourcePattern(CLUSTER, "c"), ace())) is not None
    assert validate_binding(AclBinding(ResourcePattern(CLUSTER, "kafka-cluster"), ace())) is None
    assert validate_binding(AclBinding(topic(""), ace())) is not None
    assert validate_binding(AclBinding(topic("a/b"), ace())) is not None
    assert validate_binding(AclBinding(topic("t"), ace(op=Op.ANY))) is not None
    assert validate_binding(AclBinding(topic("t"), ace(principal="alice"))) is not None


# -- properties ----------------------------------------------------------------------------------

NAMES = st.sampled_from(["a", "ab", "abc", "b", "*"])
PRINCIPALS = st.sampled_from(["User:alice", "User:bob", "User:*"])
HOSTS = st.sampled_from(["*", HOST, "10.0.0.9"])
OPS = st.sampled_from([op for op in AclOperation if op not in (Op.UNKNOWN, Op.ANY)])
ENTRY = st.builds(AccessControlEntry, PRINCIPALS, HOSTS, OPS, st.sampled_from([P.ALLOW, P.DENY]))
PATTERN = st.builds(ResourcePattern, st.sampled_from([TOPIC, GROUP]), NAMES, st.sampled_from([LIT, PRE]))
ACLS = st.lists(st.tuples(PATTERN, ENTRY), max_size=12)
REQUEST = st.tuples(st.sampled_from([ALICE, BOB]), st.sampled_from([HOST, "10.0.0.9"]), OPS,
                    st.sampled_from([TOPIC, GROUP]), st.sampled_from(["a", "ab", "abc", "b", "c"]))


def applies(pattern: ResourcePattern, resource_type: ResourceType, name: str) -> bool:
    if pattern.resource_type != resource_type:
        return False
    if pattern.pattern_type == PRE:
        return name.startswith(pattern.name)
    return pattern.name in (name, "*")


def reference(acls: list[tuple[ResourcePattern, AccessControlEntry]], allow_everyone: bool, who: KafkaPrincipal,
              host: str, op: AclOperation, resource_type: ResourceType, name: str) -> bool:
    """The rules written out a second way, straight from Kafka's documentation."""
    relevant = [e for p, e in acls if applies(p, resource_type, name)]
    if not relevant:
        return allow_everyone
    mine = [e for e in relevant if e.principal in (str(who), "User:*") and e.host in (host, "*")]
    if any(e.permission_type == P.DENY and e.operation in (op, Op.ALL) for e in mine):
        return False
    implied = {Op.DESCRIBE: {Op.READ, Op.WRITE, Op.DELETE, Op.ALTER}, Op.DESCRIBE_CONFIGS: {Op.ALTER_CONFIGS}}
    return any(e.permission_type == P.ALLOW and e.operation in {op, Op.ALL} | implied.get(op, set()) for e in mine)


@settings(max_examples=150, deadline=None)
@given(ACLS, st.booleans(), REQUEST)
def test_matches_the_reference_rules(acls, allow_everyone, request) -> None:
    assert authorizer(*acls, allow_everyone=allow_everyone).authorize(*request) == \
        reference(acls, allow_everyone, *request)


@settings(max_examples=100, deadline=None)
@given(ACLS, st.booleans(), REQUEST, HOSTS)
def test_deny_always_wins(acls, allow_everyone, request, deny_host) -> None:
    who, host, op, resource_type, name = request
    deny = (ResourcePattern(resource_type, name[:1], PRE), AccessControlEntry(str(who), deny_host, op, P.DENY))
    a = authorizer(*acls, deny, allow_everyone=allow_everyone)
    if deny_host in ("*", host):
        assert not a.authorize(*request)
    all_deny = (ResourcePattern(resource_type, "*"), AccessControlEntry("User:*", "*", Op.ALL, P.DENY))
    assert not authorizer(*acls, all_deny, allow_everyone=allow_everyone).authorize(*request)


@settings(max_examples=100, deadline=None)
@given(ACLS, st.booleans(), REQUEST)
def test_super_user_always_allowed(acls, allow_everyone, request) -> None:
    who = request[0]
    assert authorizer(*acls, super_users=f"User:nobody;{who}", allow_everyone=allow_everyone).authorize(*request)


@settings(max_examples=100, deadline=None)
@given(ACLS, st.booleans(), REQUEST)
def test_allowing_an_operation_allows_what_it_implies(acls, allow_everyone, request) -> None:
    who, host, op, resource_type, name = request
    a = authorizer(*acls, allow_everyone=allow_everyone)
    denies = {e.operation for p, e in acls if applies(p, resource_type, name) and e.permission_type == P.DENY
              and e.principal in (str(who), "User:*") and e.host in (host, "*")}
    if a.authorize(*request) and op in (Op.READ, Op.WRITE, Op.DELETE, Op.ALTER) and not denies & {Op.DESCRIBE, Op.ALL}:
        assert a.authorize(who, host, Op.DESCRIBE, resource_type, name)
    ops = a.authorized_operations(who, host, resource_type, name)
    assert ops <= set(SUPPORTED_OPERATIONS[resource_type])
    assert all(a.authorize(who, host, o, resource_type, name) for o in ops)


@settings(max_examples=100, deadline=None)
@given(ACLS, st.booleans(), REQUEST)
def test_by_resource_type_agrees_with_literal_checks(acls, allow_everyone, request) -> None:
    """If some concrete literal resource is allowed through a literal or prefixed ALLOW,
    authorize_by_resource_type says yes; if a literal DENY on "*" covers everything, no."""
    who, host, op, resource_type, _ = request
    a = authorizer(*acls, allow_everyone=allow_everyone)
    result = a.authorize_by_resource_type(who, host, op, resource_type)
    if any(p.resource_type == resource_type and p.pattern_type == LIT and p.name == "*" and e.permission_type == P.DENY
           and e.principal in (str(who), "User:*") and e.host in (host, "*") and e.operation in (op, Op.ALL)
           for p, e in acls):
        assert not result
    elif allow_everyone:
        assert result

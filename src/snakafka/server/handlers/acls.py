"""CreateAcls, DescribeAcls and DeleteAcls (KIP-140, prefixed patterns from KIP-290), as
Kafka's AclApis answers them: SECURITY_DISABLED without an authorizer, Alter on the
cluster to create or delete, Describe on the cluster to list (else
CLUSTER_AUTHORIZATION_FAILED), INVALID_REQUEST for bindings or filters with unknown
elements. The ACLs live in the metadata store (server/acl_host.py).
"""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode
from kio.static.primitive import i8

from snakafka.security.acl import (
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
)
from snakafka.server import authorization
from snakafka.server.context import ZERO, RequestContext, build

NO_AUTHORIZER = "No Authorizer is configured on the broker"
CLUSTER_DENIED = "Cluster authorization failed."


def _refusal(ctx: RequestContext, op: AclOperation) -> tuple[ErrorCode, str] | None:
    if not authorization.enabled(ctx):
        return ErrorCode.security_disabled, NO_AUTHORIZER
    if not authorization.cluster_allowed(ctx, op):
        return ErrorCode.cluster_authorization_failed, CLUSTER_DENIED
    return None


def _filter(resource_type: int, name: str | None, pattern_type: int, principal: str | None, host: str | None,
            operation: int, permission: int) -> AclBindingFilter:
    return AclBindingFilter(
        ResourcePatternFilter(ResourceType(ResourceType.from_code(resource_type)), name,
                              PatternType(PatternType.from_code(pattern_type))),
        AccessControlEntryFilter(principal, host, AclOperation(AclOperation.from_code(operation)),
                                 AclPermissionType(AclPermissionType.from_code(permission))))


async def handle_create_acls(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    refusal = _refusal(ctx, AclOperation.ALTER)
    if refusal is not None:
        errors: list[tuple[ErrorCode, str | None]] = [refusal] * len(request.creations)
    else:
        bindings = [AclBinding(
            ResourcePattern(ResourceType(ResourceType.from_code(c.resource_type)), c.resource_name,
                            PatternType(PatternType.from_code(c.resource_pattern_type))),
            AccessControlEntry(c.principal, c.host, AclOperation(AclOperation.from_code(c.operation)),
                               AclPermissionType(AclPermissionType.from_code(c.permission_type))))
            for c in request.creations]
        failures = await ctx.broker.acls.create(bindings)
        errors = [(ErrorCode.none, None) if f is None else (ErrorCode.invalid_request, f) for f in failures]
    return build(schema.CreateAclsResponse, throttle_time=ZERO, results=tuple(
        build(schema.AclCreationResult, error_code=code, error_message=message) for code, message in errors))


async def handle_describe_acls(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    refusal = _refusal(ctx, AclOperation.DESCRIBE)
    binding_filter = _filter(request.resource_type_filter, request.resource_name_filter, request.pattern_type_filter,
                             request.principal_filter, request.host_filter, request.operation, request.permission_type)
    if refusal is None and binding_filter.is_unknown:
        refusal = ErrorCode.invalid_request, "The filter contains unknown elements"
    if refusal is not None:
        return build(schema.DescribeAclsResponse, throttle_time=ZERO, error_code=refusal[0], error_message=refusal[1],
                     resources=())
    grouped: dict[ResourcePattern, list[AccessControlEntry]] = {}
    for b in ctx.broker.acls.describe(binding_filter):
        grouped.setdefault(b.pattern, []).append(b.entry)
    return build(schema.DescribeAclsResponse, throttle_time=ZERO, error_code=ErrorCode.none, error_message=None,
                 resources=tuple(build(
                     schema.DescribeAclsResource, resource_type=i8(p.resource_type), resource_name=p.name,
                     pattern_type=i8(p.pattern_type), acls=tuple(
                         build(schema.AclDescription, principal=e.principal, host=e.host, operation=i8(e.operation),
                               permission_type=i8(e.permission_type)) for e in entries))
                     for p, entries in grouped.items()))


async def handle_delete_acls(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    refusal = _refusal(ctx, AclOperation.ALTER)
    filters = [_filter(f.resource_type_filter, f.resource_name_filter, f.pattern_type_filter, f.principal_filter,
                       f.host_filter, f.operation, f.permission_type) for f in request.filters]
    if refusal is not None:
        return build(schema.DeleteAclsResponse, throttle_time=ZERO, filter_results=tuple(
            build(schema.DeleteAclsFilterResult, error_code=refusal[0], error_message=refusal[1], matching_acls=())
            for _ in filters))
    valid = [i for i, f in enumerate(filters) if not f.is_unknown]
    deleted = await ctx.broker.acls.delete([filters[i] for i in valid])
    per_filter: dict[int, list[tuple[AclBinding, str | None]]] = dict(zip(valid, deleted))
    results = []
    for i in range(len(filters)):
        if i not in per_filter:
            results.append(build(schema.DeleteAclsFilterResult, error_code=ErrorCode.invalid_request,
                                 error_message="The filter contains unknown elements", matching_acls=()))
            continue
        results.append(build(schema.DeleteAclsFilterResult, error_code=ErrorCode.none, error_message=None,
                             matching_acls=tuple(build(
                                 schema.DeleteAclsMatchingAcl,
                                 error_code=ErrorCode.none if error is None else ErrorCode.unknown_server_error,
                                 error_message=error, resource_type=i8(b.pattern.resource_type),
                                 resource_name=b.pattern.name, pattern_type=i8(b.pattern.pattern_type),
                                 principal=b.entry.principal, host=b.entry.host, operation=i8(b.entry.operation),
                                 permission_type=i8(b.entry.permission_type))
                                 for b, error in per_filter[i])))
    return build(schema.DeleteAclsResponse, throttle_time=ZERO, filter_results=tuple(results))

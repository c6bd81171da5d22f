"""Group APIs: FindCoordinator (of groups, and of transactional ids: key type 1), JoinGroup,
SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups,
DeleteGroups, OffsetDelete.

Each handler turns a kio request into a call on the group coordinator and its result
back into a kio response of the client's version; the group logic lives in
snakafka.coordinator.group.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kio.schema.errors import ErrorCode
from kio.static.primitive import i32, i64

from snakafka.cluster.model import Endpoint
from snakafka.server import authorization
from snakafka.server.authorization import GROUP, TXN_ID, Op
from snakafka.server.context import ZERO, RequestContext, build

GROUP_KEY_TYPE = 0
TRANSACTION_KEY_TYPE = 1


def _code(value: int | ErrorCode) -> ErrorCode:
    return value if isinstance(value, ErrorCode) else ErrorCode(value)


async def handle_find_coordinator(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    broker = ctx.broker
    key_type = getattr(request, "key_type", GROUP_KEY_TYPE)
    keys = list(request.coordinator_keys) if ctx.version >= 4 else [request.key]
    found: list[tuple[str, ErrorCode, int, Endpoint | None]] = []
    for key in keys:
        error, endpoint, node_id = ErrorCode.none, None, -1
        if key_type not in (GROUP_KEY_TYPE, TRANSACTION_KEY_TYPE):
            error = ErrorCode.invalid_request
        elif key_type == GROUP_KEY_TYPE and not authorization.allowed(ctx, Op.DESCRIBE, GROUP, key):
            error = ErrorCode.group_authorization_failed
        elif key_type == TRANSACTION_KEY_TYPE and not authorization.allowed(ctx, Op.DESCRIBE, TXN_ID, key):
            error = ErrorCode.transactional_id_authorization_failed
        else:
            if key_type == TRANSACTION_KEY_TYPE:  # creates __transaction_state on first use
                error, node = await broker.txn_coordinator_node(key)
            else:
                error, node = await broker.group_coordinator_node(key)
            endpoint = node.endpoint(ctx.listener) if node is not None else None
            if error == ErrorCode.none and endpoint is None:
                error = ErrorCode.coordinator_not_available  # the coordinator lacks this listener
            node_id = node.broker_id if endpoint is not None and node is not None else -1
        found.append((key, error, node_id, endpoint))
    if ctx.version >= 4:
        return build(schema.FindCoordinatorResponse, throttle_time=ZERO, coordinators=tuple(
            build(schema.Coordinator, key=key, node_id=i32(node_id), host=endpoint.host if endpoint else "",
                  port=i32(endpoint.port if endpoint else -1), error_code=error, error_message=None)
            for key, error, node_id, endpoint in found
        ))
    key, error, node_id, endpoint = found[0]
    return build(schema.FindCoordinatorResponse, throttle_time=ZERO, error_code=error, error_message=None,
                 node_id=i32(node_id), host=endpoint.host if endpoint else "",
                 port=i32(endpoint.port if endpoint else -1))


async def handle_join_group(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    if not authorization.allowed(ctx, Op.READ, GROUP, request.group_id):
        return build(schema.JoinGroupResponse, throttle_time=ZERO, error_code=ErrorCode.group_authorization_failed,
                     generation_id=i32(-1), protocol_type=None, protocol_name=None if ctx.version >= 7 else "",
                     leader="", skip_assignment=False, member_id=request.member_id, members=())
    result = await ctx.broker.groups.join_group(
        request.group_id,
        request.member_id,
        getattr(request, "group_instance_id", None),
        ctx.header.client_id or "",
        "/" + ctx.client_host,
        int(request.session_timeout.total_seconds() * 1000),
        int(request.rebalance_timeout.total_seconds() * 1000) if hasattr(request, "rebalance_timeout") else int(request.session_timeout.total_seconds() * 1000),
        request.protocol_type,
        [(p.name, p.metadata) for p in request.protocols],
        ctx.version >= 4,
    )
    members = tuple(
        build(schema.JoinGroupResponseMember, member_id=m.member_id, group_instance_id=m.group_instance_id, metadata=m.metadata)
        for m in result.members
    )
    return build(schema.JoinGroupResponse, throttle_time=ZERO, error_code=_code(result.error_code),
                 generation_id=i32(result.generation_id), protocol_type=result.protocol_type,
                 protocol_name=result.protocol_name if ctx.version >= 7 else (result.protocol_name or ""),
                 leader=result.leader, skip_assignment=getattr(result, "skip_assignment", False),
                 member_id=result.member_id, members=members)


async def handle_sync_group(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    if not authorization.allowed(ctx, Op.READ, GROUP, request.group_id):
        return build(schema.SyncGroupResponse, throttle_time=ZERO, error_code=ErrorCode.group_authorization_failed,
                     protocol_type=None, protocol_name=None, assignment=b"")
    result = await ctx.broker.groups.sync_group(
        request.group_id,
        request.generation_id,
        request.member_id,
        getattr(request, "group_instance_id", None),
        getattr(request, "protocol_type", None),
        getattr(request, "protocol_name", None),
        {a.member_id: a.assignment for a in request.assignments},
    )
    return build(schema.SyncGroupResponse, throttle_time=ZERO, error_code=_code(result.error_code),
                 protocol_type=result.protocol_type, protocol_name=result.protocol_name, assignment=result.assignment)


async def handle_heartbeat(ctx: RequestContext, request: Any) -> Any:
    if not authorization.allowed(ctx, Op.READ, GROUP, request.group_id):
        return build(ctx.schema.HeartbeatResponse, throttle_time=ZERO, error_code=ErrorCode.group_authorization_failed)
    error = await ctx.broker.groups.heartbeat(
        request.group_id, request.member_id, getattr(request, "group_instance_id", None), request.generation_id
    )
    return build(ctx.schema.HeartbeatResponse, throttle_time=ZERO, error_code=_code(error))


async def handle_leave_group(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    if not authorization.allowed(ctx, Op.READ, GROUP, request.group_id):
        return build(schema.LeaveGroupResponse, throttle_time=ZERO, error_code=ErrorCode.group_authorization_failed,
                     members=())
    if ctx.version >= 3:
        identities = [(m.member_id, m.group_instance_id) for m in request.members]
    else:
        identities = [(request.member_id, None)]
    error, per_member = await ctx.broker.groups.leave_group(request.group_id, identities)
    members = tuple(
        build(schema.MemberResponse, member_id=member_id, group_instance_id=instance_id, error_code=_code(code))
        for (member_id, instance_id), code in zip(identities, per_member)
    ) if ctx.version >= 3 else ()
    if ctx.version < 3 and per_member and _code(error) == ErrorCode.none:
        error = per_member[0]
    return build(schema.LeaveGroupResponse, throttle_time=ZERO, error_code=_code(error), members=members)


def unknown_partitions(ctx: RequestContext, partitions: Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
    """Partitions the metadata does not know: Kafka's KafkaApis answers them
    UNKNOWN_TOPIC_OR_PARTITION without asking the group coordinator."""
    cache = ctx.broker.cache
    return {tp for tp in partitions if cache.partition(*tp) is None}


def requested_offsets(request: Any) -> dict[tuple[str, int], tuple[int, int, str | None]]:
    """(offset, leader epoch, metadata) per partition of an OffsetCommit or TxnOffsetCommit."""
    return {(t.name, p.partition_index): (p.committed_offset, getattr(p, "committed_leader_epoch", -1),
                                          p.committed_metadata)
            for t in request.topics for p in t.partitions}


async def handle_offset_commit(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    offsets = requested_offsets(request)
    generation = getattr(request, "generation_id_or_member_epoch", getattr(request, "generation_id", -1))
    retention = getattr(request, "retention_time", None)
    retention_ms = None if retention is None else int(retention.total_seconds() * 1000)
    refused = authorization.offset_commit_errors(ctx, request.group_id, offsets)
    unknown = unknown_partitions(ctx, offsets)
    errors: dict[tuple[str, int], ErrorCode] = dict.fromkeys(offsets, ErrorCode.unknown_topic_or_partition)
    errors.update(refused)
    known = {tp: commit for tp, commit in offsets.items() if tp not in unknown and tp not in refused}
    if known:
        errors.update(await ctx.broker.groups.commit_offsets(
            request.group_id, request.member_id, getattr(request, "group_instance_id", None), generation, known,
            retention_ms if retention_ms is not None and retention_ms >= 0 else None,
        ))
    topics: dict[str, list[Any]] = {}
    for (topic, partition), code in errors.items():
        topics.setdefault(topic, []).append(build(schema.OffsetCommitResponsePartition, partition_index=i32(partition),
                                                  error_code=_code(code)))
    return build(schema.OffsetCommitResponse, throttle_time=ZERO, topics=tuple(
        build(schema.OffsetCommitResponseTopic, name=name, partitions=tuple(parts)) for name, parts in topics.items()
    ))


def _offset_fetch_topics(schema: Any, cls_topic: str, cls_part: str, fetched: dict[tuple[str, int], Any]) -> tuple[Any, ...]:
    topics: dict[str, list[Any]] = {}
    for (topic, partition), (offset, epoch, metadata, error) in sorted(fetched.items()):
        topics.setdefault(topic, []).append(build(
            getattr(schema, cls_part), partition_index=i32(partition), committed_offset=i64(offset),
            committed_leader_epoch=i32(epoch), metadata=metadata, error_code=_code(error),
        ))
    return tuple(build(getattr(schema, cls_topic), name=name, partitions=tuple(parts)) for name, parts in topics.items())


async def handle_offset_fetch(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    if ctx.version >= 8:
        results = []
        for g in request.groups:
            wanted = None if g.topics is None else [(t.name, p) for t in g.topics for p in t.partition_indexes]
            error, fetched = await authorization.fetch_offsets(ctx, g.group_id, wanted, bool(request.require_stable))
            results.append(build(schema.OffsetFetchResponseGroup, group_id=g.group_id, error_code=_code(error),
                                 topics=_offset_fetch_topics(schema, "OffsetFetchResponseTopics", "OffsetFetchResponsePartitions", fetched)))
        return build(schema.OffsetFetchResponse, throttle_time=ZERO, groups=tuple(results))
    wanted = None if request.topics is None else [(t.name, p) for t in request.topics for p in t.partition_indexes]
    # v7+: a read_committed consumer asks for stable offsets (none pending in a transaction)
    error, fetched = await authorization.fetch_offsets(ctx, request.group_id, wanted,
                                                       bool(getattr(request, "require_stable", False)))
    return build(schema.OffsetFetchResponse, throttle_time=ZERO, error_code=_code(error),
                 topics=_offset_fetch_topics(schema, "OffsetFetchResponseTopic", "OffsetFetchResponsePartition", fetched))


async def handle_list_groups(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    states = list(getattr(request, "states_filter", ()) or ())
    groups = ctx.broker.groups.list_groups(states)
    if not authorization.cluster_allowed(ctx, Op.DESCRIBE, log_if_denied=False):
        groups = [g for g in groups if authorization.allowed(ctx, Op.DESCRIBE, GROUP, g[0], log_if_denied=False)]
    return build(schema.ListGroupsResponse, throttle_time=ZERO, error_code=ErrorCode.none, groups=tuple(
        build(schema.ListedGroup, group_id=g, protocol_type=ptype, group_state=state, group_type="classic")
        for g, ptype, state in groups
    ))


async def handle_describe_groups(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    described = []
    with_operations = bool(getattr(request, "include_authorized_operations", False))
    for group_id in request.groups:
        if not authorization.allowed(ctx, Op.DESCRIBE, GROUP, group_id):
            described.append(build(schema.DescribedGroup, error_code=ErrorCode.group_authorization_failed,
                                   group_id=group_id, group_state="", protocol_type="", protocol_data="", members=(),
                                   authorized_operations=i32(authorization.NOT_REQUESTED)))
            continue
        d = ctx.broker.groups.describe_group(group_id)
        described.append(build(
            schema.DescribedGroup, error_code=_code(d.error_code), group_id=group_id, group_state=d.state,
            protocol_type=d.protocol_type, protocol_data=d.protocol or "",
            members=tuple(build(schema.DescribedGroupMember, member_id=m.member_id, group_instance_id=m.group_instance_id,
                                client_id=m.client_id, client_host=m.client_host, member_metadata=m.metadata,
                                member_assignment=m.assignment) for m in d.members),
            authorized_operations=i32(authorization.operations(ctx, GROUP, group_id) if with_operations
                                      else authorization.NOT_REQUESTED),
        ))
    return build(schema.DescribeGroupsResponse, throttle_time=ZERO, groups=tuple(described))


async def handle_delete_groups(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    refused = authorization.denied(ctx, Op.DELETE, GROUP, request.groups_names)
    errors: dict[str, Any] = dict.fromkeys(refused, ErrorCode.group_authorization_failed)
    allowed = [g for g in request.groups_names if g not in refused]
    if allowed:
        errors.update(await ctx.broker.groups.delete_groups(allowed))
    return build(schema.DeleteGroupsResponse, throttle_time=ZERO, results=tuple(
        build(schema.DeletableGroupResult, group_id=g, error_code=_code(errors[g])) for g in request.groups_names
    ))


async def handle_offset_delete(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    wanted = [(t.name, p.partition_index) for t in request.topics for p in t.partitions]
    if not authorization.allowed(ctx, Op.DELETE, GROUP, request.group_id):
        return build(schema.OffsetDeleteResponse, error_code=ErrorCode.group_authorization_failed, throttle_time=ZERO,
                     topics=())
    refused = authorization.denied(ctx, Op.READ, authorization.TOPIC, (t for t, _ in wanted))
    unknown = unknown_partitions(ctx, [tp for tp in wanted if tp[0] not in refused])
    error, found = await ctx.broker.groups.delete_offsets(
        request.group_id, [tp for tp in wanted if tp not in unknown and tp[0] not in refused])
    errors: dict[tuple[str, int], ErrorCode | int] = {tp: ErrorCode.unknown_topic_or_partition for tp in unknown}
    errors.update({tp: ErrorCode.topic_authorization_failed for tp in wanted if tp[0] in refused})
    errors.update(found)
    topics: dict[str, list[Any]] = {}
    for (topic, partition), code in errors.items():
        topics.setdefault(topic, []).append(build(schema.OffsetDeleteResponsePartition, partition_index=i32(partition),
                                                  error_code=_code(code)))
    return build(schema.OffsetDeleteResponse, error_code=_code(error), throttle_time=ZERO, topics=tuple(
        build(schema.OffsetDeleteResponseTopic, name=name, partitions=tuple(parts)) for name, parts in topics.items()
    ))

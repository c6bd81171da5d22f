"""Partition reassignment (KIP-455): AlterPartitionReassignments and
ListPartitionReassignments, answered by the active controller only (NOT_CONTROLLER
elsewhere, as Kafka's brokers answer; admin clients send them to the controller that
Metadata names). The controller decides and writes (cluster/reassignment.py has the
rules); the replicas being added then catch up like any follower, and the controller's
next passes complete the move once they are all in the ISR.
"""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode
from kio.schema.types import BrokerId
from kio.static.primitive import i32

from snakafka.protocol.errors import KafkaError
from snakafka.server import authorization
from snakafka.server.context import ZERO, RequestContext, build


async def handle_alter_partition_reassignments(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    targets: dict[tuple[str, int], tuple[int, ...] | None] = {
        (t.name, int(p.partition_index)): None if p.replicas is None else tuple(int(r) for r in p.replicas)
        for t in request.topics for p in t.partitions}
    try:
        if not authorization.cluster_allowed(ctx, authorization.Op.ALTER):
            raise KafkaError(ErrorCode.cluster_authorization_failed, "Cluster authorization failed.")
        results = await ctx.broker.controller.alter_reassignments(targets)
    except KafkaError as exc:
        return build(schema.AlterPartitionReassignmentsResponse, throttle_time=ZERO, error_code=exc.code,
                     error_message=exc.message, responses=())
    responses = []
    for t in request.topics:
        partitions = []
        for p in t.partitions:
            code, message = results[(t.name, int(p.partition_index))]
            partitions.append(build(schema.ReassignablePartitionResponse, partition_index=p.partition_index,
                                    error_code=code, error_message=message))
        responses.append(build(schema.ReassignableTopicResponse, name=t.name, partitions=tuple(partitions)))
    return build(schema.AlterPartitionReassignmentsResponse, throttle_time=ZERO, error_code=ErrorCode.none,
                 error_message=None, responses=tuple(responses))


async def handle_list_partition_reassignments(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    try:
        if not authorization.cluster_allowed(ctx, authorization.Op.DESCRIBE):
            raise KafkaError(ErrorCode.cluster_authorization_failed, "Cluster authorization failed.")
        ongoing = ctx.broker.controller.list_reassignments()
    except KafkaError as exc:
        return build(schema.ListPartitionReassignmentsResponse, throttle_time=ZERO, error_code=exc.code,
                     error_message=exc.message, topics=())
    if request.topics is not None:  # only the partitions asked for
        asked = {(t.name, int(p)) for t in request.topics for p in t.partition_indexes}
        ongoing = {key: state for key, state in ongoing.items() if key in asked}
    by_topic: dict[str, list[Any]] = {}
    for (name, p), state in sorted(ongoing.items()):
        by_topic.setdefault(name, []).append(build(
            schema.OngoingPartitionReassignment, partition_index=i32(p),
            replicas=tuple(BrokerId(r) for r in state.replicas),
            adding_replicas=tuple(BrokerId(r) for r in state.adding),
            removing_replicas=tuple(BrokerId(r) for r in state.removing)))
    topics = tuple(build(schema.OngoingTopicReassignment, name=name, partitions=tuple(parts))
                   for name, parts in by_topic.items())
    return build(schema.ListPartitionReassignmentsResponse, throttle_time=ZERO, error_code=ErrorCode.none,
                 error_message=None, topics=topics)

"""AlterPartitionReassignments and ListPartitionReassignments (KIP-455), as
kafka-reassign-partitions.sh and AdminClient send them: to the active controller, which
starts (or cancels) reassignments and completes them as the new replicas catch up
(cluster/reassigner.py); other brokers answer NOT_CONTROLLER, as Kafka's do.
"""

from __future__ import annotations

from typing import Any

from kio.static.primitive import i32

from snakafka.protocol.errors import ErrorCode, KafkaError
from snakafka.server.context import ZERO, RequestContext, build


async def handle_alter_partition_reassignments(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    requests = {(t.name, int(p.partition_index)): None if p.replicas is None else tuple(int(r) for r in p.replicas)
                for t in request.topics for p in t.partitions}
    try:
        results = await ctx.broker.controller.alter_partition_reassignments(requests)
    except KafkaError as exc:
        return build(schema.AlterPartitionReassignmentsResponse, throttle_time=ZERO, error_code=exc.code,
                     error_message=exc.message, responses=())
    topics: dict[str, list[Any]] = {}
    for (name, p), (error, message) in results.items():
        topics.setdefault(name, []).append(build(schema.ReassignablePartitionResponse, partition_index=i32(p),
                                                 error_code=error, error_message=message))
    return build(schema.AlterPartitionReassignmentsResponse, throttle_time=ZERO, error_code=ErrorCode.none,
                 error_message=None, responses=tuple(
                     build(schema.ReassignableTopicResponse, name=name, partitions=tuple(parts))
                     for name, parts in topics.items()))


async def handle_list_partition_reassignments(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    wanted = None if request.topics is None else [
        (t.name, int(p)) for t in request.topics for p in t.partition_indexes]
    try:
        found = ctx.broker.controller.list_partition_reassignments(wanted)
    except KafkaError as exc:
        return build(schema.ListPartitionReassignmentsResponse, throttle_time=ZERO, error_code=exc.code,
                     error_message=exc.message, topics=())
    topics: dict[str, list[Any]] = {}
    for (name, p), (replicas, reassignment) in found.items():
        topics.setdefault(name, []).append(build(
            schema.OngoingPartitionReassignment, partition_index=i32(p), replicas=tuple(i32(r) for r in replicas),
            adding_replicas=tuple(i32(r) for r in reassignment.adding),
            removing_replicas=tuple(i32(r) for r in reassignment.removing)))
    return build(schema.ListPartitionReassignmentsResponse, throttle_time=ZERO, error_code=ErrorCode.none,
                 error_message=None, topics=tuple(
                     build(schema.OngoingTopicReassignment, name=name, partitions=tuple(parts))
                     for name, parts in topics.items()))

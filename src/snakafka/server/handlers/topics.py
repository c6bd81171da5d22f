"""Admin requests on topics: CreateTopics, DeleteTopics, CreatePartitions.

All go to the controller, which validates, writes the metadata store and tells brokers.
"""

from __future__ import annotations

import uuid
from typing import Any

from kio.schema.errors import ErrorCode
from kio.static.primitive import i16, i32

from snakafka.cluster.controller import NewTopic
from snakafka.protocol.errors import KafkaError
from snakafka.server import authorization
from snakafka.server.authorization import TOPIC, Op
from snakafka.server.context import ZERO, RequestContext, build

ZERO_UUID = uuid.UUID(int=0)


async def handle_create_topics(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    broker = ctx.broker
    results = []
    seen: dict[str, int] = {}
    for t in request.topics:
        seen[t.name] = seen.get(t.name, 0) + 1
    refused = set() if authorization.cluster_allowed(ctx, Op.CREATE, log_if_denied=False) else \
        authorization.denied(ctx, Op.CREATE, TOPIC, seen)
    for t in request.topics:
        values: dict[str, Any] = {
            "name": t.name, "topic_id": ZERO_UUID, "error_code": ErrorCode.none, "error_message": None,
            "topic_config_error_code": ErrorCode.none, "num_partitions": i32(-1), "replication_factor": i16(-1),
            "configs": None,
        }
        if seen[t.name] > 1:
            values.update(error_code=ErrorCode.invalid_request, error_message="Duplicate topic name.")
            results.append(build(schema.CreatableTopicResult, **values))
            continue
        if t.name in refused:
            values.update(error_code=ErrorCode.topic_authorization_failed, error_message="Authorization failed.")
            results.append(build(schema.CreatableTopicResult, **values))
            continue
        spec = NewTopic(
            name=t.name,
            num_partitions=t.num_partitions,
            replication_factor=t.replication_factor,
            assignments={a.partition_index: list(a.broker_ids) for a in t.assignments} or None,
            configs={c.name: c.value for c in t.configs if c.value is not None},
        )
        try:
            info = await broker.controller.create_topic(spec, validate_only=request.validate_only)
        except KafkaError as exc:
            values.update(error_code=exc.code, error_message=exc.message)
        else:
            values.update(
                topic_id=info.topic_id,
                num_partitions=i32(len(info.partitions)),
                replication_factor=i16(len(info.partitions[0].replicas)),
                configs=None if not hasattr(schema, "CreatableTopicConfigs") else () if not authorization.allowed(
                    ctx, Op.DESCRIBE_CONFIGS, TOPIC, t.name, log_if_denied=False) else tuple(
                    build(schema.CreatableTopicConfigs, name=c.name, value=c.value, read_only=c.read_only,
                          config_source=i16(c.source), is_sensitive=c.is_sensitive)
                    for c in broker.describe_topic_configs(info.configs)
                ),
            )
        results.append(build(schema.CreatableTopicResult, **values))
    return build(schema.CreateTopicsResponse, throttle_time=ZERO, topics=tuple(results))


async def handle_delete_topics(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    broker = ctx.broker
    requested: list[tuple[str | None, uuid.UUID | None]] = []
    if hasattr(request, "topic_names") and request.topic_names:
        requested = [(n, None) for n in request.topic_names]
    for t in getattr(request, "topics", ()) or ():
        requested.append((t.name, t.topic_id if t.topic_id != ZERO_UUID else None))
    results = []
    refused = authorization.denied(ctx, Op.DELETE, TOPIC, (n for n, _ in requested if n is not None))
    for name, topic_id in requested:
        by_id = name is None
        if name is None and topic_id is not None:
            name = broker.cache.topic_ids.get(topic_id)
        error, message = ErrorCode.none, None
        info = broker.cache.topics.get(name) if name is not None else None
        if by_id and name is not None and not authorization.allowed(ctx, Op.DESCRIBE, TOPIC, name):
            error, info, name = ErrorCode.unknown_topic_id, None, None  # Kafka: no Describe, no sign it exists
        elif name is not None and (name in refused or (by_id and not authorization.allowed(ctx, Op.DELETE, TOPIC, name))):
            error = ErrorCode.topic_authorization_failed
        elif info is None:
            error = ErrorCode.unknown_topic_id if name is None else ErrorCode.unknown_topic_or_partition
        elif not broker.config.delete_topic_enable:
            error, message = ErrorCode.topic_deletion_disabled, "Topic deletion is disabled."
        elif info.is_internal:
            error, message = ErrorCode.invalid_request, "Internal topics cannot be deleted."
        else:
            try:
                await broker.controller.delete_topic(info.name)
            except KafkaError as exc:
                error, message = exc.code, exc.message
        results.append(build(schema.DeletableTopicResult, name=name, topic_id=(info.topic_id if info else topic_id) or ZERO_UUID,
                             error_code=error, error_message=message))
    return build(schema.DeleteTopicsResponse, throttle_time=ZERO, responses=tuple(results))


async def handle_create_partitions(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    results = []
    refused = authorization.denied(ctx, Op.ALTER, TOPIC, (t.name for t in request.topics))
    for t in request.topics:
        error, message = ErrorCode.none, None
        try:
            if t.name in refused:
                raise KafkaError(ErrorCode.topic_authorization_failed, "The topic authorization is failed.")
            assignments = [list(a.broker_ids) for a in t.assignments] if t.assignments else None
            await ctx.broker.controller.create_partitions(t.name, t.count, assignments, validate_only=request.validate_only)
        except KafkaError as exc:
            error, message = exc.code, exc.message
        results.append(build(schema.CreatePartitionsTopicResult, name=t.name, error_code=error, error_message=message))
    return build(schema.CreatePartitionsResponse, throttle_time=ZERO, results=tuple(results))


async def handle_describe_cluster(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    cache = ctx.broker.cache
    brokers = tuple(
        build(schema.DescribeClusterBroker, broker_id=i32(b.broker_id), host=e.host, port=i32(e.port), rack=b.rack)
        for b in sorted(cache.brokers.values(), key=lambda b: b.broker_id)
        if (e := b.endpoint(ctx.listener)) is not None
    )
    return build(schema.DescribeClusterResponse, throttle_time=ZERO, error_code=ErrorCode.none, error_message=None,
                 endpoint_type=getattr(request, "endpoint_type", 1), cluster_id=cache.cluster_id,
                 controller_id=i32(ctx.broker.controller_id), brokers=brokers,
                 cluster_authorized_operations=i32(authorization.cluster_operations(
                     ctx, bool(getattr(request, "include_cluster_authorized_operations", False)))))

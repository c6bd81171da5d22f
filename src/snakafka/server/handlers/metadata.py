"""Metadata: brokers, controller and every partition's leader, so clients can route.

Any broker answers for the whole cluster (broker discovery). Unknown topics are created
when the client allows it and auto.create.topics.enable is on, as Kafka does.

With an authorizer, as Kafka's KafkaApis: a listing of all topics leaves out those the
principal may not Describe; a topic asked for by name answers TOPIC_AUTHORIZATION_FAILED
(whether or not it exists), and so does a topic to auto-create without Create on the
cluster or the topic.
"""

from __future__ import annotations

import uuid
from typing import Any

from kio.schema.errors import ErrorCode
from kio.static.primitive import i32

from snakafka.cluster.controller import NewTopic
from snakafka.cluster.model import TopicInfo, topic_name_error
from snakafka.protocol.errors import KafkaError
from snakafka.server import authorization
from snakafka.server.context import ZERO, RequestContext, build

ZERO_UUID = uuid.UUID(int=0)


async def handle_metadata(ctx: RequestContext, request: Any) -> Any:
    broker = ctx.broker
    cache = broker.cache
    schema = ctx.schema
    requested: list[str] | None
    by_id: dict[str, uuid.UUID] = {}  # names the client asked for by topic id
    if request.topics is None or (ctx.version == 0 and not request.topics):
        requested = None
    else:
        requested = []
        for t in request.topics:
            name = t.name
            if name is None and getattr(t, "topic_id", None) is not None:
                name = cache.topic_ids.get(t.topic_id)
                if name is not None:
                    by_id[name] = t.topic_id
            if name is not None:
                requested.append(name)
    allow_auto = getattr(request, "allow_auto_topic_creation", True) and broker.config.auto_create_topics_enable
    topics: list[Any] = []
    names = sorted(cache.topics) if requested is None else requested
    refused = authorization.metadata_refusals(ctx, names, listing_all=requested is None, auto_create=allow_auto)
    with_operations = bool(getattr(request, "include_topic_authorized_operations", False))
    for name in names:
        info = cache.topics.get(name)
        error = ErrorCode.none
        if name in refused:
            if requested is not None:  # asked by id: the name stays undisclosed, as Kafka answers
                topics.append(build(schema.MetadataResponseTopic, error_code=ErrorCode.topic_authorization_failed,
                                    name=None if name in by_id else name, topic_id=by_id.get(name, ZERO_UUID),
                                    is_internal=False, partitions=(),
                                    topic_authorized_operations=i32(authorization.NOT_REQUESTED)))
            continue
        if info is None and allow_auto and topic_name_error(name) is None:
            info, error = await auto_create(ctx, name)
        if info is None:
            code = ErrorCode.invalid_topic_exception if topic_name_error(name) else ErrorCode.unknown_topic_or_partition
            topics.append(build(schema.MetadataResponseTopic, error_code=code if error == ErrorCode.none else error,
                                name=name, topic_id=ZERO_UUID, is_internal=False, partitions=(),
                                topic_authorized_operations=i32(-2147483648)))
            continue
        topics.append(topic_entry(ctx, info, authorization.operations(ctx, authorization.TOPIC, info.name)
                                  if with_operations else authorization.NOT_REQUESTED))
    brokers = tuple(
        build(schema.MetadataResponseBroker, node_id=i32(b.broker_id), host=e.host, port=i32(e.port), rack=b.rack)
        for b in sorted(cache.brokers.values(), key=lambda b: b.broker_id)
        if (e := b.endpoint(ctx.listener)) is not None
    )
    return build(
        schema.MetadataResponse,
        throttle_time=ZERO,
        brokers=brokers,
        cluster_id=cache.cluster_id,
        controller_id=i32(broker.controller_id),
        topics=tuple(topics),
        cluster_authorized_operations=i32(authorization.cluster_operations(
            ctx, bool(getattr(request, "include_cluster_authorized_operations", False)))),
    )


async def auto_create(ctx: RequestContext, name: str) -> tuple[TopicInfo | None, ErrorCode]:
    controller = ctx.broker.controller
    try:  # default.replication.factor and num.partitions, as Kafka's auto-creation
        return await controller.create_topic(NewTopic(name)), ErrorCode.none
    except KafkaError as exc:
        if exc.code == ErrorCode.topic_already_exists:
            return ctx.broker.cache.topics.get(name), ErrorCode.none
        return None, exc.code


def topic_entry(ctx: RequestContext, info: TopicInfo, authorized_operations: int) -> Any:
    schema = ctx.schema
    live = ctx.broker.cache.brokers
    partitions = []
    for p in sorted(info.partitions):
        s = info.partitions[p]
        offline = tuple(i32(r) for r in s.replicas if r not in live)
        error = ErrorCode.none if s.leader in live else ErrorCode.leader_not_available
        partitions.append(build(
            schema.MetadataResponsePartition,
            error_code=error,
            partition_index=i32(p),
            leader_id=i32(s.leader),
            leader_epoch=i32(s.leader_epoch),
            replica_nodes=tuple(i32(r) for r in s.replicas),
            isr_nodes=tuple(i32(r) for r in s.isr),
            offline_replicas=offline,
        ))
    return build(
        schema.MetadataResponseTopic,
        error_code=ErrorCode.none,
        name=info.name,
        topic_id=info.topic_id,
        is_internal=info.is_internal,
        partitions=tuple(partitions),
        topic_authorized_operations=i32(authorized_operations),
    )

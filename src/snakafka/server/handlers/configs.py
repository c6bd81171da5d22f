"""DescribeConfigs, AlterConfigs and IncrementalAlterConfigs.

Topics carry dynamic overrides (stored with the topic metadata); brokers have static
configs (server.properties and --override) and dynamic ones (broker_configs.py).
"""

from __future__ import annotations

from typing import Any

from kio.schema.errors import ErrorCode
from kio.static.primitive import i8

from snakafka.protocol.errors import KafkaError
from snakafka.server import authorization
from snakafka.server.context import ZERO, RequestContext, build
from snakafka.server.handlers.broker_configs import (
    alter_broker_resource,
    describe_broker_resource,
)

TOPIC = 2
BROKER = 4
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


async def handle_describe_configs(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    broker = ctx.broker
    include_synonyms = getattr(request, "include_synonyms", False)
    include_docs = getattr(request, "include_documentation", False)
    results = []
    for res in request.resources:
        error, message, described = ErrorCode.none, None, []
        refusal = authorization.config_refusal(ctx, res.resource_type, res.resource_name, authorization.Op.DESCRIBE_CONFIGS)
        if refusal is not None:
            error, message = refusal
        elif res.resource_type == TOPIC:
            info = broker.cache.topics.get(res.resource_name)
            if info is None:
                error = ErrorCode.unknown_topic_or_partition
            else:
                described = broker.describe_topic_configs(info.configs)
        elif res.resource_type == BROKER:
            try:
                described = describe_broker_resource(ctx, res.resource_name)
            except KafkaError as exc:
                error, message = exc.code, exc.message
        else:
            error, message = ErrorCode.invalid_request, f"Unsupported resource type {res.resource_type}"
        keys = set(res.configuration_keys) if res.configuration_keys else None
        configs = tuple(
            build(
                schema.DescribeConfigsResourceResult,
                name=c.name,
                value=c.value,
                read_only=c.read_only,
                config_source=i8(c.source),
                is_default=c.source == 5,
                is_sensitive=c.is_sensitive,
                synonyms=tuple(
                    build(schema.DescribeConfigsSynonym, name=n, value=v, source=i8(s)) for n, v, s in c.synonyms
                ) if include_synonyms else (),
                config_type=i8(c.config_type),
                documentation=c.documentation if include_docs else None,
            )
            for c in described
            if keys is None or c.name in keys
        )
        results.append(build(schema.DescribeConfigsResult, error_code=error, error_message=message,
                             resource_type=res.resource_type, resource_name=res.resource_name, configs=configs))
    return build(schema.DescribeConfigsResponse, throttle_time=ZERO, results=tuple(results))


async def _alter(ctx: RequestContext, request: Any, incremental: bool) -> Any:
    schema = ctx.schema
    broker = ctx.broker
    responses = []
    for res in request.resources:
        error, message = ErrorCode.none, None
        try:
            refusal = authorization.config_refusal(ctx, res.resource_type, res.resource_name, authorization.Op.ALTER_CONFIGS)
            if refusal is not None:
                raise KafkaError(*refusal)
            if res.resource_type == BROKER:
                await alter_broker_resource(ctx, res, incremental=incremental, validate_only=request.validate_only)
                responses.append(build(schema.AlterConfigsResourceResponse, error_code=error, error_message=message,
                                       resource_type=res.resource_type, resource_name=res.resource_name))
                continue
            if res.resource_type != TOPIC:
                raise KafkaError(ErrorCode.invalid_request, f"Unsupported resource type {res.resource_type}")
            info = broker.cache.topics.get(res.resource_name)
            if info is None:
                raise KafkaError(ErrorCode.unknown_topic_or_partition)
            configs = dict(info.configs) if incremental else {}
            for c in res.configs:
                op = c.config_operation if incremental else SET
                if op == SET:
                    if c.value is None:
                        configs.pop(c.name, None)
                    else:
                        configs[c.name] = c.value
                elif op == DELETE:
                    configs.pop(c.name, None)
                elif op in (APPEND, SUBTRACT):
                    current = [v for v in (configs.get(c.name) or broker.topic_config_default(c.name) or "").split(",") if v]
                    items = [v for v in (c.value or "").split(",") if v]
                    if op == APPEND:
                        current += [v for v in items if v not in current]
                    else:
                        current = [v for v in current if v not in items]
                    configs[c.name] = ",".join(current)
                else:
                    raise KafkaError(ErrorCode.invalid_request, f"Unknown config operation {op}")
            await broker.controller.set_topic_configs(res.resource_name, configs, validate_only=request.validate_only)
        except KafkaError as exc:
            error, message = exc.code, exc.message
        responses.append(build(schema.AlterConfigsResourceResponse, error_code=error, error_message=message,
                               resource_type=res.resource_type, resource_name=res.resource_name))
    response_cls = schema.IncrementalAlterConfigsResponse if incremental else schema.AlterConfigsResponse
    return build(response_cls, throttle_time=ZERO, responses=tuple(responses))


async def handle_alter_configs(ctx: RequestContext, request: Any) -> Any:
    return await _alter(ctx, request, incremental=False)


async def handle_incremental_alter_configs(ctx: RequestContext, request: Any) -> Any:
    return await _alter(ctx, request, incremental=True)

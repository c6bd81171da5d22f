"""BROKER resources of DescribeConfigs, AlterConfigs and IncrementalAlterConfigs: dynamic
broker configs (config/dynamic.py), as Kafka's ZooKeeper-mode admin manager serves them.

A resource named by a broker id is that broker's own level and must be sent to that
broker (Kafka: "Unexpected broker id"); the empty name is the cluster-wide default level,
served by any broker. An update is validated as Kafka does (keys that cannot change at
run time, bad values, the resulting config as a whole) and refused with INVALID_REQUEST
and Kafka's message; accepted, it is stored (ZooKeeper /config/brokers/<entity>, or the
single broker's metadata file) and every broker puts it in force on its next refresh.
"""

from __future__ import annotations

from typing import Any

from snakafka.config.broker import BROKER_CONFIGS
from snakafka.config.definitions import ConfigError, ConfigType
from snakafka.config.dynamic import DEFAULT_ENTITY, validate_update, with_dynamic
from snakafka.protocol.errors import ErrorCode, KafkaError
from snakafka.server.context import RequestContext

SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


def _entity(ctx: RequestContext, name: str, *, describing: bool) -> str:
    """The stored entity of a BROKER resource name: "<default>" or this broker's id."""
    if name == "":
        return DEFAULT_ENTITY
    own = str(ctx.broker.config.broker_id)
    if name != own:
        expected = f"{own} or empty string" if describing else own
        raise KafkaError(ErrorCode.invalid_request, f"Unexpected broker id, expected {expected}, but received {name}")
    return own


def describe_broker_resource(ctx: RequestContext, name: str) -> list[Any]:
    """DescribeConfigs of a BROKER resource: every config of this broker, or the dynamic
    cluster-wide defaults for the empty name."""
    if _entity(ctx, name, describing=True) == DEFAULT_ENTITY:
        return ctx.broker.describe_default_broker_configs()
    return ctx.broker.describe_broker_configs()


async def alter_broker_resource(ctx: RequestContext, res: Any, *, incremental: bool, validate_only: bool) -> None:
    """Apply one BROKER resource of an (incremental) AlterConfigs; KafkaError if refused."""
    entity = _entity(ctx, res.resource_name, describing=False)
    broker = ctx.broker
    current = dict(broker.cache.broker_configs.get(entity, {}))
    configs = dict(current) if incremental else {}
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
            d = BROKER_CONFIGS.get(c.name)
            if d is None or d.type is not ConfigType.LIST:
                raise KafkaError(ErrorCode.invalid_config,
                                 f"Config value append is not allowed for config key: {c.name}")
            text = configs.get(c.name)
            if text is None:
                text = broker.config.describe_value(c.name) or ""
            values = [v for v in text.split(",") if v]
            items = [v for v in (c.value or "").split(",") if v]
            values = values + [v for v in items if v not in values] if op == APPEND else [v for v in values if v not in items]
            configs[c.name] = ",".join(values)
        else:
            raise KafkaError(ErrorCode.invalid_request, f"Unknown config operation {op}")
    resource = f"ConfigResource(type=BROKER, name='{res.resource_name}')"
    try:
        validate_update({k: v for k, v in configs.items() if current.get(k) != v})
        own = configs if entity != DEFAULT_ENTITY else broker.cache.broker_configs.get(str(broker.config.broker_id), {})
        default = configs if entity == DEFAULT_ENTITY else broker.cache.broker_configs.get(DEFAULT_ENTITY, {})
        with_dynamic(broker.static_config, own, default)  # the whole config must still be valid
    except ConfigError as exc:
        raise KafkaError(ErrorCode.invalid_request, f"Invalid config value for resource {resource}: {exc}") from None
    if not validate_only:
        await broker.controller.set_broker_configs(entity, configs)

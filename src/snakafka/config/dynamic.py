"""Dynamic broker configs (KIP-226): broker keys changed at run time, without a restart.

Kafka keeps them at two levels, stored in the metadata store (ZooKeeper:
/config/brokers/<id> and /config/brokers/<default>): one broker's own values and the
cluster-wide defaults. A broker's config in force is its static config (server.properties
and --override), overridden by the defaults, overridden by its own values; a key set at
one level removes its synonyms from the levels below (log.retention.ms set dynamically
wins over a static log.retention.hours), as DynamicBrokerConfig.overrideProps does.

Which keys may change is Kafka's list (DynamicBrokerConfig.AllDynamicConfigs: the log
configs with topic synonyms, the cleaner's, the thread pools', the replication
throttles...), which is the `dynamic` flag of BROKER_CONFIGS; any other known key is
refused with Kafka's "Cannot update these configs dynamically" message. Keys snakafka
does not know are kept and ignored, as Kafka keeps custom configs. The listener keys,
which Kafka can change per broker, are refused: snakafka binds its listeners at start.

Pure: no I/O. The broker applies `with_dynamic`'s result; the request layer validates
with `validate_update`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from snakafka.config.broker import BROKER_CONFIGS, BrokerConfig
from snakafka.config.definitions import ConfigError

__all__ = [
    "BROKER_SYNONYMS", "DEFAULT_ENTITY", "DYNAMIC_BROKER_CONFIG", "DYNAMIC_CONFIGS", "DYNAMIC_DEFAULT_BROKER_CONFIG",
    "is_reconfigurable", "scala_set", "validate_update", "with_dynamic",
]

# Kafka's DescribeConfigs ConfigSource ids of the two dynamic levels.
DYNAMIC_BROKER_CONFIG = 2
DYNAMIC_DEFAULT_BROKER_CONFIG = 3
# The entity name of the cluster-wide defaults (ConfigEntityName.Default); an empty
# BROKER resource name in the protocol.
DEFAULT_ENTITY = "<default>"

DYNAMIC_CONFIGS = frozenset(name for name, d in BROKER_CONFIGS.items() if d.dynamic)
# Dynamic in Kafka, but snakafka's listeners are bound once at start.
_NOT_RECONFIGURABLE_HERE = frozenset({"listeners", "advertised.listeners", "listener.security.protocol.map"})

# Kafka's broker synonym groups (DynamicBrokerConfig.brokerConfigSynonyms): describing
# one key lists the whole group, and setting one dynamically hides the others below it.
BROKER_SYNONYMS: dict[str, tuple[str, ...]] = {}
for _group in (("log.roll.ms", "log.roll.hours"), ("log.flush.interval.ms", "log.flush.scheduler.interval.ms"),
               ("log.retention.ms", "log.retention.minutes", "log.retention.hours")):
    for _name in _group:
        BROKER_SYNONYMS[_name] = _group


def is_reconfigurable(name: str) -> bool:
    """Whether snakafka changes this known broker key at run time (DescribeConfigs read_only
    is the opposite)."""
    return name in DYNAMIC_CONFIGS and name not in _NOT_RECONFIGURABLE_HERE


def scala_set(names: Iterable[str]) -> str:
    """How Kafka's messages print a set of names: Set(a, b)."""
    return f"Set({', '.join(sorted(names))})"


def validate_update(configs: Mapping[str, str | None]) -> None:
    """Kafka's DynamicBrokerConfig.validateConfigs for the entries of an update: ConfigError
    (Kafka's wording) for a key that cannot change at run time or a bad value."""
    fixed = [k for k in configs if k in BROKER_CONFIGS and k not in DYNAMIC_CONFIGS]
    if fixed:
        raise ConfigError(f"Cannot update these configs dynamically: {scala_set(fixed)}")
    listeners = [k for k in configs if k in _NOT_RECONFIGURABLE_HERE]
    if listeners:
        raise ConfigError(f"Cannot update these configs dynamically: {scala_set(listeners)} "
                          "(snakafka binds its listeners at start; restart the broker to change them)")
    for name, raw in configs.items():
        if name in BROKER_CONFIGS and raw is not None:
            BROKER_CONFIGS[name].parse(raw)


def with_dynamic(static: BrokerConfig, per_broker: Mapping[str, str], default: Mapping[str, str]) -> BrokerConfig:
    """The config in force: `static` (a BrokerConfig as loaded at start, whose originals are
    the file and overrides) with the cluster defaults, then this broker's own values, over
    it. Raises ConfigError if the result is invalid (a cross-key rule, say)."""
    merged = {k: v for k, v in static.originals.items() if k in BROKER_CONFIGS}
    for layer in (default, per_broker):
        for name, value in layer.items():
            if name not in BROKER_CONFIGS:
                continue  # a custom config: stored and described, used by nothing here
            for synonym in BROKER_SYNONYMS.get(name, (name,)):
                merged.pop(synonym, None)
            merged[name] = value
    config = BrokerConfig.load(None, merged)
    return dataclasses.replace(config, originals=static.originals, dynamic_broker=dict(per_broker),
                               dynamic_default=dict(default))

"""Topic-level configs: names, validation, broker synonyms, and DescribeConfigs views.

A topic's overrides are stored with its metadata; every other value comes from the
broker's setting of the synonym (retention.ms <- log.retention.ms / minutes / hours,
max.message.bytes <- message.max.bytes, ...), which is Kafka's default when the broker
file does not set it. DescribeConfigs reports the value and where it came from (topic
override, static broker config, default) with the synonym chain, as Kafka does, so admin
tools show the same thing against snakafka as against Kafka.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from snakafka.config.broker import BROKER_CONFIGS, COMPRESSION_TYPES, BrokerConfig
from snakafka.config.definitions import (
    LONG_MAX,
    ConfigDef,
    ConfigError,
    ConfigType,
    Importance,
    at_least,
    between,
    each_of,
    one_of,
)
from snakafka.config.dynamic import (
    BROKER_SYNONYMS,
    DYNAMIC_BROKER_CONFIG,
    DYNAMIC_DEFAULT_BROKER_CONFIG,
    is_reconfigurable,
)
from snakafka.log.log_config import LogConfig

__all__ = [
    "DEFAULT_CONFIG", "DYNAMIC_TOPIC_CONFIG", "STATIC_BROKER_CONFIG", "TOPIC_CONFIGS", "DescribedConfig", "TopicConfig",
    "TopicConfigError", "describe_broker_configs", "describe_default_broker_configs", "describe_topic_configs",
    "log_config_for", "validate_topic_configs",
]

# Kafka's DescribeConfigs ConfigSource ids (2 and 3, the dynamic broker levels, are in dynamic.py)
DYNAMIC_TOPIC_CONFIG = 1
STATIC_BROKER_CONFIG = 4
DEFAULT_CONFIG = 5


@dataclass(frozen=True, slots=True)
class TopicConfig:
    """A topic config key: its definition, its broker synonyms (the first decides the
    broker-level value) and the LogConfig field it sets, if the log uses it."""

    definition: ConfigDef
    synonyms: tuple[str, ...]
    log_field: str | None

    @property
    def name(self) -> str:
        return self.definition.name


def _topic(name: str, type_: ConfigType, default: Any, validator: Any, doc: str, synonyms: tuple[str, ...],
           log_field: str | None, importance: Importance = Importance.MEDIUM) -> TopicConfig:
    return TopicConfig(ConfigDef(name, type_, default, validator, importance, doc, dynamic=True), synonyms, log_field)


@dataclass(frozen=True, slots=True)
class ThrottledReplicas:
    """Kafka's ThrottledReplicaListValidator: "*" or PARTITION:BROKER entries."""

    def __call__(self, value: Any) -> str | None:
        items = [str(v).strip() for v in value]
        if items == ["*"] or all(len(parts := item.split(":")) == 2 and all(x.strip().isdigit() for x in parts)
                                 for item in items):
            return None
        return "must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],..."

    def __str__(self) -> str:
        return "[partitionId]:[brokerId],[partitionId]:[brokerId],..."


B, S, I, L, D, LS = ConfigType.BOOLEAN, ConfigType.STRING, ConfigType.INT, ConfigType.LONG, ConfigType.DOUBLE, ConfigType.LIST

# fmt: off
TOPIC_CONFIGS: dict[str, TopicConfig] = {t.name: t for t in [
    _topic("cleanup.policy", LS, ["delete"], each_of("compact", "delete"), "delete, compact or both: what happens to old segments.", ("log.cleanup.policy",), "cleanup_policy"),
    _topic("compression.type", S, "producer", one_of(*COMPRESSION_TYPES), "Compression of stored batches; producer: keep the producer's.", ("compression.type",), "compression_type"),
    _topic("delete.retention.ms", L, 86400000, at_least(0), "How long tombstones survive in a compacted topic.", ("log.cleaner.delete.retention.ms",), "delete_retention_ms"),
    _topic("file.delete.delay.ms", L, 60000, at_least(0), "Delay before a deleted segment's files are removed.", ("log.segment.delete.delay.ms",), "file_delete_delay_ms"),
    _topic("flush.messages", L, LONG_MAX, at_least(1), "Messages appended before an fsync.", ("log.flush.interval.messages",), "flush_messages"),
    _topic("flush.ms", L, LONG_MAX, at_least(0), "Longest time appended data stays unfsynced.", ("log.flush.interval.ms",), "flush_ms"),
    _topic("index.interval.bytes", I, 4096, at_least(0), "Bytes between offset index entries.", ("log.index.interval.bytes",), "index_interval_bytes"),
    _topic("max.compaction.lag.ms", L, LONG_MAX, at_least(1), "Oldest age a record may reach uncompacted.", ("log.cleaner.max.compaction.lag.ms",), None),
    _topic("max.message.bytes", I, 1048588, at_least(0), "Largest record batch the topic accepts.", ("message.max.bytes",), "max_message_bytes"),
    _topic("message.downconversion.enable", B, True, None, "Accepted; snakafka never down-converts record batches.", (), None, Importance.LOW),
    _topic("message.timestamp.after.max.ms", L, LONG_MAX, at_least(0), "Largest lead (timestamp - now) of a CreateTime record; later: INVALID_TIMESTAMP.", ("log.message.timestamp.after.max.ms",), "message_timestamp_after_max_ms"),
    _topic("message.timestamp.before.max.ms", L, LONG_MAX, at_least(0), "Largest age (now - timestamp) of a CreateTime record; older: INVALID_TIMESTAMP.", ("log.message.timestamp.before.max.ms",), "message_timestamp_before_max_ms"),
    _topic("message.timestamp.difference.max.ms", L, LONG_MAX, at_least(0), "Deprecated (KIP-937): the bound for whichever of before/after.max.ms is at its default.", ("log.message.timestamp.difference.max.ms",), "message_timestamp_difference_max_ms"),
    _topic("message.timestamp.type", S, "CreateTime", one_of("CreateTime", "LogAppendTime"), "CreateTime (the producer's) or LogAppendTime (the broker's).", ("log.message.timestamp.type",), "message_timestamp_type"),
    _topic("min.cleanable.dirty.ratio", D, 0.5, between(0, 1), "Dirty ratio that makes the log eligible for cleaning.", ("log.cleaner.min.cleanable.ratio",), "min_cleanable_dirty_ratio"),
    _topic("min.compaction.lag.ms", L, 0, at_least(0), "Youngest age at which a record may be compacted.", ("log.cleaner.min.compaction.lag.ms",), "min_compaction_lag_ms"),
    _topic("min.insync.replicas", I, 1, at_least(1), "Smallest ISR a produce with acks=all needs.", ("min.insync.replicas",), "min_insync_replicas"),
    _topic("preallocate", B, False, None, "Accepted; snakafka does not preallocate segment files.", ("log.preallocate",), None),
    _topic("retention.bytes", L, -1, None, "Largest size of a partition's log before old segments go (-1: no limit).", ("log.retention.bytes",), "retention_bytes"),
    _topic("retention.ms", L, 604800000, at_least(-1), "Time to keep a segment (-1: no limit).", ("log.retention.ms", "log.retention.minutes", "log.retention.hours"), "retention_ms"),
    _topic("segment.bytes", I, 1073741824, at_least(14), "Largest size of one segment file.", ("log.segment.bytes",), "segment_bytes"),
    _topic("segment.index.bytes", I, 10485760, at_least(4), "Largest size of an offset or time index.", ("log.index.size.max.bytes",), "segment_index_bytes"),
    _topic("segment.ms", L, 604800000, at_least(1), "Longest time before a new segment is rolled.", ("log.roll.ms", "log.roll.hours"), "segment_ms"),
    _topic("leader.replication.throttled.replicas", LS, [], ThrottledReplicas(), "Replicas whose leader-side replication is throttled (at most leader.replication.throttled.rate for out-of-sync followers).", (), None),
    _topic("follower.replication.throttled.replicas", LS, [], ThrottledReplicas(), "Replicas whose follower-side replication is throttled (at most follower.replication.throttled.rate while out of sync).", (), None),
    _topic("unclean.leader.election.enable", B, False, None, "Allow an out-of-sync replica to become leader (losing data).", ("unclean.leader.election.enable",), None),
]}
# fmt: on


class TopicConfigError(ConfigError):
    """A topic config the server refuses with INVALID_CONFIG (40); `name` is the key."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True, slots=True)
class DescribedConfig:
    """One DescribeConfigs entry: `source` and synonym sources are ConfigSource ids,
    `config_type` the DescribeConfigs v3 type id."""

    name: str
    value: str | None
    read_only: bool
    source: int
    is_sensitive: bool
    synonyms: list[tuple[str, str | None, int]] = field(default_factory=list)
    config_type: int = ConfigType.STRING.id
    documentation: str | None = None


def validate_topic_configs(configs: Mapping[str, str | None], broker: BrokerConfig | None = None) -> None:
    """Refuse unknown names and bad values, as Kafka's LogConfig.validate does; with
    `broker`, also the cross-key rule min.compaction.lag.ms <= max.compaction.lag.ms
    over the merged values."""
    for name, raw in configs.items():
        entry = TOPIC_CONFIGS.get(name)
        if entry is None:
            raise TopicConfigError(name, f"Unknown topic config name: {name}")
        if raw is None:
            raise TopicConfigError(name, f"Null value not supported for topic configs: {name}")
        try:
            entry.definition.parse(raw)
        except ConfigError as exc:
            raise TopicConfigError(name, str(exc)) from None
    lags = {k: _value(k, configs, broker) if broker else TOPIC_CONFIGS[k].definition.parse(configs.get(k))
            for k in ("min.compaction.lag.ms", "max.compaction.lag.ms")}
    low, high = lags["min.compaction.lag.ms"], lags["max.compaction.lag.ms"]
    if low is not None and high is not None and low > high:
        raise TopicConfigError("min.compaction.lag.ms",
                               f"conflict topic config setting min.compaction.lag.ms ({low}) > max.compaction.lag.ms ({high})")


def _value(name: str, overrides: Mapping[str, str | None], broker: BrokerConfig) -> Any:
    """A topic config's typed value: the override, else the broker's effective synonym."""
    entry = TOPIC_CONFIGS[name]
    raw = overrides.get(name)
    if raw is not None:
        return entry.definition.parse(raw)
    if entry.synonyms:
        return getattr(broker, entry.synonyms[0].replace(".", "_"))
    return entry.definition.default


def log_config_for(topic_overrides: Mapping[str, str], broker: BrokerConfig) -> LogConfig:
    """The LogConfig a topic's logs run with: the broker's log settings, overridden.
    Unknown or null override names are skipped (stored ones were validated on write)."""
    changes: dict[str, Any] = {}
    for name, raw in topic_overrides.items():
        entry = TOPIC_CONFIGS.get(name)
        if entry is None or entry.log_field is None or raw is None:
            continue
        value = entry.definition.parse(raw)
        changes[entry.log_field] = tuple(value) if isinstance(value, list) else value
    return dataclasses.replace(broker.log_config(), **changes)


def describe_topic_configs(topic_overrides: Mapping[str, str], broker: BrokerConfig) -> list[DescribedConfig]:
    """DescribeConfigs for a TOPIC resource: every topic config, sorted by name."""
    described = []
    for name, entry in sorted(TOPIC_CONFIGS.items()):
        d = entry.definition
        synonyms: list[tuple[str, str | None, int]] = []
        overridden = topic_overrides.get(name) is not None
        if overridden:
            synonyms.append((name, d.to_text(d.parse(topic_overrides[name])), DYNAMIC_TOPIC_CONFIG))
        synonyms += _broker_synonyms(entry.synonyms, broker)
        source = synonyms[0][2] if synonyms else DEFAULT_CONFIG
        value = None if d.is_sensitive else d.to_text(_value(name, topic_overrides, broker))
        described.append(DescribedConfig(name, value, read_only=False, source=source, is_sensitive=d.is_sensitive,
                                         synonyms=synonyms, config_type=d.type.id, documentation=d.doc))
    return described


def describe_broker_configs(broker: BrokerConfig) -> list[DescribedConfig]:
    """DescribeConfigs for a BROKER resource named by its id: each key's own parsed value
    in force (log.retention.ms is null when unset, as in Kafka), with its synonym chain
    (this broker's dynamic value, the cluster default's, the static one, the default).
    Read-only unless snakafka changes the key at run time (config/dynamic.py)."""
    described = []
    for name, d in sorted(BROKER_CONFIGS.items()):
        synonyms = _broker_synonyms(BROKER_SYNONYMS.get(name, (name,)), broker)
        source = synonyms[0][2] if synonyms else DEFAULT_CONFIG
        value = None if d.is_sensitive else broker.describe_value(name)
        described.append(DescribedConfig(name, value, read_only=not is_reconfigurable(name), source=source,
                                         is_sensitive=d.is_sensitive, synonyms=synonyms, config_type=d.type.id,
                                         documentation=d.doc))
    return described


def describe_default_broker_configs(broker: BrokerConfig) -> list[DescribedConfig]:
    """DescribeConfigs for the BROKER resource with an empty name: the cluster-wide dynamic
    defaults only, as Kafka answers it (keys it does not know are shown as strings)."""
    described = []
    for name, raw in sorted(broker.dynamic_default.items()):
        d = BROKER_CONFIGS.get(name)
        hidden = d is not None and d.is_sensitive
        value = None if hidden else (_text(name, raw) if d is not None else raw)
        described.append(DescribedConfig(name, value, read_only=False, source=DYNAMIC_DEFAULT_BROKER_CONFIG,
                                         is_sensitive=hidden, synonyms=[(name, value, DYNAMIC_DEFAULT_BROKER_CONFIG)],
                                         config_type=d.type.id if d is not None else ConfigType.STRING.id,
                                         documentation=d.doc if d is not None else None))
    return described


def _text(name: str, raw: str) -> str | None:
    """A stored dynamic value as DescribeConfigs shows it (normalised, e.g. list spacing)."""
    d = BROKER_CONFIGS[name]
    try:
        return d.to_text(d.parse(raw))
    except ConfigError:
        return raw


def _broker_synonyms(names: tuple[str, ...], broker: BrokerConfig) -> list[tuple[str, str | None, int]]:
    """Kafka's synonym chain: for each broker key in order, its dynamic value for this
    broker, its cluster-wide dynamic default, its static value if the file or an override
    set it, then its default if Kafka's default is not null."""
    chain: list[tuple[str, str | None, int]] = []
    for name in names:
        d = BROKER_CONFIGS[name]
        hidden = d.is_sensitive
        for layer, source in ((broker.dynamic_broker, DYNAMIC_BROKER_CONFIG),
                              (broker.dynamic_default, DYNAMIC_DEFAULT_BROKER_CONFIG)):
            if name in layer:
                chain.append((name, None if hidden else _text(name, layer[name]), source))
        if broker.is_set(name):
            chain.append((name, None if hidden else _text(name, broker.originals[name]), STATIC_BROKER_CONFIG))
        if d.default is not None:
            chain.append((name, None if hidden else d.to_text(d.default), DEFAULT_CONFIG))
    return chain

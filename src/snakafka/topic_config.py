"""Topic-level configs: names, validation, broker synonyms, and DescribeConfigs views.

A topic's overrides are stored with its metadata; every other value comes from the
broker's log.* settings (its synonym) or Kafka's default, and DescribeConfigs reports
which, as Kafka does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from snakafka.config import BROKER_CONFIGS, BrokerConfig
from snakafka.config_def import LONG_MAX, TYPE_IDS, ConfigDef, ConfigError, at_least, between, each_of, one_of
from snakafka.log.log_config import LogConfig

DYNAMIC_TOPIC_CONFIG = 1
STATIC_BROKER_CONFIG = 4
DEFAULT_CONFIG = 5

COMPRESSION_TYPES = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")

# name, type, validator, broker synonyms (first wins), LogConfig field, doc
_TOPIC: list[tuple[ConfigDef, tuple[str, ...], str | None]] = [
    (ConfigDef("cleanup.policy", "list", ["delete"], "delete and/or compact.", each_of("delete", "compact")), ("log.cleanup.policy",), "cleanup_policy"),
    (ConfigDef("compression.type", "string", "producer", "Compression of stored batches (producer: as sent).", one_of(*COMPRESSION_TYPES)), (), None),
    (ConfigDef("delete.retention.ms", "long", 86400000, "How long tombstones are kept in compacted topics.", at_least(0)), ("log.cleaner.delete.retention.ms",), "delete_retention_ms"),
    (ConfigDef("file.delete.delay.ms", "long", 60000, "Delay before deleted segment files are removed.", at_least(0)), ("log.segment.delete.delay.ms",), "file_delete_delay_ms"),
    (ConfigDef("flush.messages", "long", LONG_MAX, "Messages accumulated before an fsync.", at_least(1)), ("log.flush.interval.messages",), "flush_messages"),
    (ConfigDef("flush.ms", "long", LONG_MAX, "Maximum time before an fsync.", at_least(0)), ("log.flush.interval.ms",), "flush_ms"),
    (ConfigDef("index.interval.bytes", "int", 4096, "Bytes between offset index entries.", at_least(0)), ("log.index.interval.bytes",), "index_interval_bytes"),
    (ConfigDef("max.compaction.lag.ms", "long", LONG_MAX, "Maximum time a record stays uncompacted.", at_least(1)), (), None),
    (ConfigDef("max.message.bytes", "int", 1048588, "Largest record batch size allowed.", at_least(0)), ("message.max.bytes",), "max_message_bytes"),
    (ConfigDef("message.timestamp.type", "string", "CreateTime", "CreateTime or LogAppendTime.", one_of("CreateTime", "LogAppendTime")), ("log.message.timestamp.type",), "message_timestamp_type"),
    (ConfigDef("min.cleanable.dirty.ratio", "double", 0.5, "Dirty ratio that makes the log eligible for cleaning.", between(0, 1)), ("log.cleaner.min.cleanable.ratio",), "min_cleanable_dirty_ratio"),
    (ConfigDef("min.compaction.lag.ms", "long", 0, "Minimum age before a record may be compacted.", at_least(0)), ("log.cleaner.min.compaction.lag.ms",), "min_compaction_lag_ms"),
    (ConfigDef("min.insync.replicas", "int", 1, "Minimum ISR size for acks=all.", at_least(1)), ("min.insync.replicas",), "min_insync_replicas"),
    (ConfigDef("preallocate", "boolean", False, "Accepted for compatibility; segments are not preallocated."), (), None),
    (ConfigDef("retention.bytes", "long", -1, "Maximum partition size before old segments are deleted."), ("log.retention.bytes",), "retention_bytes"),
    (ConfigDef("retention.ms", "long", 604800000, "Time to keep a segment (-1: no limit).", at_least(-1)), ("log.retention.ms", "log.retention.minutes", "log.retention.hours"), "retention_ms"),
    (ConfigDef("segment.bytes", "int", 1073741824, "Segment file size.", at_least(14)), ("log.segment.bytes",), "segment_bytes"),
    (ConfigDef("segment.index.bytes", "int", 10485760, "Maximum offset index size.", at_least(4)), ("log.index.size.max.bytes",), "segment_index_bytes"),
    (ConfigDef("segment.ms", "long", 604800000, "Time before a segment is rolled.", at_least(1)), ("log.roll.ms", "log.roll.hours"), "segment_ms"),
    (ConfigDef("unclean.leader.election.enable", "boolean", False, "Allow out-of-sync replicas to become leader."), ("unclean.leader.election.enable",), None),
]
TOPIC_CONFIGS: dict[str, tuple[ConfigDef, tuple[str, ...], str | None]] = {d.name: (d, syn, fld) for d, syn, fld in _TOPIC}


class TopicConfigError(ConfigError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True, slots=True)
class DescribedConfig:
    name: str
    value: str | None
    source: int
    config_type: int
    documentation: str
    read_only: bool = False
    is_sensitive: bool = False
    synonyms: list[tuple[str, str | None, int]] = field(default_factory=list)


def validate_topic_configs(configs: Mapping[str, str]) -> None:
    for name, raw in configs.items():
        entry = TOPIC_CONFIGS.get(name)
        if entry is None:
            raise TopicConfigError(name, f"Unknown topic config name: {name}")
        try:
            entry[0].parse(raw)
        except ConfigError as exc:
            raise TopicConfigError(name, str(exc)) from None


def _broker_value(broker: BrokerConfig, synonyms: tuple[str, ...]) -> tuple[str, Any] | None:
    """The broker-level value of a topic config: an explicitly set synonym, in order."""
    for syn in synonyms:
        if syn in broker.originals:
            value = broker.get(syn)
            if syn == "log.retention.minutes":
                value = value * 60_000
            elif syn in ("log.retention.hours", "log.roll.hours"):
                value = value * 3_600_000
            return syn, value
    return None


def resolved_values(overrides: Mapping[str, str], broker: BrokerConfig) -> dict[str, tuple[Any, int]]:
    result: dict[str, tuple[Any, int]] = {}
    for name, (d, synonyms, _) in TOPIC_CONFIGS.items():
        if name in overrides:
            result[name] = (d.parse(overrides[name]), DYNAMIC_TOPIC_CONFIG)
        elif (found := _broker_value(broker, synonyms)) is not None:
            result[name] = (found[1], STATIC_BROKER_CONFIG)
        else:
            result[name] = (d.default, DEFAULT_CONFIG)
    return result


def log_config_for(overrides: Mapping[str, str], broker: BrokerConfig) -> LogConfig:
    values = {}
    for name, (value, _) in resolved_values(overrides, broker).items():
        fld = TOPIC_CONFIGS[name][2]
        if fld is not None:
            values[fld] = tuple(value) if fld == "cleanup_policy" else value
    if values.get("flush_ms") is None:
        values["flush_ms"] = LONG_MAX
    return LogConfig(**values)


def describe_topic_configs(overrides: Mapping[str, str], broker: BrokerConfig) -> list[DescribedConfig]:
    described = []
    for name, (value, source) in resolved_values(overrides, broker).items():
        d, synonyms, _ = TOPIC_CONFIGS[name]
        syns: list[tuple[str, str | None, int]] = []
        if name in overrides:
            syns.append((name, overrides[name], DYNAMIC_TOPIC_CONFIG))
        for syn in synonyms:
            if syn in broker.originals:
                syns.append((syn, broker.originals[syn], STATIC_BROKER_CONFIG))
        syns.append((synonyms[0] if synonyms else name, d.to_text(d.default), DEFAULT_CONFIG))
        described.append(DescribedConfig(name, d.to_text(value), source, TYPE_IDS[d.type], d.doc, synonyms=syns))
    return described


def describe_broker_configs(broker: BrokerConfig) -> list[DescribedConfig]:
    described = []
    for name, d in BROKER_CONFIGS.items():
        source = STATIC_BROKER_CONFIG if name in broker.originals else DEFAULT_CONFIG
        value = broker.describe_value(name)
        described.append(DescribedConfig(name, value, source, TYPE_IDS[d.type], d.doc, read_only=True,
                                         synonyms=[(name, value, source)]))
    return described

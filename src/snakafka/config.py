"""Broker configuration: Kafka's key names, defaults and validation.

`BrokerConfig.load` reads a server.properties-style file plus `--override key=value`
pairs. Unknown keys are kept and logged as unused (as Kafka does); a bad value stops
start-up with a one-line ConfigError naming the key.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snakafka.config_def import LONG_MAX, ConfigDef, ConfigError, at_least, between, each_of, one_of
from snakafka.log.log_config import LogConfig

log = logging.getLogger(__name__)

__all__ = ["BROKER_CONFIGS", "BrokerConfig", "ConfigError", "Listener", "parse_properties"]

HOUR_MS = 3600 * 1000

BROKER_CONFIGS: dict[str, ConfigDef] = {d.name: d for d in [
    ConfigDef("broker.id", "int", 0, "The broker id of this server.", at_least(-1)),
    ConfigDef("listeners", "list", ["PLAINTEXT://127.0.0.1:9092"], "Listener URIs (PLAINTEXT only)."),
    ConfigDef("advertised.listeners", "list", None, "Listeners published to clients; defaults to listeners."),
    ConfigDef("log.dirs", "list", None, "Directories holding the log data; defaults to log.dir."),
    ConfigDef("log.dir", "string", "./snakafka-data", "The directory holding the log data (if log.dirs is unset)."),
    ConfigDef("num.partitions", "int", 1, "Default number of partitions per topic.", at_least(1)),
    ConfigDef("default.replication.factor", "int", 1, "Default replication factor of automatically created topics.", at_least(1)),
    ConfigDef("auto.create.topics.enable", "boolean", True, "Create topics on first use in metadata requests."),
    ConfigDef("delete.topic.enable", "boolean", True, "Allow deleting topics."),
    ConfigDef("message.max.bytes", "int", 1048588, "Largest record batch size allowed (topic: max.message.bytes).", at_least(0)),
    ConfigDef("socket.request.max.bytes", "int", 104857600, "Largest request the socket server accepts.", at_least(1)),
    ConfigDef("log.segment.bytes", "int", 1073741824, "Maximum size of a single log file.", at_least(14)),
    ConfigDef("log.roll.ms", "long", None, "Maximum time before a new segment is rolled (overrides log.roll.hours)."),
    ConfigDef("log.roll.hours", "int", 168, "Maximum hours before a new segment is rolled.", at_least(1)),
    ConfigDef("log.retention.ms", "long", None, "Time to keep a log segment (-1: no limit); overrides minutes/hours."),
    ConfigDef("log.retention.minutes", "int", None, "Minutes to keep a log segment; overrides hours."),
    ConfigDef("log.retention.hours", "int", 168, "Hours to keep a log segment."),
    ConfigDef("log.retention.bytes", "long", -1, "Maximum size of a partition's log before deleting old segments."),
    ConfigDef("log.retention.check.interval.ms", "long", 300000, "How often retention runs.", at_least(1)),
    ConfigDef("log.flush.interval.messages", "long", LONG_MAX, "Messages accumulated before a log is fsynced.", at_least(1)),
    ConfigDef("log.flush.interval.ms", "long", None, "Maximum ms a message stays unfsynced (default: log.flush.scheduler.interval.ms)."),
    ConfigDef("log.flush.scheduler.interval.ms", "long", LONG_MAX, "How often the flusher checks logs."),
    ConfigDef("log.flush.offset.checkpoint.interval.ms", "int", 60000, "How often the recovery point is checkpointed.", at_least(0)),
    ConfigDef("log.index.interval.bytes", "int", 4096, "Bytes between offset index entries.", at_least(0)),
    ConfigDef("log.index.size.max.bytes", "int", 10485760, "Maximum size of an offset index.", at_least(4)),
    ConfigDef("log.message.timestamp.type", "string", "CreateTime", "CreateTime or LogAppendTime.", one_of("CreateTime", "LogAppendTime")),
    ConfigDef("log.cleanup.policy", "list", ["delete"], "delete and/or compact.", each_of("delete", "compact")),
    ConfigDef("log.cleaner.enable", "boolean", True, "Run the log cleaner for compacted topics."),
    ConfigDef("log.cleaner.backoff.ms", "long", 15000, "Sleep of the cleaner when there is nothing to clean.", at_least(0)),
    ConfigDef("log.cleaner.delete.retention.ms", "long", 86400000, "How long tombstones are kept.", at_least(0)),
    ConfigDef("log.cleaner.min.cleanable.ratio", "double", 0.5, "Dirty ratio that makes a log eligible for cleaning.", between(0, 1)),
    ConfigDef("log.cleaner.min.compaction.lag.ms", "long", 0, "Minimum age of a record before it may be compacted.", at_least(0)),
    ConfigDef("log.segment.delete.delay.ms", "long", 60000, "Delay before a deleted segment's files are removed.", at_least(0)),
    ConfigDef("min.insync.replicas", "int", 1, "Minimum ISR size for acks=all.", at_least(1)),
    ConfigDef("unclean.leader.election.enable", "boolean", False, "Allow out-of-sync replicas to become leader."),
    ConfigDef("replica.lag.time.max.ms", "long", 30000, "A follower not caught up for this long leaves the ISR."),
    ConfigDef("replica.fetch.max.bytes", "int", 1048576, "Bytes a follower fetches per partition.", at_least(0)),
    ConfigDef("replica.fetch.wait.max.ms", "int", 500, "Max wait of a follower fetch."),
    ConfigDef("offsets.topic.num.partitions", "int", 50, "Partitions of __consumer_offsets.", at_least(1)),
    ConfigDef("offsets.topic.replication.factor", "short", 1, "Replication factor of __consumer_offsets (Kafka: 3; 1 suits a single broker).", at_least(1)),
    ConfigDef("offsets.topic.segment.bytes", "int", 104857600, "Segment size of __consumer_offsets.", at_least(1)),
    ConfigDef("offsets.retention.minutes", "int", 10080, "Committed offsets of empty groups expire after this.", at_least(1)),
    ConfigDef("offsets.retention.check.interval.ms", "long", 600000, "How often stale offsets are expired.", at_least(1)),
    ConfigDef("offset.metadata.max.bytes", "int", 4096, "Maximum size of offset commit metadata."),
    ConfigDef("group.initial.rebalance.delay.ms", "int", 3000, "Delay of the first rebalance of an empty group."),
    ConfigDef("group.min.session.timeout.ms", "int", 6000, "Smallest session timeout a member may ask for."),
    ConfigDef("group.max.session.timeout.ms", "int", 1800000, "Largest session timeout a member may ask for."),
    ConfigDef("group.max.size", "int", 2147483647, "Maximum members of a group.", at_least(1)),
    ConfigDef("zookeeper.connect", "string", None, "ZooKeeper connection string; unset: single broker with the embedded metadata store."),
    ConfigDef("zookeeper.session.timeout.ms", "int", 18000, "ZooKeeper session timeout."),
    ConfigDef("zookeeper.connection.timeout.ms", "int", None, "ZooKeeper connection timeout."),
    ConfigDef("transaction.state.log.num.partitions", "int", 50, "Partitions of __transaction_state.", at_least(1)),
    ConfigDef("transaction.max.timeout.ms", "int", 900000, "Largest transaction timeout a producer may ask for.", at_least(1)),
    ConfigDef("producer.id.expiration.ms", "int", 86400000, "Idle time before a producer id's state expires.", at_least(1)),
    ConfigDef("fetch.max.bytes", "int", 57671680, "Largest fetch response.", at_least(1024)),
    ConfigDef("num.network.threads", "int", 3, "Accepted for compatibility; snakafka runs one event loop.", at_least(1)),
    ConfigDef("num.io.threads", "int", 8, "Accepted for compatibility; snakafka runs one event loop.", at_least(1)),
]}

_LISTENER = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)://(?P<host>\[[^\]]*\]|[^:]*):(?P<port>\d+)$")


@dataclass(frozen=True, slots=True)
class Listener:
    name: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.name}://{self.host}:{self.port}"


def parse_listeners(key: str, values: list[str]) -> list[Listener]:
    result = []
    for value in values:
        m = _LISTENER.match(value)
        if m is None:
            raise ConfigError(f"Invalid value {value} for configuration {key}: Unable to parse {value} to a broker endpoint")
        host = m["host"].strip("[]") or "0.0.0.0"
        if m["name"].upper() != "PLAINTEXT":
            raise ConfigError(f"Invalid value {value} for configuration {key}: only PLAINTEXT listeners are supported")
        result.append(Listener(m["name"].upper(), host, int(m["port"])))
    return result


def parse_properties(text: str) -> dict[str, str]:
    """Java .properties: comments (# !), key=value / key: value / key value, backslash
    line continuations and escapes."""
    props: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].lstrip()
        i += 1
        if not line or line[0] in "#!":
            continue
        while line.endswith("\\") and not line.endswith("\\\\") and i < len(lines):
            line = line[:-1] + lines[i].lstrip()
            i += 1
        m = re.match(r"((?:\\.|[^=:\s\\])+)\s*[=:\s]\s*(.*)$", line)
        if m is None:
            key, value = line, ""
        else:
            key, value = m.group(1), m.group(2)
        unescape = lambda s: re.sub(r"\\(.)", lambda x: {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(x.group(1), x.group(1)), s)  # noqa: E731
        props[unescape(key)] = unescape(value)
    return props


@dataclass(frozen=True)
class BrokerConfig:
    values: dict[str, Any]
    originals: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, properties_file: Path | None = None, overrides: Mapping[str, str] | None = None) -> BrokerConfig:
        originals: dict[str, str] = {}
        if properties_file is not None:
            try:
                originals.update(parse_properties(Path(properties_file).read_text()))
            except OSError as exc:
                raise ConfigError(f"Cannot read config file {properties_file}: {exc.strerror}") from None
        originals.update(overrides or {})
        values = {name: d.parse(originals[name]) if name in originals else d.default for name, d in BROKER_CONFIGS.items()}
        unused = sorted(set(originals) - set(BROKER_CONFIGS))
        if unused:
            log.warning("These configurations were supplied but are not used: %s", ", ".join(unused))
        config = cls(values, originals)
        config._validate()
        return config

    @classmethod
    def defaults(cls, **overrides: str) -> BrokerConfig:
        return cls.load(None, {k.replace("_", "."): v for k, v in overrides.items()})

    def get(self, name: str) -> Any:
        return self.values[name]

    def _validate(self) -> None:
        self.listeners  # noqa: B018 - parse errors surface at start-up
        self.advertised_listeners  # noqa: B018
        if self.group_min_session_timeout_ms > self.group_max_session_timeout_ms:
            raise ConfigError("Invalid value for configuration group.min.session.timeout.ms: must not exceed group.max.session.timeout.ms")

    # -- typed accessors (Kafka names with dots as underscores) -------------------------

    def __getattr__(self, attr: str) -> Any:
        name = attr.replace("_", ".")
        values = object.__getattribute__(self, "values")
        if name in values:
            return values[name]
        raise AttributeError(attr)

    @property
    def listeners(self) -> list[Listener]:
        return parse_listeners("listeners", self.values["listeners"])

    @property
    def advertised_listeners(self) -> list[Listener]:
        advertised = self.values["advertised.listeners"]
        if not advertised:
            return [Listener(l.name, "127.0.0.1" if l.host in ("0.0.0.0", "") else l.host, l.port) for l in self.listeners]
        return parse_listeners("advertised.listeners", advertised)

    @property
    def log_dirs(self) -> list[Path]:
        dirs = self.values["log.dirs"] or [self.values["log.dir"]]
        return [Path(d) for d in dirs]

    @property
    def log_roll_ms(self) -> int:
        ms = self.values["log.roll.ms"]
        return ms if ms is not None else self.values["log.roll.hours"] * HOUR_MS

    @property
    def log_retention_ms(self) -> int:
        if self.values["log.retention.ms"] is not None:
            return self.values["log.retention.ms"]
        if self.values["log.retention.minutes"] is not None:
            return self.values["log.retention.minutes"] * 60_000
        return self.values["log.retention.hours"] * HOUR_MS

    @property
    def log_flush_interval_ms(self) -> int:
        ms = self.values["log.flush.interval.ms"]
        return ms if ms is not None else self.values["log.flush.scheduler.interval.ms"]

    def log_config(self) -> LogConfig:
        """The broker's log.* defaults as the LogConfig every topic starts from."""
        return LogConfig(
            segment_bytes=self.log_segment_bytes,
            segment_ms=self.log_roll_ms,
            segment_index_bytes=self.log_index_size_max_bytes,
            index_interval_bytes=self.log_index_interval_bytes,
            retention_ms=self.log_retention_ms,
            retention_bytes=self.log_retention_bytes,
            max_message_bytes=self.message_max_bytes,
            message_timestamp_type=self.log_message_timestamp_type,
            cleanup_policy=tuple(self.log_cleanup_policy),
            flush_messages=self.log_flush_interval_messages,
            flush_ms=self.log_flush_interval_ms,
            delete_retention_ms=self.log_cleaner_delete_retention_ms,
            min_cleanable_dirty_ratio=self.log_cleaner_min_cleanable_ratio,
            min_compaction_lag_ms=self.log_cleaner_min_compaction_lag_ms,
            file_delete_delay_ms=self.log_segment_delete_delay_ms,
            min_insync_replicas=self.min_insync_replicas,
        )

    def describe_value(self, name: str) -> str | None:
        d = BROKER_CONFIGS[name]
        return d.to_text(self.values[name])

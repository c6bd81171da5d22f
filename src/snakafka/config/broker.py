"""Broker configuration: Kafka's key names, defaults and validation.

`BrokerConfig.load` reads a server.properties file plus `--override key=value` pairs
(overrides win). Unknown keys are kept in `originals` and logged as unused, as Kafka
does; a bad value stops start-up with a one-line ConfigError naming the key.

Where snakafka's default differs from Kafka's the doc line says so: broker.id 0 (Kafka
-1), listeners on 127.0.0.1:9092, data in ./snakafka-data, and replication factor 1 (and
min ISR 1) for the internal topics, since the default deployment is one broker.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from snakafka.config.definitions import (
    INT_MAX,
    LONG_MAX,
    ConfigDef,
    ConfigError,
    ConfigType,
    Importance,
    at_least,
    between,
    defs_by_name,
    each_of,
    one_of,
)
from snakafka.config.properties import (
    PropertiesSyntaxError,
    decode_properties,
    parse_properties,
)
from snakafka.config.security import SECURITY_CONFIGS, ListenerSecurity, is_listener_key
from snakafka.log.log_config import LogConfig

log = logging.getLogger(__name__)

__all__ = ["BROKER_CONFIGS", "SUPPORTED_SECURITY_PROTOCOLS", "BrokerConfig", "ConfigError", "Listener", "parse_http_listener"]

MINUTE_MS = 60 * 1000
HOUR_MS = 60 * MINUTE_MS
COMPRESSION_TYPES = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
AUTHORIZER_CLASSES = ("kafka.security.authorizer.AclAuthorizer", "org.apache.kafka.metadata.authorizer.StandardAuthorizer")
SUPPORTED_SECURITY_PROTOCOLS = SECURITY_PROTOCOLS

B, S, I, SH, L, D, LS = (ConfigType.BOOLEAN, ConfigType.STRING, ConfigType.INT, ConfigType.SHORT,
                         ConfigType.LONG, ConfigType.DOUBLE, ConfigType.LIST)
HIGH, MEDIUM, LOW = Importance.HIGH, Importance.MEDIUM, Importance.LOW
DYN = True  # Kafka can change the key at run time (per-broker or cluster-wide)

# fmt: off
BROKER_CONFIGS: dict[str, ConfigDef] = defs_by_name([
    # -- identity, network ------------------------------------------------------------
    ConfigDef("broker.id", I, 0, at_least(-1), HIGH, "This broker's id (Kafka's default -1 asks for a generated one; snakafka defaults to 0)."),
    ConfigDef("broker.id.generation.enable", B, True, None, MEDIUM, "Allow generated broker ids (above reserved.broker.max.id) when broker.id is -1."),
    ConfigDef("reserved.broker.max.id", I, 1000, at_least(0), MEDIUM, "Largest broker id a user may set; generated ids start above it."),
    ConfigDef("listeners", LS, ["PLAINTEXT://127.0.0.1:9092"], None, HIGH, "Listener URIs NAME://host:port to bind (empty host: all interfaces; port 0: any).", DYN),
    ConfigDef("advertised.listeners", LS, None, None, HIGH, "Listeners published to clients in metadata; unset: the listeners.", DYN),
    ConfigDef("listener.security.protocol.map", S, "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL", None, LOW,
              "Listener name to security protocol.", DYN),
    ConfigDef("socket.request.max.bytes", I, 104857600, at_least(1), HIGH, "Largest request the socket server accepts."),
    ConfigDef("queued.max.requests", I, 500, at_least(1), HIGH, "Requests queued per broker before reading from sockets pauses."),
    ConfigDef("connections.max.idle.ms", L, 600000, None, MEDIUM, "Idle connections are closed after this long."),
    ConfigDef("num.network.threads", I, 3, at_least(1), HIGH, "Accepted and ignored: snakafka serves all sockets from one event loop.", DYN),
    ConfigDef("num.io.threads", I, 8, at_least(1), HIGH, "Accepted and ignored: snakafka handles requests on one event loop.", DYN),
    ConfigDef("fetch.max.bytes", I, 57671680, at_least(1024), MEDIUM, "Largest fetch response the broker returns."),
    ConfigDef("message.max.bytes", I, 1048588, at_least(0), HIGH, "Largest record batch the broker accepts (topic: max.message.bytes).", DYN),
    ConfigDef("compression.type", S, "producer", one_of(*COMPRESSION_TYPES), HIGH, "Compression of stored batches; producer: keep the producer's.", DYN),
    # -- topics -----------------------------------------------------------------------
    ConfigDef("num.partitions", I, 1, at_least(1), MEDIUM, "Default partition count of new topics."),
    ConfigDef("default.replication.factor", I, 1, at_least(1), MEDIUM, "Default replication factor of automatically created topics."),
    ConfigDef("auto.create.topics.enable", B, True, None, HIGH, "Create a topic when a client asks for its metadata."),
    ConfigDef("delete.topic.enable", B, True, None, HIGH, "Allow deleting topics; if false, DeleteTopics is refused."),
    ConfigDef("min.insync.replicas", I, 1, at_least(1), HIGH, "Smallest ISR a produce with acks=all needs.", DYN),
    ConfigDef("unclean.leader.election.enable", B, False, None, HIGH, "Allow an out-of-sync replica to become leader (losing data).", DYN),
    # -- logs -------------------------------------------------------------------------
    ConfigDef("log.dirs", LS, None, None, HIGH, "Directories holding the log data; unset: log.dir."),
    ConfigDef("log.dir", S, "./snakafka-data", None, HIGH, "The directory holding the log data when log.dirs is unset (Kafka: /tmp/kafka-logs)."),
    ConfigDef("log.segment.bytes", I, 1073741824, at_least(14), HIGH, "Largest size of one segment file.", DYN),
    ConfigDef("log.roll.ms", L, None, None, HIGH, "Longest time before a new segment is rolled; unset: log.roll.hours.", DYN),
    ConfigDef("log.roll.hours", I, 168, at_least(1), HIGH, "Longest time in hours before a new segment is rolled.", DYN),
    ConfigDef("log.retention.ms", L, None, None, HIGH, "Time to keep a segment (-1: no limit); wins over minutes and hours.", DYN),
    ConfigDef("log.retention.minutes", I, None, None, HIGH, "Time to keep a segment in minutes; wins over hours.", DYN),
    ConfigDef("log.retention.hours", I, 168, None, HIGH, "Time to keep a segment in hours.", DYN),
    ConfigDef("log.retention.bytes", L, -1, None, HIGH, "Largest size of a partition's log before old segments go (-1: no limit).", DYN),
    ConfigDef("log.retention.check.interval.ms", L, 300000, at_least(1), MEDIUM, "How often retention runs."),
    ConfigDef("log.segment.delete.delay.ms", L, 60000, at_least(0), HIGH, "Delay before a deleted segment's files are removed.", DYN),
    ConfigDef("log.flush.interval.messages", L, LONG_MAX, at_least(1), HIGH, "Messages appended to a log before it is fsynced.", DYN),
    ConfigDef("log.flush.interval.ms", L, None, None, HIGH, "Longest time appended data stays unfsynced; unset: log.flush.scheduler.interval.ms.", DYN),
    ConfigDef("log.flush.scheduler.interval.ms", L, LONG_MAX, None, HIGH, "How often the flusher checks whether a log needs an fsync."),
    ConfigDef("log.flush.offset.checkpoint.interval.ms", I, 60000, at_least(0), HIGH, "How often the recovery points are checkpointed."),
    ConfigDef("log.index.interval.bytes", I, 4096, at_least(0), MEDIUM, "Bytes between offset index entries.", DYN),
    ConfigDef("log.index.size.max.bytes", I, 10485760, at_least(4), MEDIUM, "Largest size of an offset or time index.", DYN),
    ConfigDef("log.message.timestamp.type", S, "CreateTime", one_of("CreateTime", "LogAppendTime"), MEDIUM,
              "Timestamps stored: the producer's (CreateTime) or the broker's (LogAppendTime).", DYN),
    ConfigDef("log.message.timestamp.before.max.ms", L, LONG_MAX, at_least(0), MEDIUM,
              "Largest age (now - timestamp) of a CreateTime record a produce may carry; older: INVALID_TIMESTAMP.", DYN),
    ConfigDef("log.message.timestamp.after.max.ms", L, LONG_MAX, at_least(0), MEDIUM,
              "Largest lead (timestamp - now) of a CreateTime record a produce may carry; later: INVALID_TIMESTAMP.", DYN),
    ConfigDef("log.message.timestamp.difference.max.ms", L, LONG_MAX, at_least(0), MEDIUM,
              "Deprecated (KIP-937): both bounds at once, used for whichever of before/after.max.ms is left at its default.", DYN),
    ConfigDef("log.preallocate", B, False, None, MEDIUM, "Accepted; snakafka does not preallocate segment files.", DYN),
    ConfigDef("log.cleanup.policy", LS, ["delete"], each_of("compact", "delete"), MEDIUM, "Default cleanup of old segments: delete, compact or both.", DYN),
    ConfigDef("log.cleaner.enable", B, True, None, MEDIUM, "Run the log cleaner, which compacts topics with cleanup.policy compact."),
    ConfigDef("log.cleaner.threads", I, 1, at_least(0), MEDIUM, "Background threads cleaning logs.", DYN),
    ConfigDef("log.cleaner.dedupe.buffer.size", L, 134217728, None, MEDIUM, "Memory for the cleaner's key map across all threads.", DYN),
    ConfigDef("log.cleaner.backoff.ms", L, 15000, at_least(0), MEDIUM, "How long the cleaner sleeps when no log needs cleaning.", DYN),
    ConfigDef("log.cleaner.delete.retention.ms", L, 86400000, at_least(0), MEDIUM, "How long tombstones survive in compacted topics.", DYN),
    ConfigDef("log.cleaner.min.cleanable.ratio", D, 0.5, between(0, 1), MEDIUM, "Dirty ratio that makes a log eligible for cleaning.", DYN),
    ConfigDef("log.cleaner.min.compaction.lag.ms", L, 0, at_least(0), MEDIUM, "Youngest age at which a record may be compacted.", DYN),
    ConfigDef("log.cleaner.max.compaction.lag.ms", L, LONG_MAX, at_least(1), MEDIUM, "Oldest age a record may reach uncompacted.", DYN),
    # -- group coordinator --------------------------------------------------------------
    ConfigDef("offsets.topic.num.partitions", I, 50, at_least(1), HIGH, "Partitions of __consumer_offsets (fixed once the topic exists)."),
    ConfigDef("offsets.topic.replication.factor", SH, 3, at_least(1), HIGH,
              "Replication factor of __consumer_offsets; fewer if fewer brokers are alive when it is created (Kafka refuses instead)."),
    ConfigDef("offsets.topic.segment.bytes", I, 104857600, at_least(1), HIGH, "Segment size of __consumer_offsets, kept small for fast loading."),
    ConfigDef("offsets.retention.minutes", I, 10080, at_least(1), HIGH, "Committed offsets of an empty group expire after this."),
    ConfigDef("offsets.retention.check.interval.ms", L, 600000, at_least(1), HIGH, "How often stale offsets are expired."),
    ConfigDef("offset.metadata.max.bytes", I, 4096, None, HIGH, "Largest metadata string of an offset commit."),
    ConfigDef("group.initial.rebalance.delay.ms", I, 3000, None, MEDIUM, "How long the first rebalance of an empty group waits for more members."),
    ConfigDef("group.min.session.timeout.ms", I, 6000, None, MEDIUM, "Smallest session timeout a member may ask for."),
    ConfigDef("group.max.session.timeout.ms", I, 1800000, None, MEDIUM, "Largest session timeout a member may ask for."),
    ConfigDef("group.max.size", I, INT_MAX, at_least(1), MEDIUM, "Most members a consumer group may have."),
    # -- transactions and idempotence ----------------------------------------------------
    ConfigDef("transaction.state.log.num.partitions", I, 50, at_least(1), HIGH, "Partitions of __transaction_state (fixed once the topic exists)."),
    ConfigDef("transaction.state.log.replication.factor", SH, 3, at_least(1), HIGH,
              "Replication factor of __transaction_state; fewer if fewer brokers are alive when it is created (Kafka refuses instead)."),
    ConfigDef("transaction.state.log.min.isr", I, 2, at_least(1), HIGH, "min.insync.replicas of __transaction_state (capped at its replication factor)."),
    ConfigDef("transaction.state.log.segment.bytes", I, 104857600, at_least(1), HIGH, "Segment size of __transaction_state."),
    ConfigDef("transaction.max.timeout.ms", I, 900000, at_least(1), HIGH, "Largest transaction timeout a producer may ask for."),
    ConfigDef("transactional.id.expiration.ms", I, 604800000, at_least(1), HIGH, "A transactional id with no activity for this long expires."),
    ConfigDef("transaction.abort.timed.out.transaction.cleanup.interval.ms", I, 10000, at_least(1), LOW, "How often timed-out transactions are aborted."),
    ConfigDef("transaction.remove.expired.transaction.cleanup.interval.ms", I, 3600000, at_least(1), LOW, "How often expired transactional ids are removed."),
    ConfigDef("producer.id.expiration.ms", I, 86400000, at_least(1), LOW, "A producer id's state expires this long after its last write.", DYN),
    ConfigDef("producer.id.expiration.check.interval.ms", I, 600000, at_least(1), LOW, "How often expired producer ids are removed."),
    # -- replication ----------------------------------------------------------------------
    ConfigDef("replica.lag.time.max.ms", L, 30000, None, HIGH, "A follower that has not caught up for this long leaves the ISR."),
    ConfigDef("replica.fetch.max.bytes", I, 1048576, at_least(0), MEDIUM, "Bytes a follower fetches per partition."),
    ConfigDef("replica.fetch.wait.max.ms", I, 500, None, MEDIUM, "Longest wait of a follower's fetch (below replica.lag.time.max.ms)."),
    ConfigDef("replica.fetch.min.bytes", I, 1, None, HIGH, "Bytes a follower's fetch waits for."),
    ConfigDef("replica.fetch.backoff.ms", I, 1000, at_least(0), MEDIUM, "Sleep of a follower after a fetch error."),
    ConfigDef("num.replica.fetchers", I, 1, None, HIGH, "Fetcher tasks per source broker.", DYN),
    ConfigDef("max.incremental.fetch.session.cache.slots", I, 1000, at_least(0), MEDIUM, "Fetch sessions (KIP-227) the broker keeps at most."),
    ConfigDef("replica.fetch.response.max.bytes", I, 10485760, at_least(0), MEDIUM, "Bytes a follower's whole fetch response may hold."),
    ConfigDef("replica.high.watermark.checkpoint.interval.ms", L, 5000, at_least(1), HIGH, "How often the high watermarks are written to each log dir's replication-offset-checkpoint."),
    ConfigDef("inter.broker.listener.name", S, None, None, MEDIUM, "Listener brokers talk to each other on (followers, markers, controlled shutdown); unset: security.inter.broker.protocol's listener if set or present, else the first listener."),
    ConfigDef("controlled.shutdown.enable", B, True, None, MEDIUM, "On a clean stop, move leadership away before closing."),
    ConfigDef("controlled.shutdown.max.retries", I, 3, None, MEDIUM, "Attempts of a controlled shutdown before stopping anyway."),
    ConfigDef("controlled.shutdown.retry.backoff.ms", L, 5000, None, MEDIUM, "Wait between controlled shutdown attempts."),
    ConfigDef("auto.leader.rebalance.enable", B, True, None, HIGH, "The controller moves leadership back to preferred replicas when a broker's imbalance is too high."),
    ConfigDef("leader.imbalance.check.interval.seconds", L, 300, at_least(1), HIGH, "How often the controller checks the leader imbalance."),
    ConfigDef("leader.imbalance.per.broker.percentage", I, 10, None, HIGH, "Share of a broker's preferred partitions led elsewhere (percent) above which leadership moves back."),
    # Kafka's DynamicConfig.Broker throttles: set at run time with kafka-configs.sh / IncrementalAlterConfigs.
    ConfigDef("leader.replication.throttled.rate", L, LONG_MAX, at_least(0), MEDIUM, "Bytes/s a leader sends to out-of-sync followers of throttled replicas (leader.replication.throttled.replicas).", DYN),
    ConfigDef("follower.replication.throttled.rate", L, LONG_MAX, at_least(0), MEDIUM, "Bytes/s a follower fetches for its out-of-sync throttled replicas (follower.replication.throttled.replicas).", DYN),
    ConfigDef("replica.alter.log.dirs.io.max.bytes.per.second", L, LONG_MAX, at_least(0), MEDIUM, "Accepted; snakafka does not move replicas between log dirs.", DYN),
    # -- cluster mode -----------------------------------------------------------------------
    ConfigDef("zookeeper.connect", S, None, None, HIGH, "ZooKeeper host:port[,...][/chroot]: brokers sharing it form a cluster; unset: a single broker with the embedded metadata store."),
    ConfigDef("zookeeper.session.timeout.ms", I, 18000, None, HIGH, "ZooKeeper session timeout."),
    ConfigDef("zookeeper.connection.timeout.ms", I, None, None, HIGH, "Longest wait to connect to ZooKeeper; unset: zookeeper.session.timeout.ms."),
    # -- authorization ----------------------------------------------------------------------
    ConfigDef("authorizer.class.name", S, "", one_of("", *AUTHORIZER_CLASSES), LOW,
              "The ACL authorizer: Kafka's AclAuthorizer or StandardAuthorizer class name (both: the same ACL rules); empty: no authorization."),
    ConfigDef("super.users", S, None, None, LOW, "Principals allowed everything, separated by semicolons (User:admin;User:broker)."),
    ConfigDef("allow.everyone.if.no.acl.found", B, False, None, LOW, "Allow any principal on a resource that no ACL applies to."),
    # -- security (config/security.py) ------------------------------------------------------
    *SECURITY_CONFIGS,
    # -- observability (snakafka's own keys: Kafka exposes JMX and configures log4j instead) --
    ConfigDef("metrics.http.listener", S, None, None, MEDIUM,
              "http://HOST:PORT serving /metrics (Prometheus text, the JMX exporter's Kafka names), /healthz and /readyz; unset: off."),
    ConfigDef("logging.format", S, "text", one_of("text", "json"), LOW, "Log lines of `snakafka serve`: text, or json (one JSON object per line)."),
])
# fmt: on

# Kafka: ^(.*)://\[?([0-9a-zA-Z\-%._:]*)\]?:(-?[0-9]+)
_HTTP_LISTENER = re.compile(r"http://\[?(?P<host>[0-9a-zA-Z\-%._:]*)\]?:(?P<port>[0-9]+)/?", re.IGNORECASE)
_LISTENER = re.compile(r"(?P<name>[^:/]*)://\[?(?P<host>[0-9a-zA-Z\-%._:]*)\]?:(?P<port>-?[0-9]+)")


@dataclass(frozen=True, slots=True)
class Listener:
    """One endpoint: `name` is the listener name (upper case), an empty host means every
    interface, port 0 means any free port (the bound one is then advertised)."""

    name: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.name}://{host}:{self.port}"


@dataclass(frozen=True)
class BrokerConfig:
    """Typed broker settings, one attribute per supported key (dots become underscores).

    Attributes hold effective values after Kafka's rules: log_retention_ms resolves
    log.retention.ms > minutes > hours (negative: -1, unlimited), log_roll_ms and
    log_flush_interval_ms fall back likewise, advertised_listeners defaults to listeners.
    `get(name)` returns a key's own parsed value as Kafka's AbstractConfig.get does (so
    get("log.retention.ms") is None when unset). Build one with `load`.
    """

    broker_id: int
    broker_id_generation_enable: bool
    reserved_broker_max_id: int
    listeners: list[Listener]
    advertised_listeners: list[Listener]
    listener_security_protocol_map: dict[str, str]
    socket_request_max_bytes: int
    queued_max_requests: int
    connections_max_idle_ms: int
    num_network_threads: int
    num_io_threads: int
    fetch_max_bytes: int
    message_max_bytes: int
    compression_type: str
    num_partitions: int
    default_replication_factor: int
    auto_create_topics_enable: bool
    delete_topic_enable: bool
    min_insync_replicas: int
    unclean_leader_election_enable: bool
    log_dirs: list[Path]
    log_dir: str
    log_segment_bytes: int
    log_roll_ms: int
    log_roll_hours: int
    log_retention_ms: int
    log_retention_minutes: int | None
    log_retention_hours: int
    log_retention_bytes: int
    log_retention_check_interval_ms: int
    log_segment_delete_delay_ms: int
    log_flush_interval_messages: int
    log_flush_interval_ms: int
    log_flush_scheduler_interval_ms: int
    log_flush_offset_checkpoint_interval_ms: int
    log_index_interval_bytes: int
    log_index_size_max_bytes: int
    log_message_timestamp_type: str
    log_message_timestamp_before_max_ms: int
    log_message_timestamp_after_max_ms: int
    log_message_timestamp_difference_max_ms: int
    log_preallocate: bool
    log_cleanup_policy: list[str]
    log_cleaner_enable: bool
    log_cleaner_threads: int
    log_cleaner_dedupe_buffer_size: int
    log_cleaner_backoff_ms: int
    log_cleaner_delete_retention_ms: int
    log_cleaner_min_cleanable_ratio: float
    log_cleaner_min_compaction_lag_ms: int
    log_cleaner_max_compaction_lag_ms: int
    offsets_topic_num_partitions: int
    offsets_topic_replication_factor: int
    offsets_topic_segment_bytes: int
    offsets_retention_minutes: int
    offsets_retention_check_interval_ms: int
    offset_metadata_max_bytes: int
    group_initial_rebalance_delay_ms: int
    group_min_session_timeout_ms: int
    group_max_session_timeout_ms: int
    group_max_size: int
    transaction_state_log_num_partitions: int
    transaction_state_log_replication_factor: int
    transaction_state_log_min_isr: int
    transaction_state_log_segment_bytes: int
    transaction_max_timeout_ms: int
    transactional_id_expiration_ms: int
    transaction_abort_timed_out_transaction_cleanup_interval_ms: int
    transaction_remove_expired_transaction_cleanup_interval_ms: int
    producer_id_expiration_ms: int
    producer_id_expiration_check_interval_ms: int
    replica_lag_time_max_ms: int
    replica_fetch_max_bytes: int
    replica_fetch_wait_max_ms: int
    replica_fetch_min_bytes: int
    replica_fetch_backoff_ms: int
    num_replica_fetchers: int
    max_incremental_fetch_session_cache_slots: int
    replica_fetch_response_max_bytes: int
    replica_high_watermark_checkpoint_interval_ms: int
    inter_broker_listener_name: str | None
    controlled_shutdown_enable: bool
    controlled_shutdown_max_retries: int
    controlled_shutdown_retry_backoff_ms: int
    auto_leader_rebalance_enable: bool
    leader_imbalance_check_interval_seconds: int
    leader_imbalance_per_broker_percentage: int
    leader_replication_throttled_rate: int
    follower_replication_throttled_rate: int
    replica_alter_log_dirs_io_max_bytes_per_second: int
    zookeeper_connect: str | None
    zookeeper_session_timeout_ms: int
    zookeeper_connection_timeout_ms: int
    authorizer_class_name: str
    super_users: str | None
    allow_everyone_if_no_acl_found: bool
    security_inter_broker_protocol: str
    sasl_mechanism_inter_broker_protocol: str
    sasl_enabled_mechanisms: list[str]
    sasl_jaas_config: Any
    sasl_server_max_receive_size: int
    connection_failed_authentication_delay_ms: int
    ssl_keystore_type: str
    ssl_keystore_location: str | None
    ssl_keystore_password: Any
    ssl_key_password: Any
    ssl_keystore_certificate_chain: Any
    ssl_keystore_key: Any
    ssl_truststore_type: str
    ssl_truststore_location: str | None
    ssl_truststore_password: Any
    ssl_truststore_certificates: Any
    ssl_client_auth: str
    ssl_principal_mapping_rules: str
    ssl_enabled_protocols: list[str]
    ssl_protocol: str
    ssl_cipher_suites: list[str]
    ssl_endpoint_identification_algorithm: str
    metrics_http_listener: str | None
    logging_format: str
    originals: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    _parsed: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # Dynamic broker configs in force (config/dynamic.py): this broker's own
    # (/config/brokers/<id>) and the cluster-wide defaults (/config/brokers/<default>).
    # `originals` keeps the static ones (file and --override) only.
    dynamic_broker: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    dynamic_default: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def load(cls, properties_file: Path | None = None, overrides: Mapping[str, str] | None = None) -> BrokerConfig:
        """Read the properties file (if any), apply overrides, parse, validate."""
        originals: dict[str, str] = {}
        if properties_file is not None:
            try:
                text = decode_properties(Path(properties_file).read_bytes())
                originals.update(parse_properties(text))
            except OSError as exc:
                raise ConfigError(f"Cannot read config file {properties_file}: {exc.strerror or exc}") from None
            except PropertiesSyntaxError as exc:
                raise ConfigError(f"Cannot parse config file {properties_file}: {exc}") from None
        originals.update(overrides or {})
        parsed = {name: d.parse(originals[name]) if name in originals else d.default for name, d in BROKER_CONFIGS.items()}
        for key in sorted(k for k in set(originals) - set(BROKER_CONFIGS) if not is_listener_key(k)):
            log.warning("The configuration '%s' was supplied but isn't a known config.", key)
        values = {name.replace(".", "_"): value for name, value in parsed.items()}
        values.update(_effective(parsed))
        config = cls(**values, originals=dict(originals), _parsed=parsed)
        config._validate()
        return config

    def get(self, name: str) -> Any:
        """The parsed value of one key (None for an unset key whose Kafka default is null)."""
        try:
            return self._parsed[name]
        except KeyError:
            raise ConfigError(f"Unknown configuration '{name}'") from None

    def is_set(self, name: str) -> bool:
        """Whether the file or an override gave this key (DescribeConfigs' STATIC_BROKER_CONFIG)."""
        return name in self.originals

    @property
    def unused(self) -> list[str]:
        """Supplied keys snakafka does not know (kept, as Kafka keeps them)."""
        return sorted(k for k in set(self.originals) - set(BROKER_CONFIGS) if not is_listener_key(k))

    def listener_security(self, listener: str) -> ListenerSecurity:
        """A listener's security settings, listener.name.<listener>.* overrides applied."""
        return ListenerSecurity.resolve(listener, self.listener_security_protocol_map[listener], self.originals, self._parsed)

    @property
    def inter_broker_listener(self) -> str:
        """Kafka's inter-broker listener: inter.broker.listener.name, else the listener named
        by security.inter.broker.protocol when set (or present), else the first listener."""
        if self.inter_broker_listener_name:
            return self.inter_broker_listener_name
        names = [x.name for x in self.listeners]
        if self.is_set("security.inter.broker.protocol") or self.security_inter_broker_protocol in names:
            return self.security_inter_broker_protocol
        return names[0]

    def describe_value(self, name: str) -> str | None:
        """A key's parsed value as DescribeConfigs text (passwords included: callers hide them)."""
        return BROKER_CONFIGS[name].to_text(self.get(name))

    def require_single_broker(self) -> None:
        """Refuse, with Kafka's kind of message, the settings that need cluster mode, for a
        broker that runs only alone (EmbeddedBroker): it would otherwise start as something else."""
        if self.zookeeper_connect:
            raise ConfigError(
                "Invalid value for configuration zookeeper.connect: an embedded broker runs alone; "
                "unset it, or run brokers with `snakafka serve` to form a cluster"
            )
        self.require_broker_id()

    def require_broker_id(self) -> None:
        """broker.id -1 asks Kafka to generate an id (from ZooKeeper's /brokers/seqid),
        which snakafka does not do: refuse it in one line rather than start without an id."""
        if self.broker_id < 0:
            if self.zookeeper_connect:
                raise ConfigError("Invalid value -1 for configuration broker.id: broker id generation is not "
                                  "implemented yet; set broker.id to a number >= 0")
            raise ConfigError("Invalid value -1 for configuration broker.id: broker id generation needs cluster mode")

    def log_all(self) -> None:
        """Log every key's value at start-up, as Kafka's "KafkaConfig values:" block does."""
        lines = [f"\t{name} = {'[hidden]' if d.is_sensitive and self.get(name) is not None else d.to_text(self.get(name))}"
                 for name, d in sorted(BROKER_CONFIGS.items())]
        log.info("BrokerConfig values:\n%s", "\n".join(lines))

    def log_config(self) -> LogConfig:
        """The broker's log.* settings as the LogConfig every topic starts from."""
        return LogConfig(
            segment_bytes=self.log_segment_bytes,
            segment_ms=self.log_roll_ms,
            segment_index_bytes=self.log_index_size_max_bytes,
            index_interval_bytes=self.log_index_interval_bytes,
            retention_ms=self.log_retention_ms,
            retention_bytes=self.log_retention_bytes,
            max_message_bytes=self.message_max_bytes,
            message_timestamp_type=self.log_message_timestamp_type,
            message_timestamp_before_max_ms=self.log_message_timestamp_before_max_ms,
            message_timestamp_after_max_ms=self.log_message_timestamp_after_max_ms,
            message_timestamp_difference_max_ms=self.log_message_timestamp_difference_max_ms,
            cleanup_policy=tuple(self.log_cleanup_policy),
            flush_messages=self.log_flush_interval_messages,
            flush_ms=self.log_flush_interval_ms,
            delete_retention_ms=self.log_cleaner_delete_retention_ms,
            min_cleanable_dirty_ratio=self.log_cleaner_min_cleanable_ratio,
            min_compaction_lag_ms=self.log_cleaner_min_compaction_lag_ms,
            file_delete_delay_ms=self.log_segment_delete_delay_ms,
            min_insync_replicas=self.min_insync_replicas,
            compression_type=self.compression_type,
        )

    def _validate(self) -> None:
        """Cross-key rules Kafka checks in KafkaConfig.validateValues."""
        if not self.log_dirs:
            raise ConfigError("Invalid configuration log.dirs: At least one log directory must be defined via log.dirs or log.dir")
        if self.log_roll_ms < 1:
            raise ConfigError.invalid("log.roll.ms", self.log_roll_ms, "must be greater than or equal to 1")
        if self.log_retention_ms != -1 and self.log_retention_ms < 1:
            raise ConfigError.invalid(_retention_key(self.originals), self.log_retention_ms,
                                      "log.retention.ms must be unlimited (-1) or, equal or greater than 1")
        for principal in (self.super_users or "").split(";"):
            if principal.strip() and not re.fullmatch(r"[^:]+:.+", principal.strip()):
                raise ConfigError.invalid("super.users", self.super_users,
                                          f"expected a string in format principalType:principalName but got {principal.strip()}")
        if self.group_min_session_timeout_ms > self.group_max_session_timeout_ms:
            raise ConfigError.invalid("group.min.session.timeout.ms", self.group_min_session_timeout_ms,
                                      "must not exceed group.max.session.timeout.ms")
        if self.broker_id > self.reserved_broker_max_id:
            raise ConfigError.invalid("broker.id", self.broker_id, f"must be at most reserved.broker.max.id ({self.reserved_broker_max_id})")
        if self.broker_id == -1 and not self.broker_id_generation_enable:
            raise ConfigError.invalid("broker.id", -1, "a generated broker id needs broker.id.generation.enable=true")
        for key, listeners in (("listeners", self.listeners), ("advertised.listeners", self.advertised_listeners)):
            _check_listeners(key, listeners, self.listener_security_protocol_map)
        names = {x.name for x in self.listeners}
        unknown = [x.name for x in self.advertised_listeners if x.name not in names]
        if unknown:
            raise ConfigError.invalid("advertised.listeners", ",".join(str(x) for x in self.advertised_listeners),
                                      "advertised.listeners listener names must be equal to or a subset of the "
                                      f"ones defined in listeners (not in listeners: {', '.join(unknown)})")
        if self.inter_broker_listener_name and self.is_set("security.inter.broker.protocol"):
            raise ConfigError("Only one of inter.broker.listener.name and security.inter.broker.protocol should be set.")
        if self.inter_broker_listener not in names:
            raise ConfigError.invalid("inter.broker.listener.name", self.inter_broker_listener,
                                      "inter.broker.listener.name must be a listener name defined in listeners")
        for listener in self.listeners:
            self.listener_security(listener.name)  # raises on a bad per-listener setting
        if self.metrics_http_listener is not None:
            parse_http_listener(self.metrics_http_listener)
        for listener in self.advertised_listeners:
            if listener.host == "0.0.0.0":
                raise ConfigError.invalid("advertised.listeners", listener,
                                          "advertised.listeners cannot use the nonroutable meta-address 0.0.0.0. Use a routable IP address.")


def _effective(parsed: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes whose value another key can decide (Kafka's fallbacks and precedence)."""
    listeners = _parse_listeners("listeners", parsed["listeners"])
    advertised_raw = parsed["advertised.listeners"]
    if advertised_raw is not None:
        advertised = _parse_listeners("advertised.listeners", advertised_raw)
    else:  # Kafka advertises the canonical host name for a listener bound to every interface
        advertised = [Listener(x.name, x.host or socket.getfqdn(), x.port) for x in listeners]
    retention = parsed["log.retention.ms"]
    if retention is None:
        minutes = parsed["log.retention.minutes"]
        retention = minutes * MINUTE_MS if minutes is not None else parsed["log.retention.hours"] * HOUR_MS
    roll_ms = parsed["log.roll.ms"]
    flush_ms = parsed["log.flush.interval.ms"]
    zk_connection = parsed["zookeeper.connection.timeout.ms"]
    dirs = parsed["log.dirs"] if parsed["log.dirs"] is not None else [parsed["log.dir"]]
    return {
        "listeners": listeners,
        "advertised_listeners": advertised,
        "listener_security_protocol_map": _parse_protocol_map(parsed["listener.security.protocol.map"]),
        "log_dirs": [Path(d) for d in dirs if d],
        "log_retention_ms": -1 if retention < 0 else retention,
        "log_roll_ms": roll_ms if roll_ms is not None else parsed["log.roll.hours"] * HOUR_MS,
        "log_flush_interval_ms": flush_ms if flush_ms is not None else parsed["log.flush.scheduler.interval.ms"],
        "zookeeper_connection_timeout_ms": zk_connection if zk_connection is not None else parsed["zookeeper.session.timeout.ms"],
    }


def parse_http_listener(value: str) -> tuple[str, int]:
    """metrics.http.listener's http://HOST:PORT as (host, port): an empty host binds every
    interface, port 0 any free one. Anything else is a ConfigError naming the key."""
    m = _HTTP_LISTENER.fullmatch(value.strip())
    if m is None or not 0 <= int(m["port"]) <= 65535:
        raise ConfigError.invalid("metrics.http.listener", value, "expected http://HOST:PORT")
    return m["host"], int(m["port"])


def _retention_key(originals: Mapping[str, str]) -> str:
    """The key that decided log.retention.ms, so its error names what the user wrote."""
    for key in ("log.retention.ms", "log.retention.minutes", "log.retention.hours"):
        if key in originals:
            return key
    return "log.retention.hours"


def _parse_listeners(key: str, values: list[str]) -> list[Listener]:
    result = []
    for value in values:
        m = _LISTENER.fullmatch(value)
        if m is None or not m["name"] or not 0 <= int(m["port"]) <= 65535:
            raise ConfigError.invalid(key, ",".join(values), f"Unable to parse {value} to a broker endpoint")
        result.append(Listener(m["name"].upper(), m["host"], int(m["port"])))
    return result


def _parse_protocol_map(text: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for entry in (e.strip() for e in text.split(",") if e.strip()):
        name, sep, protocol = entry.partition(":")
        if not sep or not name.strip() or protocol.strip().upper() not in SECURITY_PROTOCOLS:
            raise ConfigError.invalid("listener.security.protocol.map", text,
                                      f"Map entry '{entry}' is improperly formatted; expected NAME:PROTOCOL with PROTOCOL one of {', '.join(SECURITY_PROTOCOLS)}")
        mapping[name.strip().upper()] = protocol.strip().upper()
    return mapping


def _check_listeners(key: str, listeners: list[Listener], protocols: Mapping[str, str]) -> None:
    text = ",".join(str(x) for x in listeners)
    if not listeners:
        raise ConfigError.invalid(key, "", "at least one listener is needed")
    names = [x.name for x in listeners]
    if len(set(names)) != len(names):
        raise ConfigError.invalid(key, text, f"Each listener must have a different name, listeners: {text}")
    if key == "listeners":
        ports = [x.port for x in listeners if x.port != 0]
        if len(set(ports)) != len(ports):
            raise ConfigError.invalid(key, text, f"Each listener must have a different port, listeners: {text}")
    for listener in listeners:
        protocol = protocols.get(listener.name)
        if protocol is None:
            raise ConfigError.invalid(key, text, f"No security protocol defined for listener {listener.name}")
        if protocol not in SUPPORTED_SECURITY_PROTOCOLS:
            raise ConfigError.invalid(key, text, f"security protocol {protocol} of listener {listener.name} is not supported")


def _check_fields_match_table() -> None:
    """Every key in the table has its attribute and vice versa: a typo fails at import."""
    attributes = {f.name for f in fields(BrokerConfig)} - {"originals", "_parsed", "dynamic_broker", "dynamic_default"}
    keys = {name.replace(".", "_") for name in BROKER_CONFIGS}
    if attributes != keys:
        raise AssertionError(f"BrokerConfig attributes and BROKER_CONFIGS differ: {sorted(attributes ^ keys)}")


_check_fields_match_table()

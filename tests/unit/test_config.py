"""Broker and topic configuration: defaults, precedence, .properties syntax, errors, describe."""

from __future__ import annotations

import logging
import re
import socket
from dataclasses import fields
from pathlib import Path

import pytest

from snakafka.config.broker import BROKER_CONFIGS, BrokerConfig, ConfigError, Listener
from snakafka.config.definitions import (
    LONG_MAX,
    ConfigDef,
    ConfigType,
    Importance,
    Password,
)
from snakafka.config.properties import PropertiesSyntaxError, parse_properties
from snakafka.config.topic import (
    DEFAULT_CONFIG,
    DYNAMIC_TOPIC_CONFIG,
    STATIC_BROKER_CONFIG,
    TOPIC_CONFIGS,
    TopicConfigError,
    describe_broker_configs,
    describe_topic_configs,
    log_config_for,
    validate_topic_configs,
)
from snakafka.log.log_config import LogConfig

HOUR_MS = 3_600_000


def load(**overrides: str) -> BrokerConfig:
    """BrokerConfig from overrides given as python names (log_retention_ms -> log.retention.ms)."""
    return BrokerConfig.load(None, {k.replace("_", "."): v for k, v in overrides.items()})


# -- defaults -----------------------------------------------------------------------------


def test_defaults_follow_kafka_with_snakafka_single_broker_choices() -> None:
    c = BrokerConfig.load()
    assert c.broker_id == 0
    assert c.listeners == [Listener("PLAINTEXT", "127.0.0.1", 9092)]
    assert c.advertised_listeners == c.listeners
    assert c.log_dirs == [Path("./snakafka-data")]
    assert (c.num_partitions, c.default_replication_factor, c.min_insync_replicas) == (1, 1, 1)
    assert c.auto_create_topics_enable and c.delete_topic_enable
    assert c.log_segment_bytes == 1073741824
    assert c.log_roll_ms == 168 * HOUR_MS and c.log_roll_hours == 168
    assert c.log_retention_ms == 168 * HOUR_MS and c.log_retention_hours == 168 and c.log_retention_minutes is None
    assert c.log_retention_bytes == -1
    assert c.log_retention_check_interval_ms == 300000
    assert c.log_flush_interval_messages == LONG_MAX
    assert c.log_flush_interval_ms == c.log_flush_scheduler_interval_ms == LONG_MAX
    assert c.log_flush_offset_checkpoint_interval_ms == 60000
    assert (c.log_index_interval_bytes, c.log_index_size_max_bytes) == (4096, 10485760)
    assert c.log_message_timestamp_type == "CreateTime"
    assert c.message_max_bytes == 1048588 and c.socket_request_max_bytes == 104857600
    assert c.log_cleanup_policy == ["delete"] and c.log_cleaner_enable
    assert (c.log_cleaner_backoff_ms, c.log_cleaner_delete_retention_ms) == (15000, 86400000)
    assert c.log_cleaner_min_cleanable_ratio == 0.5 and c.log_cleaner_min_compaction_lag_ms == 0
    assert (c.offsets_topic_num_partitions, c.offsets_topic_replication_factor) == (50, 3)
    assert c.offsets_topic_segment_bytes == 104857600
    assert (c.offsets_retention_minutes, c.offsets_retention_check_interval_ms) == (10080, 600000)
    assert c.offset_metadata_max_bytes == 4096
    assert c.group_initial_rebalance_delay_ms == 3000
    assert (c.group_min_session_timeout_ms, c.group_max_session_timeout_ms) == (6000, 1800000)
    assert c.group_max_size == 2**31 - 1
    assert c.replica_lag_time_max_ms == 30000 and not c.unclean_leader_election_enable
    assert c.zookeeper_connect is None
    assert c.zookeeper_session_timeout_ms == c.zookeeper_connection_timeout_ms == 18000
    assert c.controlled_shutdown_enable
    assert (c.controlled_shutdown_max_retries, c.controlled_shutdown_retry_backoff_ms) == (3, 5000)
    assert c.auto_leader_rebalance_enable
    assert (c.leader_imbalance_check_interval_seconds, c.leader_imbalance_per_broker_percentage) == (300, 10)
    assert (c.transaction_state_log_num_partitions, c.transaction_state_log_replication_factor) == (50, 3)
    assert c.transaction_state_log_min_isr == 2
    assert c.transaction_max_timeout_ms == 900000
    assert c.transactional_id_expiration_ms == 604800000 and c.producer_id_expiration_ms == 86400000
    assert (c.num_network_threads, c.num_io_threads) == (3, 8)
    assert c.fetch_max_bytes == 57671680 and c.queued_max_requests == 500
    assert c.originals == {} and c.unused == []


def test_every_key_has_a_typed_attribute_and_a_doc() -> None:
    attributes = {f.name for f in fields(BrokerConfig)} - {"originals", "_parsed", "dynamic_broker", "dynamic_default"}
    assert attributes == {name.replace(".", "_") for name in BROKER_CONFIGS}
    assert all(d.doc and "\n" not in d.doc for d in BROKER_CONFIGS.values())
    assert "single broker" in BROKER_CONFIGS["zookeeper.connect"].doc
    assert "fewer brokers are alive" in BROKER_CONFIGS["offsets.topic.replication.factor"].doc
    assert "ignored" in BROKER_CONFIGS["num.io.threads"].doc


def test_broker_id_minus_one_is_accepted() -> None:
    assert load(broker_id="-1").broker_id == -1


# -- precedence and fallbacks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"log.retention.hours": "1"}, HOUR_MS),
        ({"log.retention.minutes": "30"}, 30 * 60_000),
        ({"log.retention.ms": "1234"}, 1234),
        ({"log.retention.minutes": "30", "log.retention.hours": "1"}, 30 * 60_000),
        ({"log.retention.ms": "1234", "log.retention.minutes": "30", "log.retention.hours": "1"}, 1234),
        ({"log.retention.ms": "-1"}, -1),
        ({"log.retention.ms": "-5"}, -1),
        ({"log.retention.minutes": "-1", "log.retention.hours": "1"}, -1),
        ({"log.retention.hours": "-1"}, -1),
    ],
)
def test_retention_precedence_ms_over_minutes_over_hours(overrides: dict[str, str], expected: int) -> None:
    c = BrokerConfig.load(None, overrides)
    assert c.log_retention_ms == expected
    assert c.log_config().retention_ms == expected


def test_retention_zero_is_refused_naming_the_key_that_set_it() -> None:
    with pytest.raises(ConfigError, match=r"configuration log\.retention\.minutes: .*unlimited \(-1\)"):
        load(log_retention_minutes="0")


def test_get_returns_the_key_own_value_as_kafka_does() -> None:
    c = load(log_retention_hours="2")
    assert c.get("log.retention.ms") is None
    assert c.get("log.retention.hours") == 2
    assert c.log_retention_ms == 2 * HOUR_MS
    with pytest.raises(ConfigError, match="Unknown configuration 'no.such.key'"):
        c.get("no.such.key")


def test_roll_flush_and_zookeeper_fallbacks() -> None:
    assert load(log_roll_hours="2").log_roll_ms == 2 * HOUR_MS
    assert load(log_roll_ms="500", log_roll_hours="2").log_roll_ms == 500
    assert load(log_flush_scheduler_interval_ms="700").log_flush_interval_ms == 700
    assert load(log_flush_interval_ms="50", log_flush_scheduler_interval_ms="700").log_flush_interval_ms == 50
    assert load(zookeeper_session_timeout_ms="9000").zookeeper_connection_timeout_ms == 9000


def test_log_dirs_wins_over_log_dir() -> None:
    assert load(log_dir="/a").log_dirs == [Path("/a")]
    assert BrokerConfig.load(None, {"log.dir": "/a", "log.dirs": "/b, /c"}).log_dirs == [Path("/b"), Path("/c")]


def test_listeners_and_advertised_listeners() -> None:
    c = BrokerConfig.load(None, {"listeners": "plaintext://[::1]:0"})
    assert c.listeners == [Listener("PLAINTEXT", "::1", 0)]
    assert str(c.listeners[0]) == "PLAINTEXT://[::1]:0"
    c = BrokerConfig.load(None, {"listeners": "PLAINTEXT://:9093"})
    assert c.listeners[0].host == ""  # every interface
    assert c.advertised_listeners == [Listener("PLAINTEXT", socket.getfqdn(), 9093)]
    c = BrokerConfig.load(None, {"listeners": "PLAINTEXT://0.0.0.0:9093", "advertised.listeners": "PLAINTEXT://kafka.example:9093"})
    assert c.advertised_listeners == [Listener("PLAINTEXT", "kafka.example", 9093)]
    c = BrokerConfig.load(None, {"listeners": "CLIENTS://127.0.0.1:9093", "listener.security.protocol.map": "CLIENTS:PLAINTEXT"})
    assert c.listeners[0].name == "CLIENTS" and c.listener_security_protocol_map == {"CLIENTS": "PLAINTEXT"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"listeners": "127.0.0.1:9092"}, "configuration listeners: Unable to parse 127.0.0.1:9092 to a broker endpoint"),
        ({"listeners": "PLAINTEXT://h:99999"}, "configuration listeners: Unable to parse"),
        ({"listeners": "PLAINTEXT://0.0.0.0:9092"}, "configuration advertised.listeners: .*nonroutable meta-address 0.0.0.0"),
        ({"listeners": "SSL://127.0.0.1:9093"}, "listener SSL: an SSL listener needs a key store"),
        ({"listeners": "OTHER://127.0.0.1:9093"}, "configuration listeners: No security protocol defined for listener OTHER"),
        ({"listeners": "PLAINTEXT://a:1,PLAINTEXT://b:2"}, "configuration listeners: Each listener must have a different name"),
        ({"listeners": "A://a:1,B://b:1", "listener.security.protocol.map": "A:PLAINTEXT,B:PLAINTEXT"},
         "configuration listeners: Each listener must have a different port"),
        ({"listener.security.protocol.map": "A=PLAINTEXT"}, "configuration listener.security.protocol.map: Map entry 'A=PLAINTEXT'"),
        ({"listeners": "PLAINTEXT://a:1", "advertised.listeners": "PLAINTEXT://a:1,OTHER://b:2",
          "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT"},
         "configuration advertised.listeners: .*subset of the ones defined in listeners \\(not in listeners: OTHER\\)"),
    ],
)
def test_bad_listeners(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BrokerConfig.load(None, overrides)


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("num.partitions", "abc", "Invalid value abc for configuration num.partitions: Not a number of type INT"),
        ("num.partitions", "0", "Invalid value 0 for configuration num.partitions: Value must be at least 1"),
        ("num.partitions", "1.5", "Invalid value 1.5 for configuration num.partitions: Not a number of type INT"),
        ("num.partitions", "1_000", "Invalid value 1_000 for configuration num.partitions: Not a number of type INT"),
        ("num.partitions", "2147483648", "Invalid value 2147483648 for configuration num.partitions: Not a number of type INT"),
        ("log.retention.bytes", "", "Invalid value  for configuration log.retention.bytes: Not a number of type LONG"),
        ("offsets.topic.replication.factor", "40000", "Not a number of type SHORT"),
        ("auto.create.topics.enable", "yes", "Invalid value yes for configuration auto.create.topics.enable: Expected value to be either true or false"),
        ("log.cleaner.min.cleanable.ratio", "1.5", "Invalid value 1.5 for configuration log.cleaner.min.cleanable.ratio: Value must be no more than 1"),
        ("log.cleaner.min.cleanable.ratio", "half", "Not a number of type DOUBLE"),
        ("log.cleanup.policy", "delete,shred", "Invalid value delete,shred for configuration log.cleanup.policy: String must be one of: compact, delete"),
        ("log.message.timestamp.type", "Now", "String must be one of: CreateTime, LogAppendTime"),
        ("log.segment.bytes", "13", "Value must be at least 14"),
        ("num.partitions", "a\nb", r"Invalid value a\\nb for configuration num.partitions"),
    ],
)
def test_bad_values_give_one_line_naming_the_key(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        BrokerConfig.load(None, {key: value})
    text = str(info.value)
    assert "\n" not in text and key in text
    if message.startswith("Invalid value") and "\\" not in message:
        assert text == message
    else:
        assert re.search(message, text), text


def test_values_are_trimmed_and_parsed_like_kafka() -> None:
    c = BrokerConfig.load(None, {"num.partitions": " 3 ", "auto.create.topics.enable": "FALSE",
                                 "log.cleaner.min.cleanable.ratio": ".25", "log.cleanup.policy": "compact , delete"})
    assert c.num_partitions == 3 and c.auto_create_topics_enable is False
    assert c.log_cleaner_min_cleanable_ratio == 0.25
    assert c.log_cleanup_policy == ["compact", "delete"]


def test_config_def_types() -> None:
    secret = ConfigDef("ssl.key.password", ConfigType.PASSWORD, None, None, Importance.HIGH, "A secret.")
    parsed = secret.parse(" s3cret ")
    assert isinstance(parsed, Password) and parsed.value == "s3cret"
    assert "s3cret" not in repr(parsed) and str(parsed) == "[hidden]" and secret.is_sensitive
    ratio = ConfigDef("r", ConfigType.DOUBLE, 1.0, None, Importance.LOW, "r")
    assert ratio.parse("1e3") == 1000.0 and ratio.parse("2d") == 2.0 and ratio.to_text(1.0) == "1.0"
    assert ConfigType.BOOLEAN.id == 1 and ConfigType.LONG.id == 5 and ConfigType.PASSWORD.id == 9
    with pytest.raises(ValueError, match="default of bad is invalid"):
        ConfigDef("bad", ConfigType.INT, 0, BROKER_CONFIGS["num.partitions"].validator, Importance.LOW, "bad")


def test_cross_key_rules() -> None:
    with pytest.raises(ConfigError, match="group.min.session.timeout.ms"):
        load(group_min_session_timeout_ms="10", group_max_session_timeout_ms="5")
    with pytest.raises(ConfigError, match="log.roll.ms"):
        load(log_roll_ms="0")
    with pytest.raises(ConfigError, match="log.dirs"):
        BrokerConfig.load(None, {"log.dirs": " , "})


# -- properties files --------------------------------------------------------------------------


def test_properties_syntax() -> None:
    text = (
        "# a comment\n"
        "! another comment\n"
        "   \n"
        "a=1\n"
        "b : 2\n"
        "c 3\n"
        "d\t=\t  4 and more  \n"
        "e = x=y:z\n"
        "f\n"
        "g=one, \\\n"
        "    two, \\\n"
        "    three\n"
        "h\\ key\\=x = v\n"
        "i = tab\\tnew\\nline \\u00e9 \\\\\n"
        "j = ends with two backslashes \\\\\\\\\n"
        "k = ok\n"
        "# comment ending in backslash \\\n"
        "l = not swallowed\n"
        "a = last wins\r\n"
        "m = \\uD83D\\uDE00\r"
        "n = end\\"
    )
    props = parse_properties(text)
    assert props == {
        "a": "last wins",
        "b": "2",
        "c": "3",
        "d": "4 and more  ",
        "e": "x=y:z",
        "f": "",
        "g": "one, two, three",
        "h key=x": "v",
        "i": "tab\tnew\nline \u00e9 \\",
        "j": "ends with two backslashes \\\\",
        "k": "ok",
        "l": "not swallowed",
        "m": "\U0001F600",
        "n": "end",
    }


def test_malformed_unicode_escape() -> None:
    with pytest.raises(PropertiesSyntaxError, match="Malformed"):
        parse_properties("a = \\u12G4")


def test_load_file_overrides_and_unused_keys(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "server.properties"
    path.write_text("num.partitions=3\nlog.dirs=/data/one,/data/two\nmy.custom.key=kept\n# log.retention.hours=1\n")
    with caplog.at_level(logging.WARNING, logger="snakafka.config"):
        c = BrokerConfig.load(path, {"num.partitions": "5"})
    assert c.num_partitions == 5  # overrides win over the file
    assert c.log_dirs == [Path("/data/one"), Path("/data/two")]
    assert c.originals["my.custom.key"] == "kept" and c.unused == ["my.custom.key"]
    assert "The configuration 'my.custom.key' was supplied but isn't a known config." in caplog.text
    assert c.log_retention_hours == 168


def test_load_file_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Cannot read config file .*missing.properties"):
        BrokerConfig.load(tmp_path / "missing.properties")
    bad = tmp_path / "bad.properties"
    bad.write_text("a = \\uZZZZ\n")
    with pytest.raises(ConfigError, match="Cannot parse config file .*Malformed"):
        BrokerConfig.load(bad)
    latin = tmp_path / "latin.properties"
    latin.write_bytes("my.key=caf\xe9\n".encode("iso-8859-1"))
    assert BrokerConfig.load(latin).originals["my.key"] == "café"


# -- broker LogConfig --------------------------------------------------------------------------


def test_broker_log_config_maps_log_keys() -> None:
    c = BrokerConfig.load(None, {
        "log.segment.bytes": "1000", "log.roll.ms": "60000", "log.index.size.max.bytes": "4096",
        "log.index.interval.bytes": "100", "log.retention.minutes": "5", "log.retention.bytes": "10000",
        "message.max.bytes": "2000", "log.message.timestamp.type": "LogAppendTime", "log.cleanup.policy": "compact",
        "log.flush.interval.messages": "10", "log.flush.interval.ms": "20", "log.cleaner.delete.retention.ms": "30",
        "log.cleaner.min.cleanable.ratio": "0.1", "log.cleaner.min.compaction.lag.ms": "40",
        "log.segment.delete.delay.ms": "50", "min.insync.replicas": "2",
    })
    assert c.log_config() == LogConfig(
        segment_bytes=1000, segment_ms=60000, segment_index_bytes=4096, index_interval_bytes=100,
        retention_ms=300000, retention_bytes=10000, max_message_bytes=2000, message_timestamp_type="LogAppendTime",
        cleanup_policy=("compact",), flush_messages=10, flush_ms=20, delete_retention_ms=30,
        min_cleanable_dirty_ratio=0.1, min_compaction_lag_ms=40, file_delete_delay_ms=50, min_insync_replicas=2,
    )


def test_default_broker_log_config_is_kafka_topic_defaults() -> None:
    c = BrokerConfig.load()
    base = c.log_config()
    for entry in TOPIC_CONFIGS.values():
        if entry.log_field is not None:
            value = getattr(base, entry.log_field)
            default = entry.definition.default
            assert value == (tuple(default) if isinstance(default, list) else default), entry.name


# -- topic configs -----------------------------------------------------------------------------


def test_every_topic_synonym_is_a_broker_key() -> None:
    for entry in TOPIC_CONFIGS.values():
        assert all(s in BROKER_CONFIGS for s in entry.synonyms), entry.name
        assert entry.log_field is None or entry.log_field in {f.name for f in fields(LogConfig)}


def test_validate_topic_configs() -> None:
    validate_topic_configs({"retention.ms": "-1", "cleanup.policy": "compact,delete", "max.message.bytes": "10"})
    validate_topic_configs({})
    cases: list[tuple[dict[str, str | None], str, str]] = [
        ({"retention.ms": "soon"}, "retention.ms", "Invalid value soon for configuration retention.ms: Not a number of type LONG"),
        ({"retention.ms": "-2"}, "retention.ms", "Invalid value -2 for configuration retention.ms: Value must be at least -1"),
        ({"cleanup.policy": "shred"}, "cleanup.policy", "String must be one of: compact, delete"),
        ({"compression.type": "brotli"}, "compression.type", "String must be one of"),
        ({"segment.bytes": "10"}, "segment.bytes", "Value must be at least 14"),
        ({"no.such": "1"}, "no.such", "Unknown topic config name: no.such"),
        ({"retention.ms": None}, "retention.ms", "Null value not supported for topic configs: retention.ms"),
        ({"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"}, "min.compaction.lag.ms",
         "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"),
    ]
    for configs, name, message in cases:
        with pytest.raises(TopicConfigError) as info:
            validate_topic_configs(configs)
        assert info.value.name == name and message in str(info.value) and "\n" not in str(info.value)


def test_validate_topic_configs_checks_lags_against_broker_values() -> None:
    broker = load(log_cleaner_max_compaction_lag_ms="100")
    validate_topic_configs({"min.compaction.lag.ms": "200"})
    with pytest.raises(TopicConfigError, match=r"\(200\) > max.compaction.lag.ms \(100\)"):
        validate_topic_configs({"min.compaction.lag.ms": "200"}, broker)


def test_log_config_for_overrides_the_broker_settings() -> None:
    broker = load(log_retention_hours="1", log_segment_bytes="5000")
    cfg = log_config_for({"retention.ms": "1000", "cleanup.policy": "compact", "min.insync.replicas": "2",
                          "compression.type": "lz4", "unknown.key": "x"}, broker)
    assert cfg.retention_ms == 1000 and cfg.cleanup_policy == ("compact",) and cfg.min_insync_replicas == 2
    assert cfg.segment_bytes == 5000  # from the broker
    assert log_config_for({}, broker) == broker.log_config()
    assert log_config_for({}, broker).retention_ms == HOUR_MS


# -- DescribeConfigs ---------------------------------------------------------------------------


def by_name(configs: list) -> dict:
    return {c.name: c for c in configs}


def test_describe_topic_sources_and_synonyms() -> None:
    broker = load(log_retention_minutes="30")
    described = by_name(describe_topic_configs({"cleanup.policy": "compact"}, broker))
    assert set(described) == set(TOPIC_CONFIGS)

    policy = described["cleanup.policy"]
    assert (policy.value, policy.source, policy.read_only, policy.is_sensitive) == ("compact", DYNAMIC_TOPIC_CONFIG, False, False)
    assert policy.synonyms == [("cleanup.policy", "compact", DYNAMIC_TOPIC_CONFIG), ("log.cleanup.policy", "delete", DEFAULT_CONFIG)]
    assert policy.config_type == ConfigType.LIST.id and policy.documentation

    retention = described["retention.ms"]
    assert (retention.value, retention.source, retention.config_type) == (str(30 * 60_000), STATIC_BROKER_CONFIG, ConfigType.LONG.id)
    assert retention.synonyms == [("log.retention.minutes", "30", STATIC_BROKER_CONFIG), ("log.retention.hours", "168", DEFAULT_CONFIG)]

    segment = described["segment.bytes"]
    assert (segment.value, segment.source) == ("1073741824", DEFAULT_CONFIG)
    assert segment.synonyms == [("log.segment.bytes", "1073741824", DEFAULT_CONFIG)]

    max_bytes = described["max.message.bytes"]
    assert max_bytes.synonyms[0][0] == "message.max.bytes" and max_bytes.config_type == ConfigType.INT.id

    flush = described["flush.ms"]  # broker synonym log.flush.interval.ms has a null default
    assert (flush.value, flush.source, flush.synonyms) == (str(LONG_MAX), DEFAULT_CONFIG, [])


def test_describe_broker_configs() -> None:
    broker = load(num_partitions="3", log_retention_hours="2")
    described = by_name(describe_broker_configs(broker))
    assert set(described) == set(BROKER_CONFIGS)
    # read-only unless snakafka changes the key at run time (Kafka's dynamic keys but the listeners)
    assert described["num.partitions"].read_only and described["listeners"].read_only
    assert not described["log.retention.ms"].read_only and not described["leader.replication.throttled.rate"].read_only

    partitions = described["num.partitions"]
    assert (partitions.value, partitions.source, partitions.config_type) == ("3", STATIC_BROKER_CONFIG, ConfigType.INT.id)
    assert partitions.synonyms == [("num.partitions", "3", STATIC_BROKER_CONFIG), ("num.partitions", "1", DEFAULT_CONFIG)]

    retention_ms = described["log.retention.ms"]  # null when unset, as Kafka shows it
    assert (retention_ms.value, retention_ms.source) == (None, STATIC_BROKER_CONFIG)
    assert retention_ms.synonyms == [("log.retention.hours", "2", STATIC_BROKER_CONFIG), ("log.retention.hours", "168", DEFAULT_CONFIG)]

    listeners = described["listeners"]
    assert (listeners.value, listeners.source, listeners.config_type) == ("PLAINTEXT://127.0.0.1:9092", DEFAULT_CONFIG, ConfigType.LIST.id)
    assert described["zookeeper.connect"].value is None and described["zookeeper.connect"].synonyms == []
    assert described["offsets.topic.replication.factor"].config_type == ConfigType.SHORT.id

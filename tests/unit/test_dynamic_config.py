"""Dynamic broker configs: which keys may change at run time (Kafka's messages), and the
precedence of the levels (this broker's, the cluster default, the static file)."""

from __future__ import annotations

import pytest

from snakafka.config.broker import BrokerConfig
from snakafka.config.definitions import ConfigError
from snakafka.config.dynamic import validate_update, with_dynamic
from snakafka.config.topic import describe_broker_configs


def test_keys_kafka_cannot_change_at_run_time_are_refused_with_its_message() -> None:
    validate_update({"log.retention.ms": "1000", "leader.replication.throttled.rate": "10", "my.custom": "x"})
    with pytest.raises(ConfigError, match=r"^Cannot update these configs dynamically: Set\(broker.id, num.partitions\)$"):
        validate_update({"num.partitions": "3", "broker.id": "2", "log.retention.ms": "1"})
    with pytest.raises(ConfigError, match="Cannot update these configs dynamically: Set\\(listeners\\)"):
        validate_update({"listeners": "PLAINTEXT://:9093"})
    with pytest.raises(ConfigError, match="Invalid value x for configuration message.max.bytes"):
        validate_update({"message.max.bytes": "x"})


def test_levels_and_synonyms() -> None:
    static = BrokerConfig.load(None, {"log.retention.hours": "5", "message.max.bytes": "100"})
    # the cluster default overrides the file; this broker's value overrides the default
    merged = with_dynamic(static, {"log.retention.ms": "60000"}, {"log.retention.ms": "1000", "message.max.bytes": "200"})
    assert merged.log_retention_ms == 60000 and merged.message_max_bytes == 200
    assert merged.log_config().retention_ms == 60000 and merged.originals == static.originals
    # a dynamic log.retention.minutes wins over a static log.retention.hours (synonyms below it go)
    assert with_dynamic(static, {}, {"log.retention.minutes": "2"}).log_retention_ms == 120000
    # nothing dynamic: the static config's values
    assert with_dynamic(static, {}, {}).log_retention_ms == 5 * 3600 * 1000
    described = {c.name: c for c in describe_broker_configs(merged)}
    assert described["message.max.bytes"].synonyms == [
        ("message.max.bytes", "200", 3), ("message.max.bytes", "100", 4), ("message.max.bytes", "1048588", 5)]
    assert described["log.retention.ms"].synonyms[:2] == [("log.retention.ms", "60000", 2), ("log.retention.ms", "1000", 3)]
    with pytest.raises(ConfigError):  # the whole config must stay valid
        with_dynamic(static, {"log.retention.ms": "0"}, {})

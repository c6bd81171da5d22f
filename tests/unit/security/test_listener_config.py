"""Security configs with Kafka's names: per-listener overrides (listener.name.<l>.<key>,
and per mechanism for sasl.jaas.config), the inter-broker listener, and one-line refusals."""

from __future__ import annotations

import logging

import pytest

from snakafka.config.broker import BrokerConfig, ConfigError

JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_a="b";'
BASE = {"listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
        "ssl.keystore.type": "PEM", "ssl.keystore.location": "/keys/broker.pem",
        "sasl.enabled.mechanisms": "PLAIN", "sasl.jaas.config": JAAS}


def load(**extra: str) -> BrokerConfig:
    return BrokerConfig.load(overrides={**BASE, **{k.replace("__", "."): v for k, v in extra.items()}})


def test_listener_overrides_win_and_others_keep_the_broker_value() -> None:
    config = BrokerConfig.load(overrides={**BASE, "listener.name.ssl.ssl.client.auth": "required",
                                          "listener.name.sasl_ssl.sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
                                          "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": "x.Y required;"})
    assert config.listener_security("SSL").get("ssl.client.auth") == "required"
    assert config.listener_security("SASL_SSL").get("ssl.client.auth") == "none"  # Kafka's default
    sasl = config.listener_security("SASL_SSL")
    assert sasl.enabled_mechanisms == ["PLAIN", "SCRAM-SHA-512"]
    assert sasl.jaas_by_mechanism == {"PLAIN": JAAS, "SCRAM-SHA-512": "x.Y required;"}
    assert (sasl.uses_ssl, sasl.uses_sasl) == (True, True)


def test_listener_keys_are_not_reported_as_unknown(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        config = BrokerConfig.load(overrides={**BASE, "listener.name.ssl.ssl.client.auth": "requested", "bogus.key": "1"})
    assert config.unused == ["bogus.key"]
    assert "listener.name.ssl" not in caplog.text and "bogus.key" in caplog.text


def test_inter_broker_listener_follows_kafkas_rules() -> None:
    assert load().inter_broker_listener == "PLAINTEXT"  # security.inter.broker.protocol's default names a listener
    assert load(inter__broker__listener__name="SASL_SSL").inter_broker_listener == "SASL_SSL"
    assert load(security__inter__broker__protocol="SSL").inter_broker_listener == "SSL"
    with pytest.raises(ConfigError, match="Only one of inter.broker.listener.name and security.inter.broker.protocol"):
        load(inter__broker__listener__name="SSL", security__inter__broker__protocol="SSL")
    with pytest.raises(ConfigError, match="must be a listener name defined in listeners"):
        load(inter__broker__listener__name="NOPE")


@pytest.mark.parametrize(("extra", "message"), [
    ({"sasl.enabled.mechanisms": "GSSAPI"}, "SASL mechanism GSSAPI of listener SASL_SSL is not supported"),
    ({"sasl.enabled.mechanisms": ""}, "No SASL mechanisms are enabled"),
    ({"ssl.keystore.location": ""}, None),
    ({"ssl.client.auth": "always"}, "Invalid value always for configuration ssl.client.auth"),
    ({"listener.name.ssl.ssl.client.auth": "always"}, "Invalid value always for configuration ssl.client.auth"),
    ({"listeners": "FOO://127.0.0.1:0"}, "No security protocol defined for listener FOO"),
])
def test_bad_security_settings_stop_start_up_in_one_line(extra: dict[str, str], message: str | None) -> None:
    overrides = {**BASE, **extra}
    if extra.get("ssl.keystore.location") == "":
        del overrides["ssl.keystore.location"]
        message = "an SSL listener needs a key store"
    with pytest.raises(ConfigError) as failure:
        BrokerConfig.load(overrides=overrides)
    assert message is not None and message in str(failure.value)
    assert "\n" not in str(failure.value)

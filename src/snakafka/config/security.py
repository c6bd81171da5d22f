"""Security configs (TLS, SASL) with Kafka's names and defaults, and their per-listener
resolution.

Kafka lets every listener override a security key with `listener.name.<listener>.<key>`
(the listener name in lower case), and SASL's JAAS config also per mechanism:
`listener.name.<listener>.<mechanism>.sasl.jaas.config`. `ListenerSecurity.resolve` applies
those rules once per listener at start-up, so the socket server and the inter-broker
client read plain values. Pure: no I/O (the files named here are read by server/tls.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from snakafka.config.definitions import (
    ConfigDef,
    ConfigError,
    ConfigType,
    Importance,
    at_least,
    one_of,
)
from snakafka.config.definitions import Password as PasswordValue

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS_SUPPORTED = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
LISTENER_PREFIX = "listener.name."

B, S, I, L, LS, P = (ConfigType.BOOLEAN, ConfigType.STRING, ConfigType.INT, ConfigType.LONG, ConfigType.LIST,
                     ConfigType.PASSWORD)
HIGH, MEDIUM, LOW = Importance.HIGH, Importance.MEDIUM, Importance.LOW

# fmt: off
SECURITY_CONFIGS: list[ConfigDef] = [
    ConfigDef("security.inter.broker.protocol", S, "PLAINTEXT", one_of(*SECURITY_PROTOCOLS), MEDIUM,
              "Security protocol between brokers when inter.broker.listener.name is unset: the listener of that name."),
    ConfigDef("sasl.mechanism.inter.broker.protocol", S, "GSSAPI", None, MEDIUM, "SASL mechanism brokers use between themselves (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)."),
    ConfigDef("sasl.enabled.mechanisms", LS, ["GSSAPI"], None, MEDIUM, "SASL mechanisms a SASL listener offers (snakafka: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; per listener too)."),
    ConfigDef("sasl.jaas.config", P, None, None, MEDIUM, "JAAS login module of a SASL listener (PlainLoginModule user_<name>=\"pw\"; username/password for inter-broker connections); per listener and mechanism too."),
    ConfigDef("sasl.server.max.receive.size", I, 524288, at_least(1), LOW, "Largest request read before a SASL connection has authenticated (CVE-2022-34917)."),
    ConfigDef("connection.failed.authentication.delay.ms", I, 100, at_least(0), LOW, "Delay before closing a connection whose authentication failed."),
    ConfigDef("ssl.keystore.type", S, "JKS", None, MEDIUM, "Key store format: PEM or PKCS12 (JKS is not supported by snakafka)."),
    ConfigDef("ssl.keystore.location", S, None, None, HIGH, "Key store file: the broker's private key and certificate chain."),
    ConfigDef("ssl.keystore.password", P, None, None, HIGH, "Password of the key store file (PKCS12)."),
    ConfigDef("ssl.key.password", P, None, None, HIGH, "Password of the private key (PEM: an encrypted PKCS#8 key)."),
    ConfigDef("ssl.keystore.certificate.chain", P, None, None, HIGH, "Certificate chain in PEM, inline (with ssl.keystore.type=PEM)."),
    ConfigDef("ssl.keystore.key", P, None, None, HIGH, "Private key in PEM, inline (with ssl.keystore.type=PEM)."),
    ConfigDef("ssl.truststore.type", S, "JKS", None, MEDIUM, "Trust store format: PEM or PKCS12 (JKS is not supported by snakafka)."),
    ConfigDef("ssl.truststore.location", S, None, None, HIGH, "Trust store file: the CAs client (and peer broker) certificates must chain to."),
    ConfigDef("ssl.truststore.password", P, None, None, HIGH, "Password of the trust store file (PKCS12)."),
    ConfigDef("ssl.truststore.certificates", P, None, None, HIGH, "Trusted certificates in PEM, inline (with ssl.truststore.type=PEM)."),
    ConfigDef("ssl.client.auth", S, "none", one_of("required", "requested", "none"), MEDIUM,
              "Client certificates: required (mutual TLS), requested (verified if sent) or none."),
    ConfigDef("ssl.principal.mapping.rules", S, "DEFAULT", None, LOW, "Rules from a client certificate's distinguished name to a user name."),
    ConfigDef("ssl.enabled.protocols", LS, ["TLSv1.2", "TLSv1.3"], None, MEDIUM, "TLS versions allowed."),
    ConfigDef("ssl.protocol", S, "TLSv1.3", None, MEDIUM, "TLS protocol of the SSL context (the highest version inter-broker connections use)."),
    ConfigDef("ssl.cipher.suites", LS, [], None, LOW, "Cipher suites allowed (IANA or OpenSSL names; TLS 1.2 only, see README); empty: OpenSSL's defaults."),
    ConfigDef("ssl.endpoint.identification.algorithm", S, "https", None, LOW, "https: inter-broker connections check the peer's host name against its certificate; empty: no check."),
]
# fmt: on

_DEFS = {d.name: d for d in SECURITY_CONFIGS}
# Keys a listener may override with listener.name.<listener>.<key>.
LISTENER_KEYS = tuple(name for name in _DEFS if name.startswith(("ssl.", "sasl.")) and name != "sasl.mechanism.inter.broker.protocol")


def is_listener_key(key: str) -> bool:
    """Whether `key` is a listener.name.<l>.<known key> (or .<mechanism>.sasl.jaas.config) override."""
    if not key.startswith(LISTENER_PREFIX):
        return False
    rest = key[len(LISTENER_PREFIX):]
    _, _, suffix = rest.partition(".")
    return suffix in LISTENER_KEYS or suffix.endswith(".sasl.jaas.config")


@dataclass(frozen=True, slots=True)
class ListenerSecurity:
    """One listener's security settings after Kafka's override rules."""

    listener: str
    protocol: str
    values: Mapping[str, Any]  # every LISTENER_KEYS key, parsed
    jaas_by_mechanism: Mapping[str, str]  # mechanism -> JAAS text (per-mechanism, else the listener's / global)

    @property
    def uses_ssl(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def get(self, key: str) -> Any:
        value = self.values[key]
        return value.value if isinstance(value, PasswordValue) else value

    @property
    def enabled_mechanisms(self) -> list[str]:
        return list(self.get("sasl.enabled.mechanisms"))

    @classmethod
    def resolve(cls, listener: str, protocol: str, originals: Mapping[str, str], parsed: Mapping[str, Any]) -> ListenerSecurity:
        prefix = f"{LISTENER_PREFIX}{listener.lower()}."
        values: dict[str, Any] = {}
        for key in LISTENER_KEYS:
            raw = originals.get(prefix + key)
            values[key] = _DEFS[key].parse(raw) if raw is not None else parsed[key]
        jaas: dict[str, str] = {}
        default_jaas = values["sasl.jaas.config"]
        for mechanism in values["sasl.enabled.mechanisms"]:
            text = originals.get(f"{prefix}{mechanism.lower()}.sasl.jaas.config")
            if text is not None:
                jaas[mechanism] = text
            elif default_jaas is not None:
                jaas[mechanism] = default_jaas.value
        security = cls(listener, protocol, values, jaas)
        security.validate()
        return security

    def validate(self) -> None:
        """Kafka's start-up checks for this listener, as one-line ConfigErrors."""
        if self.uses_sasl:
            mechanisms = self.enabled_mechanisms
            if not mechanisms:
                raise ConfigError(f"Invalid configuration sasl.enabled.mechanisms for listener {self.listener}: "
                                  "No SASL mechanisms are enabled")
            for mechanism in mechanisms:
                if mechanism not in SASL_MECHANISMS_SUPPORTED:
                    raise ConfigError.invalid("sasl.enabled.mechanisms", ",".join(mechanisms),
                                              f"SASL mechanism {mechanism} of listener {self.listener} is not supported "
                                              f"(snakafka supports {', '.join(SASL_MECHANISMS_SUPPORTED)})")
        if self.uses_ssl:
            for key in ("ssl.keystore.type", "ssl.truststore.type"):
                if str(self.get(key)).upper() not in ("PEM", "PKCS12", "JKS"):
                    raise ConfigError.invalid(key, self.get(key), "must be PEM or PKCS12")
            if self.get("ssl.keystore.location") is None and self.get("ssl.keystore.certificate.chain") is None:
                raise ConfigError(f"Invalid configuration for listener {self.listener}: an SSL listener needs a key store "
                                  "(ssl.keystore.location, or ssl.keystore.certificate.chain and ssl.keystore.key)")

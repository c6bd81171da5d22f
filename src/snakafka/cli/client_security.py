"""Client security settings from a properties file, as Kafka's tools read --command-config.

Java client keys (security.protocol, sasl.mechanism, sasl.jaas.config with a
PlainLoginModule / ScramLoginModule username and password, ssl.truststore.* and
ssl.keystore.* in PEM or PKCS12, ssl.endpoint.identification.algorithm) and, for
convenience, librdkafka's (sasl.username, sasl.password, ssl.ca.location,
ssl.certificate.location + ssl.key.location).
"""

from __future__ import annotations

from pathlib import Path

from snakafka.client.security import PLAINTEXT, ClientSecurity
from snakafka.config.definitions import ConfigError
from snakafka.config.properties import decode_properties, parse_properties
from snakafka.config.security import (
    SECURITY_CONFIGS,
    SECURITY_PROTOCOLS,
    ListenerSecurity,
)
from snakafka.security.jaas import JaasConfigError, single_login_module
from snakafka.server.tls import client_context


def read_properties(path: Path) -> dict[str, str]:
    try:
        return dict(parse_properties(decode_properties(path.read_bytes())))
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror or exc}") from None


def client_security(props: dict[str, str]) -> ClientSecurity:
    """The ClientSecurity the properties describe; ConfigError (one line) when they do not add up."""
    protocol = props.get("security.protocol", "PLAINTEXT").upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise ConfigError.invalid("security.protocol", protocol, f"must be one of {', '.join(SECURITY_PROTOCOLS)}")
    if protocol == "PLAINTEXT":
        return PLAINTEXT
    props = dict(props)
    if "ssl.ca.location" in props:  # librdkafka's names
        props.setdefault("ssl.truststore.type", "PEM")
        props.setdefault("ssl.truststore.location", props["ssl.ca.location"])
    if "ssl.certificate.location" in props and "ssl.key.location" in props:
        props.setdefault("ssl.keystore.type", "PEM")
        props.setdefault("ssl.keystore.certificate.chain", Path(props["ssl.certificate.location"]).read_text())
        props.setdefault("ssl.keystore.key", Path(props["ssl.key.location"]).read_text())
    values = {d.name: d.parse(props[d.name]) if d.name in props else d.default for d in SECURITY_CONFIGS}
    if "ssl.truststore.location" in props and "ssl.truststore.type" not in props:
        values["ssl.truststore.type"] = "PEM" if props["ssl.truststore.location"].endswith((".pem", ".crt")) else "PKCS12"
    sec = ListenerSecurity("CLIENT", protocol, values, {})
    context = client_context(sec) if sec.uses_ssl else None
    if not sec.uses_sasl:
        return ClientSecurity(protocol, context)
    mechanism = props.get("sasl.mechanism", "GSSAPI")
    username, password = props.get("sasl.username"), props.get("sasl.password")
    if "sasl.jaas.config" in props:
        try:
            module = single_login_module(props["sasl.jaas.config"])
        except JaasConfigError as exc:
            raise ConfigError(f"Invalid value for configuration sasl.jaas.config: {exc}") from None
        username, password = module.username, module.password
    if username is None or password is None:
        raise ConfigError("Invalid configuration: SASL needs a username and a password (sasl.jaas.config)")
    return ClientSecurity(protocol, context, mechanism, username, password)

"""A secured setup for trying TLS and SASL: certificates, an admin user and the configs.

`SecureSetup(directory).create()` makes a CA, one broker certificate (127.0.0.1 and
localhost) and one client certificate, and an admin password; it writes them under
`directory` with a client.properties (Java clients' keys) and a librdkafka.config
(confluent-kafka, kcat). Brokers get a SASL_SSL listener: SCRAM-SHA-512 (the admin also
has SCRAM-SHA-256) and PLAIN with the admin in the PLAIN JAAS config, and brokers talk to
each other over it with SCRAM-SHA-512 as the admin. The admin's SCRAM credentials are
written to ZooKeeper before the brokers start, as Kafka's docs have it done with
kafka-configs.sh --zookeeper. Used by `snakafka local-cluster --secure` and by tests.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from snakafka.security.jaas import PLAIN_LOGIN_MODULE, SCRAM_LOGIN_MODULE, jaas_config
from snakafka.security.scram import ScramMechanism, generate_credential
from snakafka.testing.certs import CertificateAuthority, IdentityFiles

LISTENER = "SASL_SSL"
ITERATIONS = 8192


@dataclass
class SecureSetup:
    directory: Path
    admin_user: str = "admin"
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    broker: IdentityFiles | None = None
    client: IdentityFiles | None = None

    def create(self) -> Self:
        ca = CertificateAuthority.create("snakafka local CA")
        self.broker = ca.issue("broker", hosts=["127.0.0.1", "localhost"]).write(self.directory, "broker")
        self.client = ca.issue(self.admin_user).write(self.directory, "client")
        (self.directory / "client.properties").write_text(
            "".join(f"{k}={v}\n" for k, v in self.client_properties().items()))
        (self.directory / "librdkafka.config").write_text(
            "".join(f"{k}={v}\n" for k, v in self.librdkafka_config().items()))
        return self

    @property
    def files(self) -> IdentityFiles:
        assert self.broker is not None, "create() first"
        return self.broker

    def broker_overrides(self) -> dict[str, str]:
        scram = jaas_config(SCRAM_LOGIN_MODULE, username=self.admin_user, password=self.admin_password)
        plain = jaas_config(PLAIN_LOGIN_MODULE, **{f"user_{self.admin_user}": self.admin_password})
        return {
            "inter.broker.listener.name": LISTENER,
            "sasl.enabled.mechanisms": "SCRAM-SHA-512,SCRAM-SHA-256,PLAIN",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            f"listener.name.{LISTENER.lower()}.scram-sha-512.sasl.jaas.config": scram,
            f"listener.name.{LISTENER.lower()}.scram-sha-256.sasl.jaas.config": scram,
            f"listener.name.{LISTENER.lower()}.plain.sasl.jaas.config": plain,
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.files.pem),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.files.ca),
            "ssl.client.auth": "requested",
        }

    def scram_credentials(self) -> dict[str, str]:
        """The admin's credentials as ZooKeeper's /config/users/<admin> holds them."""
        return {m.mechanism_name: generate_credential(m, self.admin_password, ITERATIONS).to_text() for m in ScramMechanism}

    def client_properties(self) -> dict[str, str]:
        """Kafka (Java) client settings: --command-config / --producer.config files."""
        return {
            "security.protocol": LISTENER,
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.jaas.config": jaas_config(SCRAM_LOGIN_MODULE, username=self.admin_user, password=self.admin_password),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.files.ca),
        }

    def librdkafka_config(self) -> dict[str, str]:
        """confluent-kafka / kcat settings (kcat -F librdkafka.config)."""
        return {
            "security.protocol": LISTENER,
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": self.admin_user,
            "sasl.password": self.admin_password,
            "ssl.ca.location": str(self.files.ca),
        }

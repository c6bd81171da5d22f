"""An embedded broker with every security protocol, and client settings for each client.

Listeners: PLAINTEXT; SSL (client certificates requested, principal mapped from the DN
to its CN); MTLS (SSL, client certificates required); SASL_PLAINTEXT and SASL_SSL with
PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512. PLAIN users come from the JAAS config; SCRAM
users are created through the Admin API (confluent-kafka's alter_user_scram_credentials),
as an operator would.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import confluent_kafka
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from snakafka.testing import EmbeddedBroker
from snakafka.testing.certs import CertificateAuthority, IdentityFiles
from snakafka.testing.zookeeper import free_ports

LISTENERS = ("PLAINTEXT", "SSL", "MTLS", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
PLAIN_USERS = {"alice": "alice-secret", "admin": "admin-secret"}
SCRAM_USERS = {"bob": "bob-secret"}  # created with both SCRAM mechanisms
JAAS = ("org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"admin-secret\" "
        + " ".join(f'user_{u}="{p}"' for u, p in PLAIN_USERS.items()) + ";")


@dataclass
class Certs:
    broker: IdentityFiles
    client: IdentityFiles  # CN=alice, from the broker's CA
    untrusted: IdentityFiles  # from another CA
    expired: IdentityFiles  # from the broker's CA, expired yesterday


def make_certs(directory: Path) -> Certs:
    ca = CertificateAuthority.create()
    now = datetime.datetime.now(datetime.UTC)
    return Certs(
        broker=ca.issue("broker").write(directory, "broker"),
        client=ca.issue("alice").write(directory, "client"),
        untrusted=CertificateAuthority.create("another CA").issue("mallory").write(directory / "other", "untrusted"),
        expired=ca.issue("old", not_before=now - datetime.timedelta(days=30),
                         not_after=now - datetime.timedelta(days=1)).write(directory, "expired"),
    )


@dataclass
class SecureBroker:
    broker: EmbeddedBroker
    ports: dict[str, int]
    certs: Certs

    def bootstrap(self, listener: str) -> str:
        return f"127.0.0.1:{self.ports[listener]}"

    def password(self, user: str) -> str:
        return {**PLAIN_USERS, **SCRAM_USERS}[user]

    @staticmethod
    def user_for(mechanism: str) -> str:
        return "alice" if mechanism == "PLAIN" else "bob"

    def confluent(self, listener: str, mechanism: str | None = None, client_cert: bool = False,
                  user: str | None = None, password: str | None = None) -> dict[str, Any]:
        protocol = "SSL" if listener == "MTLS" else listener
        conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap(listener), "security.protocol": protocol}
        if "SSL" in protocol:
            conf["ssl.ca.location"] = str(self.certs.broker.ca)
            if client_cert:
                conf.update({"ssl.certificate.location": str(self.certs.client.cert),
                             "ssl.key.location": str(self.certs.client.key)})
        if "SASL" in protocol:
            assert mechanism is not None
            user = user or self.user_for(mechanism)
            conf.update({"sasl.mechanism": mechanism, "sasl.username": user,
                         "sasl.password": password if password is not None else self.password(user)})
        return conf

    def kafka_python(self, listener: str, mechanism: str | None = None, client_cert: bool = False) -> dict[str, Any]:
        conf: dict[str, Any] = {"bootstrap_servers": self.bootstrap(listener), "security_protocol": listener}
        if "SSL" in listener:
            conf["ssl_cafile"] = str(self.certs.broker.ca)
            if client_cert:
                conf.update({"ssl_certfile": str(self.certs.client.cert), "ssl_keyfile": str(self.certs.client.key)})
        if "SASL" in listener:
            assert mechanism is not None
            user = self.user_for(mechanism)
            conf.update({"sasl_mechanism": mechanism, "sasl_plain_username": user, "sasl_plain_password": self.password(user)})
        return conf

    def aiokafka(self, listener: str, mechanism: str | None = None, client_cert: bool = False) -> dict[str, Any]:
        from aiokafka.helpers import create_ssl_context

        conf: dict[str, Any] = {"bootstrap_servers": self.bootstrap(listener), "security_protocol": listener}
        if "SSL" in listener:
            cert = {"certfile": str(self.certs.client.cert), "keyfile": str(self.certs.client.key)} if client_cert else {}
            conf["ssl_context"] = create_ssl_context(cafile=str(self.certs.broker.ca), **cert)
        if "SASL" in listener:
            assert mechanism is not None
            user = self.user_for(mechanism)
            conf.update({"sasl_mechanism": mechanism, "sasl_plain_username": user, "sasl_plain_password": self.password(user)})
        return conf

    def kcat_args(self, listener: str, mechanism: str | None = None, client_cert: bool = False) -> list[str]:
        return [arg for key, value in self.confluent(listener, mechanism, client_cert).items() if key != "bootstrap.servers"
                for arg in ("-X", f"{key}={value}")]

    def principals(self, listener: str) -> list[str]:
        """The principals of the broker's open connections on `listener`."""

        async def read(broker: Any) -> list[str]:
            server = next(s for s in broker.servers if s.listener == listener)
            return [str(c.principal) for c in server.connections]

        return self.broker.call(read)


def overrides(ports: dict[str, int], certs: Certs) -> dict[str, str]:
    return {
        "listeners": ",".join(f"{name}://127.0.0.1:{port}" for name, port in ports.items()),
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL,MTLS:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
        "inter.broker.listener.name": "PLAINTEXT",
        "ssl.keystore.type": "PEM", "ssl.keystore.location": str(certs.broker.pem),
        "ssl.truststore.type": "PEM", "ssl.truststore.location": str(certs.broker.ca),
        "listener.name.ssl.ssl.client.auth": "requested",
        "listener.name.ssl.ssl.principal.mapping.rules": "RULE:^CN=([^,]*),.*$/$1/,DEFAULT",
        # MTLS reads its key store as PKCS12, to cover that format too
        "listener.name.mtls.ssl.client.auth": "required",
        "listener.name.mtls.ssl.keystore.type": "PKCS12", "listener.name.mtls.ssl.keystore.location": str(certs.broker.p12),
        "listener.name.mtls.ssl.keystore.password": "changeit",
        "sasl.enabled.mechanisms": ",".join(MECHANISMS),
        "listener.name.sasl_ssl.plain.sasl.jaas.config": JAAS,
        "sasl.jaas.config": JAAS,
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.num.partitions": "2",
        "connection.failed.authentication.delay.ms": "10",
    }


def create_scram_users(bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    upserts: list[Any] = [UserScramCredentialUpsertion(user, ScramCredentialInfo(mechanism, 4096), password.encode())
               for user, password in SCRAM_USERS.items()
               for mechanism in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512)]
    for future in admin.alter_user_scram_credentials(upserts).values():
        future.result(timeout=30)


@contextmanager
def secure_broker(directory: Path) -> Iterator[SecureBroker]:
    certs = make_certs(directory / "certs")
    ports = dict(zip(LISTENERS, free_ports(len(LISTENERS)), strict=True))
    with EmbeddedBroker(overrides=overrides(ports, certs)) as broker:
        create_scram_users(broker.bootstrap)
        yield SecureBroker(broker, ports, certs)


def produce(conf: dict[str, Any], topic: str, values: list[bytes]) -> None:
    producer = confluent_kafka.Producer({**conf, "acks": "all"})
    for value in values:
        producer.produce(topic, value)
    assert producer.flush(30) == 0

"""The SSL contexts of server/tls.py from every key and trust store form Kafka reads (PEM
file, inline PEM with an encrypted key, PKCS12), checked by a real TLS handshake over a
socket pair, plus the client certificate's DN as Kafka prints it and the refusals."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path
from typing import Any

import pytest

from snakafka.config.definitions import ConfigError
from snakafka.config.security import SECURITY_CONFIGS, ListenerSecurity
from snakafka.server.tls import (
    client_context,
    openssl_cipher_name,
    peer_distinguished_name,
    server_context,
)
from snakafka.testing.certs import CertificateAuthority, Identity, IdentityFiles

DEFAULTS = {d.name: d.default for d in SECURITY_CONFIGS}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Identity, IdentityFiles, IdentityFiles]:
    ca = CertificateAuthority.create()
    directory = tmp_path_factory.mktemp("pki")
    broker = ca.issue("broker")
    return broker, broker.write(directory, "broker", key_password="key-pw"), ca.issue("alice").write(directory, "client")


def listener(protocol: str = "SSL", **values: Any) -> ListenerSecurity:
    return ListenerSecurity("SSL", protocol, {**DEFAULTS, **{k.replace("_", "."): v for k, v in values.items()}}, {})


def handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> str | None:
    """A TLS handshake over a socket pair; the DN of the client's certificate as the server saw it."""
    a, b = socket.socketpair()
    result: dict[str, Any] = {}

    def serve() -> None:
        try:
            with server.wrap_socket(a, server_side=True) as tls:
                result["dn"] = peer_distinguished_name(tls)
                tls.recv(1)  # TLS 1.3 verifies the client's certificate after the client's side finished
        except (ssl.SSLError, OSError) as exc:
            result["error"] = exc

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client.wrap_socket(b, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"x")
            tls.recv(1)  # returns b"" when the server closes; raises if it refused us
    finally:
        thread.join(10)
    if "error" in result:
        raise result["error"]
    return result.get("dn")


def trusting(files: IdentityFiles, cert: IdentityFiles | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(files.ca))
    if cert is not None:
        context.load_cert_chain(str(cert.cert), str(cert.key))
    return context


def test_pem_keystore_file_with_an_encrypted_key(pki: tuple[Identity, IdentityFiles, IdentityFiles]) -> None:
    _, files, _ = pki
    server = server_context(listener(ssl_keystore_type="PEM", ssl_keystore_location=str(files.pem), ssl_key_password="key-pw"))
    assert handshake(server, trusting(files)) is None  # no client certificate asked for


def test_inline_pem_and_mutual_tls_gives_kafkas_dn(pki: tuple[Identity, IdentityFiles, IdentityFiles]) -> None:
    broker, files, client = pki
    server = server_context(listener(ssl_keystore_type="PEM", ssl_keystore_certificate_chain=broker.cert_pem,
                                     ssl_keystore_key=broker.key_pem(), ssl_truststore_type="PEM",
                                     ssl_truststore_certificates=broker.ca_pem, ssl_client_auth="required"))
    assert handshake(server, trusting(files, client)) == "CN=alice,OU=snakafka,O=snakafka"
    with pytest.raises((ssl.SSLError, OSError)):  # required: no certificate, no session
        handshake(server, trusting(files))


def test_pkcs12_key_and_trust_stores(pki: tuple[Identity, IdentityFiles, IdentityFiles]) -> None:
    _, files, client = pki
    sec = listener(ssl_keystore_type="PKCS12", ssl_keystore_location=str(files.p12), ssl_keystore_password="changeit",
                   ssl_truststore_type="PKCS12", ssl_truststore_location=str(files.p12), ssl_truststore_password="changeit",
                   ssl_client_auth="requested")
    assert handshake(server_context(sec), trusting(files, client)) == "CN=alice,OU=snakafka,O=snakafka"
    assert handshake(server_context(sec), trusting(files)) is None  # requested: a client without one is fine
    # the inter-broker client side of the same listener: verifies the broker, presents the key store
    assert handshake(server_context(sec), client_context(sec)) == "CN=broker,OU=snakafka,O=snakafka"


@pytest.mark.parametrize(("values", "message"), [
    ({"ssl_keystore_type": "JKS", "ssl_keystore_location": "x.jks"}, "Java key stores are not supported"),
    ({"ssl_keystore_type": "PEM", "ssl_keystore_location": "/nonexistent.pem"}, "cannot read it"),
    ({"ssl_keystore_type": "PKCS12", "p12": True, "ssl_keystore_password": "wrong"}, "cannot load PKCS12 key store"),
    ({"ssl_keystore_type": "PEM", "pem": True, "ssl_key_password": "wrong"}, "cannot load the private key"),
    ({"ssl_keystore_type": "PEM", "pem": True}, "cannot load the private key"),  # encrypted, no ssl.key.password
    ({"ssl_keystore_type": "PEM", "pem": True, "ssl_key_password": "key-pw", "ssl_client_auth": "required"},
     "client certificates need a trust store"),
    ({"ssl_keystore_type": "PEM", "pem": True, "ssl_key_password": "key-pw", "ssl_enabled_protocols": ["SSLv3"]},
     "ssl.enabled.protocols"),
    ({"ssl_keystore_type": "PEM", "pem": True, "ssl_key_password": "key-pw", "ssl_cipher_suites": ["TLS_NOPE_WITH_NOTHING"]},
     "ssl.cipher.suites"),
])
def test_refusals_are_one_line_config_errors(pki: tuple[Identity, IdentityFiles, IdentityFiles], values: dict[str, Any],
                                             message: str) -> None:
    _, files, _ = pki
    if values.pop("p12", False):
        values["ssl_keystore_location"] = str(files.p12)
    if values.pop("pem", False):
        values["ssl_keystore_location"] = str(files.pem)
    with pytest.raises(ConfigError, match=message) as failure:
        server_context(listener(**values))
    assert "\n" not in str(failure.value)


def test_cipher_suites_by_kafkas_names_restrict_tls_1_2(pki: tuple[Identity, IdentityFiles, IdentityFiles],
                                                        tmp_path: Path) -> None:
    assert openssl_cipher_name("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256") == "ECDHE-ECDSA-AES128-GCM-SHA256"
    assert openssl_cipher_name("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384") == "ECDHE-RSA-AES256-SHA384"
    assert openssl_cipher_name("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256") == "ECDHE-RSA-CHACHA20-POLY1305"
    _, files, _ = pki
    server = server_context(listener(ssl_keystore_type="PEM", ssl_keystore_location=str(files.pem), ssl_key_password="key-pw",
                                     ssl_enabled_protocols=["TLSv1.2"],
                                     ssl_cipher_suites=["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]))
    client = trusting(files)
    client.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")  # not the broker's one suite
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises((ssl.SSLError, OSError)):
        handshake(server, client)
    client.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
    assert handshake(server, client) is None

"""Refusals, each a clear error for the client and a broker that goes on serving others:
wrong password, unknown user, untrusted / expired / missing client certificates, a
plaintext client on a TLS port and a TLS client on a plaintext port, requests before
authentication, oversized and garbage SASL tokens, an unsupported mechanism.

The checks that could pass vacuously are shown to catch their bug: each `sabotaged`
variant switches the broker's check off (a monkeypatch of the in-process broker) and
asserts the same probe then reports the opposite.
"""

from __future__ import annotations

import logging
import struct
import time
from typing import Any

import confluent_kafka
import pytest
from confluent_kafka.admin import AdminClient
from kio.schema.api_versions.v3.request import ApiVersionsRequest
from kio.schema.errors import ErrorCode
from kio.schema.metadata.v4.request import MetadataRequest
from kio.schema.sasl_authenticate.v2.request import SaslAuthenticateRequest
from kio.schema.sasl_handshake.v0.request import (
    SaslHandshakeRequest as SaslHandshakeRequestV0,
)
from kio.schema.sasl_handshake.v1.request import SaslHandshakeRequest

from integration.helpers import ConnectionClosed, RawConnection
from integration.secure_broker import SecureBroker
from snakafka.security import plain
from snakafka.server import authentication
from snakafka.server.authentication import ListenerAuth

MAX_RECEIVE = 524288  # sasl.server.max.receive.size, Kafka's default (CVE-2022-34917)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def first_error(conf: dict[str, Any], timeout: float = 15.0) -> str:
    """Connect with confluent-kafka: "" once a metadata request succeeds, else what
    librdkafka reported (its errors, and its FAIL log lines, where the TLS errors are)."""
    errors: list[confluent_kafka.KafkaError] = []
    lines = _Lines()
    logger = logging.getLogger(f"librdkafka-probe-{time.monotonic_ns()}")
    logger.addHandler(lines)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    probe: dict[str, Any] = {**conf, "error_cb": errors.append, "logger": logger, "reconnect.backoff.ms": 500,
                             "reconnect.backoff.max.ms": 1000}
    admin = AdminClient(probe)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=0.5)
            return ""
        except confluent_kafka.KafkaException:
            admin.poll(0.1)
        if errors:
            return " | ".join([str(e) for e in errors] + lines.lines)
    raise AssertionError(f"neither a connection nor an error within {timeout}s")


def assert_serving(secure: SecureBroker) -> None:
    """Another client, on the same listener family, is served as before."""
    assert first_error(secure.confluent("SASL_SSL", "SCRAM-SHA-512")) == ""
    assert first_error(secure.confluent("SSL", client_cert=True)) == ""


@pytest.mark.parametrize(("mechanism", "user", "message"), [
    ("PLAIN", "alice", "Authentication failed: Invalid username or password"),
    ("PLAIN", "nobody", "Authentication failed: Invalid username or password"),
    ("SCRAM-SHA-256", "bob", "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256"),
    ("SCRAM-SHA-512", "nobody", "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"),
])
def test_wrong_password_and_unknown_user(secure: SecureBroker, caplog: pytest.LogCaptureFixture, mechanism: str, user: str,
                                         message: str) -> None:
    caplog.set_level(logging.INFO, logger="snakafka.server.network")
    error = first_error(secure.confluent("SASL_SSL", mechanism, user=user, password="wrong-password"))
    assert message in error, error
    failures = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Failed authentication with 127.0.0.1:")]
    assert failures and f"user {user}" in failures[0] and message in failures[0], failures
    assert_serving(secure)


def test_wrong_password_check_catches_a_broker_that_accepts_any(secure: SecureBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sabotaged: PLAIN accepts any password; the probe above then sees a working connection."""
    conf = secure.confluent("SASL_PLAINTEXT", "PLAIN", user="alice", password="wrong-password")
    monkeypatch.setattr(plain, "authenticate", lambda token, users: plain.PlainResponse.parse(token).username)
    assert first_error(conf) == ""


@pytest.mark.parametrize("cert", ["untrusted", "expired", "none"])
def test_client_certificates_refused_on_a_required_listener(secure: SecureBroker, cert: str) -> None:
    conf = secure.confluent("MTLS")
    if cert != "none":
        files = secure.certs.untrusted if cert == "untrusted" else secure.certs.expired
        conf.update({"ssl.certificate.location": str(files.cert), "ssl.key.location": str(files.key)})
    error = first_error(conf)
    # TLS 1.3: the client has finished its side of the handshake when the broker refuses
    # the certificate, so librdkafka sees the TLS session closed (as with Kafka), or, when
    # its first request (ApiVersions) reached the socket before the broker closed it, the
    # connection reset: either way the broker ended it before answering anything.
    closed = "SSL connection closed by peer" in error
    reset = "connection reset by peer" in error and "APIVERSION_QUERY" in error
    assert closed or reset, error
    assert first_error(secure.confluent("MTLS", client_cert=True)) == ""  # the CA's valid certificate
    assert_serving(secure)


def test_plaintext_client_on_a_tls_port(secure: SecureBroker) -> None:
    error = first_error({"bootstrap.servers": secure.bootstrap("SSL"), "security.protocol": "PLAINTEXT"})
    assert "connection closed by peer" in error and "APIVERSION_QUERY" in error, error
    assert_serving(secure)


def test_tls_client_on_a_plaintext_port(secure: SecureBroker) -> None:
    error = first_error({"bootstrap.servers": secure.bootstrap("PLAINTEXT"), "security.protocol": "SSL",
                         "ssl.ca.location": str(secure.certs.broker.ca)})
    assert "SSL handshake failed" in error, error
    assert_serving(secure)


def raw(secure: SecureBroker, listener: str = "SASL_PLAINTEXT") -> RawConnection:
    return RawConnection(secure.bootstrap(listener), timeout=5.0)


def request_before_authentication_is_refused(secure: SecureBroker) -> bool:
    with raw(secure) as conn:
        versions = conn.request(ApiVersionsRequest(client_software_name="it", client_software_version="1"))
        assert versions.error_code == ErrorCode.none  # ApiVersions is answered before authentication
        assert {17, 36} <= {int(k.api_key) for k in versions.api_keys}
        conn.send_raw(_encode(MetadataRequest(topics=None, allow_auto_topic_creation=False)))
        try:
            return conn.closed_by_peer()
        except AssertionError:  # it answered
            return False


def test_request_before_authentication(secure: SecureBroker) -> None:
    assert request_before_authentication_is_refused(secure)
    assert_serving(secure)


def test_request_before_authentication_check_catches_a_broker_that_answers(secure: SecureBroker,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(authentication.SaslAuthenticator, "_handshake_phase",
                        lambda self, frame: authentication.Outcome(forward=True))
    assert not request_before_authentication_is_refused(secure)


def _encode(request: Any, correlation_id: int = 99) -> bytes:
    from snakafka.protocol.codec import encode_request

    return encode_request(correlation_id, request, client_id="it")


def oversized_token_is_refused(secure: SecureBroker) -> bool:
    with raw(secure) as conn:
        assert conn.request(SaslHandshakeRequest(mechanism="PLAIN")).error_code == ErrorCode.none
        conn.send_raw(struct.pack(">i", MAX_RECEIVE + 1) + b"\0" * 1024)  # a size prefix past the bound
        return conn.closed_by_peer(timeout=3.0)


def test_oversized_sasl_token(secure: SecureBroker) -> None:
    assert oversized_token_is_refused(secure)
    # exactly at the bound the frame is read: a SaslAuthenticate with a 512 KiB garbage token is answered
    with raw(secure) as conn:
        assert conn.request(SaslHandshakeRequest(mechanism="PLAIN")).error_code == ErrorCode.none
        request = _encode(SaslAuthenticateRequest(auth_bytes=b""))
        padding = MAX_RECEIVE - (len(request) - 4) - 2  # auth_bytes: compact length varint (3 bytes) instead of 1
        frame = _encode(SaslAuthenticateRequest(auth_bytes=b"x" * padding))
        assert len(frame) - 4 == MAX_RECEIVE
        conn.send_raw(frame)
        _, body = _decode_authenticate(conn.recv_frame())
        assert body.error_code == ErrorCode.sasl_authentication_failed
        assert body.error_message == "Invalid SASL/PLAIN response: expected 3 tokens, got 1"
    assert_serving(secure)


def test_oversized_token_check_catches_a_broker_without_the_bound(secure: SecureBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ListenerAuth, "max_receive_size", property(lambda self: 100 * 1024 * 1024))
    assert not oversized_token_is_refused(secure)  # it waits for the rest of the frame instead


def _decode_authenticate(frame: bytes) -> tuple[int, Any]:
    from snakafka.protocol.codec import decode_response

    return decode_response(36, 2, frame)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_garbage_sasl_tokens(secure: SecureBroker, mechanism: str) -> None:
    with raw(secure) as conn:
        assert conn.request(SaslHandshakeRequest(mechanism=mechanism)).error_code == ErrorCode.none
        conn.send_raw(_encode(SaslAuthenticateRequest(auth_bytes=b"\xff\x00garbage,,=\x01")))
        _, body = _decode_authenticate(conn.recv_frame())
        assert body.error_code == ErrorCode.sasl_authentication_failed
        assert body.error_message
        assert conn.closed_by_peer()
    with raw(secure) as conn:  # SaslHandshake v0: raw tokens follow; garbage closes without an answer
        assert conn.request(SaslHandshakeRequestV0(mechanism=mechanism)).error_code == ErrorCode.none
        conn.send_raw(struct.pack(">i", 9) + b"\xff\x00garbage")
        assert conn.closed_by_peer()
    assert_serving(secure)


def test_raw_tokens_after_a_v0_handshake_authenticate(secure: SecureBroker) -> None:
    with raw(secure) as conn:
        assert conn.request(SaslHandshakeRequestV0(mechanism="PLAIN")).error_code == ErrorCode.none
        conn.send_raw(struct.pack(">i", 19) + b"\0alice\0alice-secret")
        assert conn.recv_frame() == b""  # PLAIN's empty server token, size-prefixed
        metadata = conn.request(MetadataRequest(topics=None, allow_auto_topic_creation=False))
        assert metadata.brokers


def test_unsupported_mechanism_and_sasl_requests_outside_authentication(secure: SecureBroker) -> None:
    with raw(secure) as conn:
        response = conn.request(SaslHandshakeRequest(mechanism="GSSAPI"))
        assert response.error_code == ErrorCode.unsupported_sasl_mechanism
        assert set(response.mechanisms) == {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}
        assert conn.closed_by_peer()
    with raw(secure, "PLAINTEXT") as conn:
        assert conn.request(SaslHandshakeRequest(mechanism="PLAIN")).error_code == ErrorCode.illegal_sasl_state
        answer = conn.request(SaslAuthenticateRequest(auth_bytes=b"x"))
        assert answer.error_code == ErrorCode.illegal_sasl_state
    # a SaslAuthenticate before any handshake closes the connection
    with pytest.raises(ConnectionClosed), raw(secure) as conn:
        conn.request(SaslAuthenticateRequest(auth_bytes=b"\0alice\0alice-secret"))
    assert_serving(secure)

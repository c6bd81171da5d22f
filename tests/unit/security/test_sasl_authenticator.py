"""The server's SASL state machine (server/authentication.py) fed frames directly, with an
in-memory credential store: the v1 flow (SaslAuthenticate) and the v0 flow (raw tokens)
for each mechanism, and Kafka's refusals, without sockets."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest
from kio.schema.api_versions.v3.request import ApiVersionsRequest
from kio.schema.errors import ErrorCode
from kio.schema.metadata.v4.request import MetadataRequest
from kio.schema.sasl_authenticate.v2.request import SaslAuthenticateRequest
from kio.schema.sasl_handshake.v0.request import SaslHandshakeRequest as HandshakeV0
from kio.schema.sasl_handshake.v1.request import SaslHandshakeRequest as HandshakeV1

from snakafka.config.security import SECURITY_CONFIGS, ListenerSecurity
from snakafka.protocol import codec
from snakafka.security import scram
from snakafka.security.principal import KafkaPrincipal
from snakafka.server.authentication import (
    AuthenticationFailed,
    ListenerAuth,
    SaslAuthenticator,
    SaslState,
)

JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";'
MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class MemoryCredentials:
    def __init__(self, users: dict[str, dict[str, str]]) -> None:
        self.users = users

    async def user_credentials(self, user: str) -> dict[str, str]:
        return dict(self.users.get(user, {}))

    async def all_user_credentials(self) -> dict[str, dict[str, str]]:
        return self.users

    async def alter_user_credentials(self, user: str, upsert: dict[str, str], delete: list[str]) -> None:
        raise NotImplementedError


def authenticator(iterations: int = 4096) -> SaslAuthenticator:
    values = {d.name: d.default for d in SECURITY_CONFIGS} | {"sasl.enabled.mechanisms": MECHANISMS}
    security = ListenerSecurity("SASL_PLAINTEXT", "SASL_PLAINTEXT", values, dict.fromkeys(MECHANISMS, JAAS))
    auth = ListenerAuth.create(security)
    auth.credentials = MemoryCredentials({"bob": {m.mechanism_name: scram.generate_credential(m, "bob-secret", iterations).to_text()
                                                  for m in scram.ScramMechanism}})
    return SaslAuthenticator(auth, "127.0.0.1:1234")


def frame(request: Any) -> bytes:
    return codec.encode_request(7, request, client_id="t")[4:]


def answer(api_key: int, version: int, data: bytes | None) -> Any:
    assert data is not None
    return codec.decode_response(api_key, version, data[4:])[1]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def client_tokens(mechanism: str, user: str, password: str) -> Any:
    """A generator: yields client tokens, is sent the server's."""
    if mechanism == "PLAIN":
        yield f"\0{user}\0{password}".encode()
        return
    m = scram.ScramMechanism.from_name(mechanism)
    assert m is not None
    client = scram.ScramClient(m, user, password)
    server_first = yield client.first()
    server_final = yield client.final(server_first)
    client.verify(server_final)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_v1_flow_authenticates_with_the_right_password(mechanism: str) -> None:
    sasl = authenticator()
    assert run(sasl.handle(frame(ApiVersionsRequest(client_software_name="t", client_software_version="1")))).forward
    handshake = answer(17, 1, run(sasl.handle(frame(HandshakeV1(mechanism=mechanism)))).respond)
    assert handshake.error_code == ErrorCode.none and list(handshake.mechanisms) == MECHANISMS
    user = "alice" if mechanism == "PLAIN" else "bob"
    tokens = client_tokens(mechanism, user, f"{user}-secret")
    token = next(tokens)
    while True:
        response = answer(36, 2, run(sasl.handle(frame(SaslAuthenticateRequest(auth_bytes=token)))).respond)
        assert response.error_code == ErrorCode.none
        try:
            token = tokens.send(bytes(response.auth_bytes))
        except StopIteration:
            break
    assert sasl.complete and sasl.principal == KafkaPrincipal("User", user)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_v0_flow_uses_raw_tokens(mechanism: str) -> None:
    sasl = authenticator()
    assert answer(17, 0, run(sasl.handle(frame(HandshakeV0(mechanism=mechanism)))).respond).error_code == ErrorCode.none
    user = "alice" if mechanism == "PLAIN" else "bob"
    tokens = client_tokens(mechanism, user, f"{user}-secret")
    token = next(tokens)
    while True:
        out = run(sasl.handle(token)).respond
        assert out is not None
        (size,) = struct.unpack(">i", out[:4])
        assert size == len(out) - 4
        try:
            token = tokens.send(out[4:])
        except StopIteration:
            break
    assert sasl.complete and str(sasl.principal) == f"User:{user}"


@pytest.mark.parametrize(("mechanism", "user", "password", "message"), [
    ("PLAIN", "alice", "nope", "Authentication failed: Invalid username or password"),
    ("SCRAM-SHA-256", "bob", "nope", "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256"),
    ("SCRAM-SHA-512", "carol", "nope", "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"),
])
def test_failures_answer_sasl_authentication_failed_with_kafkas_message(mechanism: str, user: str, password: str,
                                                                         message: str) -> None:
    sasl = authenticator()
    run(sasl.handle(frame(HandshakeV1(mechanism=mechanism))))
    tokens = client_tokens(mechanism, user, password)
    token = next(tokens)
    with pytest.raises(AuthenticationFailed) as failure:
        while True:
            response = answer(36, 2, run(sasl.handle(frame(SaslAuthenticateRequest(auth_bytes=token)))).respond)
            token = tokens.send(bytes(response.auth_bytes))
    assert str(failure.value) == message and failure.value.user == user
    refused = answer(36, 2, failure.value.response)
    assert (refused.error_code, refused.error_message) == (ErrorCode.sasl_authentication_failed, message)
    assert sasl.state is SaslState.FAILED and sasl.principal is None


def test_scram_authorization_id_must_be_the_user() -> None:
    sasl = authenticator()
    run(sasl.handle(frame(HandshakeV1(mechanism="SCRAM-SHA-256"))))
    with pytest.raises(AuthenticationFailed, match="authorization id that is different from username"):
        run(sasl.handle(frame(SaslAuthenticateRequest(auth_bytes=b"n,a=admin,n=bob,r=abcdef"))))


def test_credentials_below_the_minimum_iterations_are_refused() -> None:
    sasl = authenticator(iterations=1000)
    run(sasl.handle(frame(HandshakeV1(mechanism="SCRAM-SHA-256"))))
    with pytest.raises(AuthenticationFailed, match="invalid credentials"):
        run(sasl.handle(frame(SaslAuthenticateRequest(auth_bytes=b"n,,n=bob,r=abcdef"))))


def test_only_api_versions_and_handshake_before_authentication() -> None:
    with pytest.raises(AuthenticationFailed, match="Unexpected Kafka request of type 3 during SASL handshake"):
        run(authenticator().handle(frame(MetadataRequest(topics=None, allow_auto_topic_creation=False))))
    with pytest.raises(AuthenticationFailed, match="Unexpected Kafka request of type 36 during SASL handshake"):
        run(authenticator().handle(frame(SaslAuthenticateRequest(auth_bytes=b"x"))))
    sasl = authenticator()
    run(sasl.handle(frame(HandshakeV1(mechanism="PLAIN"))))
    with pytest.raises(AuthenticationFailed, match="Unexpected Kafka request of type 3 during SASL authentication"):
        run(sasl.handle(frame(MetadataRequest(topics=None, allow_auto_topic_creation=False))))


def test_unknown_mechanism_answers_the_enabled_ones_then_closes() -> None:
    with pytest.raises(AuthenticationFailed, match="Unsupported SASL mechanism GSSAPI") as failure:
        run(authenticator().handle(frame(HandshakeV1(mechanism="GSSAPI"))))
    response = answer(17, 1, failure.value.response)
    assert response.error_code == ErrorCode.unsupported_sasl_mechanism and list(response.mechanisms) == MECHANISMS

"""Who a connection is: the TLS client certificate and the SASL exchange, as Kafka's
SslAuthenticator and SaslServerAuthenticator decide it.

`ListenerAuth` is built once per listener from its settings (SSL context, mechanisms,
PLAIN users from the JAAS config, principal mapping rules). A connection of a SASL
listener gets a `SaslAuthenticator`, a state machine fed the connection's frames until
it has authenticated, with Kafka's rules:

- Before authentication only ApiVersions and SaslHandshake are accepted; any other
  request closes the connection (Kafka: "Unexpected Kafka request of type X during SASL
  handshake"), and frames are bounded by sasl.server.max.receive.size (512 KiB, the fix
  of CVE-2022-34917): a larger size prefix closes the connection before it is read.
- SaslHandshake v1 is followed by SaslAuthenticate requests; v0 by raw SASL tokens, each
  size-prefixed without a Kafka header, answered the same way (KIP-43 clients).
- A mechanism not enabled: UNSUPPORTED_SASL_MECHANISM with the enabled list, then close.
- A failed exchange: SASL_AUTHENTICATION_FAILED with Kafka's message (PLAIN's own, or for
  SCRAM the generic "Authentication failed during authentication due to invalid
  credentials with SASL mechanism SCRAM-SHA-256", which tells nothing about the user),
  one log line with the peer and the user name, and the connection closed after
  connection.failed.authentication.delay.ms.

The principal is User:<name> for SASL; for SSL, the client certificate's DN mapped by
ssl.principal.mapping.rules (User:ANONYMOUS without a certificate); else User:ANONYMOUS.
"""

from __future__ import annotations

import logging
import ssl
import struct
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from snakafka.cluster.store.base import ScramCredentialStore
from snakafka.config.definitions import ConfigError
from snakafka.config.security import ListenerSecurity
from snakafka.protocol import codec
from snakafka.protocol.framing import Frame
from snakafka.security.jaas import JaasConfigError, single_login_module
from snakafka.security.principal import USER_TYPE, KafkaPrincipal
from snakafka.security.ssl_principal import (
    MappingRuleError,
    Rule,
    parse_rules,
    principal_name,
)
from snakafka.server.context import build, response_module
from snakafka.server.tls import peer_distinguished_name, server_context

if TYPE_CHECKING:
    from snakafka.security import scram

log = logging.getLogger(__name__)

SASL_HANDSHAKE_KEY = 17
SASL_AUTHENTICATE_KEY = 36
_SIZE = struct.Struct(">i")


class AuthenticationFailed(Exception):
    """The connection must close; `response` (if any) is sent first."""

    def __init__(self, reason: str, response: bytes | None = None, user: str | None = None) -> None:
        super().__init__(reason)
        self.response = response
        self.user = user


@dataclass(slots=True)
class ListenerAuth:
    """A listener's authentication settings, checked and loaded at start-up."""

    security: ListenerSecurity
    credentials: ScramCredentialStore | None = None  # set once the metadata store is open
    ssl_context: ssl.SSLContext | None = None
    rules: list[Rule] = field(default_factory=list)
    plain_users: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, security: ListenerSecurity) -> ListenerAuth:
        """Check and load everything (key stores, JAAS): a ConfigError here stops start-up."""
        auth = cls(security)
        if security.uses_ssl:
            auth.ssl_context = server_context(security)
            try:
                auth.rules = parse_rules(security.get("ssl.principal.mapping.rules"))
            except MappingRuleError as exc:
                raise ConfigError.invalid("ssl.principal.mapping.rules", security.get("ssl.principal.mapping.rules"), str(exc)) from None
        if security.uses_sasl and "PLAIN" in security.enabled_mechanisms:
            text = security.jaas_by_mechanism.get("PLAIN")
            if text is None:
                raise ConfigError(f"Could not find a 'KafkaServer' or 'listener.name.{security.listener.lower()}.plain."
                                  "sasl.jaas.config' entry in the JAAS configuration (set sasl.jaas.config)")
            try:
                auth.plain_users = single_login_module(text).users
            except JaasConfigError as exc:
                raise ConfigError(f"Invalid value for configuration sasl.jaas.config of listener {security.listener}: {exc}") from None
        return auth

    @property
    def max_receive_size(self) -> int:
        return int(self.security.get("sasl.server.max.receive.size"))

    def ssl_principal(self, ssl_object: Any) -> KafkaPrincipal | None:
        """The principal of a TLS connection's client certificate; None without one.
        Raises MappingRuleError when no mapping rule applies (the connection is refused)."""
        dn = peer_distinguished_name(ssl_object)
        if dn is None:
            return None
        return KafkaPrincipal(USER_TYPE, principal_name(dn, self.rules))

    def authenticator(self, peer: str) -> SaslAuthenticator | None:
        return SaslAuthenticator(self, peer) if self.security.uses_sasl else None


class SaslState(Enum):
    HANDSHAKE = "handshake"  # ApiVersions or SaslHandshake expected
    AUTHENTICATE = "authenticate"
    COMPLETE = "complete"
    FAILED = "failed"


@dataclass(slots=True)
class Outcome:
    """What to do with one frame: `respond` with bytes, or `forward` it to the request layer (ApiVersions)."""

    respond: bytes | None = None
    forward: bool = False


class SaslAuthenticator:
    """One connection's SASL exchange. `handle(frame)` returns the Outcome, or raises
    AuthenticationFailed (the connection closes after its response)."""

    def __init__(self, auth: ListenerAuth, peer: str) -> None:
        self.auth = auth
        self.peer = peer
        self.state = SaslState.HANDSHAKE
        self.mechanism: str | None = None
        self.raw_tokens = False  # SaslHandshake v0: unframed tokens follow
        self.principal: KafkaPrincipal | None = None
        self._user: str | None = None
        self._scram: tuple[scram.ScramMechanism, scram.ClientFirst, scram.ServerFirst, scram.ScramCredential] | None = None

    @property
    def complete(self) -> bool:
        return self.state is SaslState.COMPLETE

    async def handle(self, frame: Frame) -> Outcome:
        if self.state is SaslState.HANDSHAKE:
            return self._handshake_phase(frame)
        if self.state is SaslState.AUTHENTICATE:
            if self.raw_tokens:
                token = await self._evaluate(bytes(frame), None)
                return Outcome(respond=_SIZE.pack(len(token)) + token)
            return await self._authenticate_request(frame)
        raise AuthenticationFailed(f"unexpected frame in SASL state {self.state.value}")

    def _handshake_phase(self, frame: Frame) -> Outcome:
        try:
            api_key, _ = codec.peek_api(frame)
        except codec.RequestDecodeError:
            api_key = -1
        if api_key == codec.API_VERSIONS_KEY:
            return Outcome(forward=True)
        if api_key != SASL_HANDSHAKE_KEY:
            raise AuthenticationFailed(
                f"Unexpected Kafka request of type {api_key} during SASL handshake (invalid request, potential reasons: "
                "kafka client configured with the wrong security protocol, or not a kafka client)")
        try:
            header, request = codec.decode_request(frame)
        except codec.RequestDecodeError as exc:
            raise AuthenticationFailed(str(exc)) from None
        enabled = self.auth.security.enabled_mechanisms
        schema = response_module(SASL_HANDSHAKE_KEY, header.api_version)
        ok = request.mechanism in enabled
        body = build(schema.SaslHandshakeResponse, error_code=ErrorCode.none if ok else ErrorCode.unsupported_sasl_mechanism,
                     mechanisms=tuple(enabled))
        response = codec.encode_response(SASL_HANDSHAKE_KEY, header.api_version, header.correlation_id, body)
        if not ok:
            raise AuthenticationFailed(f"Unsupported SASL mechanism {request.mechanism}", response)
        self.mechanism = request.mechanism
        self.raw_tokens = header.api_version == 0
        self.state = SaslState.AUTHENTICATE
        return Outcome(respond=response)

    async def _authenticate_request(self, frame: Frame) -> Outcome:
        try:
            header, request = codec.decode_request(frame)
        except codec.RequestDecodeError as exc:
            raise AuthenticationFailed(str(exc)) from None
        if header.api_key != SASL_AUTHENTICATE_KEY:
            raise AuthenticationFailed(f"Unexpected Kafka request of type {header.api_key} during SASL authentication.")
        schema = response_module(SASL_AUTHENTICATE_KEY, header.api_version)

        def answer(code: ErrorCode, message: str | None, token: bytes) -> bytes:
            body = build(schema.SaslAuthenticateResponse, error_code=code, error_message=message, auth_bytes=token)
            return codec.encode_response(SASL_AUTHENTICATE_KEY, header.api_version, header.correlation_id, body)

        token = await self._evaluate(bytes(request.auth_bytes), answer)
        return Outcome(respond=answer(ErrorCode.none, None, token))

    async def _evaluate(self, token: bytes, answer: Any) -> bytes:
        """One client token in, the server's token out; on failure AuthenticationFailed
        carrying the SaslAuthenticate error response (none for raw tokens, as Kafka)."""
        # imported on the first SASL token: a broker without SASL listeners never needs them
        from snakafka.security import plain, scram

        try:
            if self.mechanism == "PLAIN":
                self._complete(plain.authenticate(token, self.auth.plain_users))
                return b""
            return await self._scram_step(token)
        except (plain.PlainAuthenticationFailed, _ClientMessage) as exc:
            message = str(exc)
        except scram.ScramError as exc:
            log.debug("SCRAM failure detail from %s: %s", self.peer, exc)
            message = (f"Authentication failed during authentication due to invalid credentials with SASL mechanism "
                       f"{self.mechanism}")
        self.state = SaslState.FAILED
        user = self._user
        if user is None and self.mechanism == "PLAIN":
            parts = token.split(b"\0")
            user = parts[1].decode(errors="replace") if len(parts) == 3 else None
        response = answer(ErrorCode.sasl_authentication_failed, message, b"") if answer is not None else None
        raise AuthenticationFailed(message, response, user)

    async def _scram_step(self, token: bytes) -> bytes:
        from snakafka.security import scram  # see _evaluate

        mechanism = scram.ScramMechanism.from_name(self.mechanism or "")
        assert mechanism is not None  # enabled mechanisms are validated at start-up
        if self._scram is None:
            first = scram.ClientFirst.parse(token)
            self._user = first.username
            if first.extensions.get("tokenauth", "false").lower() == "true":
                raise scram.ScramError(f"Token Authentication failed: Invalid tokenId : {first.username}")
            store = self.auth.credentials
            assert store is not None, "the broker sets the credential store before it listens"
            text = (await store.user_credentials(first.username)).get(mechanism.mechanism_name)
            if text is None:
                raise scram.ScramError("Authentication failed: Invalid user credentials")
            if first.authorization_id and first.authorization_id != first.username:
                raise _ClientMessage("Authentication failed: Client requested an authorization id that is different from username")
            try:
                credential = scram.ScramCredential.from_text(text)
            except ValueError as exc:
                raise scram.ScramError(f"Authentication failed: Credentials could not be obtained ({exc})") from None
            if credential.iterations < scram.MIN_ITERATIONS:
                raise scram.ScramError(f"Iterations {credential.iterations} is less than the minimum {scram.MIN_ITERATIONS}")
            server_first = scram.ServerFirst(first.nonce + scram.secure_random_string(), credential.salt, credential.iterations)
            self._scram = (mechanism, first, server_first, credential)
            return server_first.to_text().encode()
        _, first, server_first, credential = self._scram
        final = scram.ClientFinal.parse(token)
        if final.nonce != server_first.nonce:
            raise scram.ScramError("Invalid client nonce in the final client message.")
        message = scram.auth_message(first, server_first, final.without_proof)
        if not scram.verify_client_proof(mechanism, credential, message, final.proof):
            raise scram.ScramError("Invalid client credentials")
        self._complete(first.username)
        return scram.server_final(mechanism, credential, message)

    def _complete(self, user: str) -> None:
        self._user = user
        self.principal = KafkaPrincipal(USER_TYPE, user)
        self.state = SaslState.COMPLETE
        log.debug("%s authenticated as %s with %s", self.peer, self.principal, self.mechanism)

    @property
    def user(self) -> str | None:
        return self._user


class _ClientMessage(Exception):
    """A SCRAM failure whose message Kafka sends as it is (SaslAuthenticationException)."""

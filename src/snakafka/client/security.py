"""How a connection of ours (inter-broker, admin CLI) secures itself: TLS and SASL.

`ClientSecurity` is the client half of a listener's security protocol: an SSL context
for SSL / SASL_SSL, and a SASL mechanism with a user name and password for SASL_PLAINTEXT /
SASL_SSL. `authenticate` runs the exchange as Kafka's SaslClientAuthenticator does with
a current broker: SaslHandshake v1, then SaslAuthenticate requests carrying the tokens.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from snakafka.client.connection import BrokerConnection


class AuthenticationError(Exception):
    """The broker refused our credentials (or spoke a mechanism we lack)."""


@dataclass(frozen=True, slots=True)
class ClientSecurity:
    protocol: str = "PLAINTEXT"
    ssl_context: ssl.SSLContext | None = None
    sasl_mechanism: str | None = None
    username: str | None = None
    password: str | None = None

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")


PLAINTEXT = ClientSecurity()


async def authenticate(conn: BrokerConnection, security: ClientSecurity) -> None:
    """The SASL exchange on a fresh connection; AuthenticationError when refused."""
    # imported here: most connections use no SASL, and these modules weigh on every broker start
    from kio.schema.errors import ErrorCode
    from kio.schema.sasl_authenticate.v2.request import SaslAuthenticateRequest
    from kio.schema.sasl_handshake.v1.request import SaslHandshakeRequest

    from snakafka.security import plain, scram

    mechanism = security.sasl_mechanism or ""
    if security.username is None or security.password is None:
        raise AuthenticationError(f"no username/password configured for SASL mechanism {mechanism}")
    handshake = await conn.send(SaslHandshakeRequest(mechanism=mechanism), timeout=30.0)
    if handshake.error_code != ErrorCode.none:
        raise AuthenticationError(f"SASL handshake failed: {handshake.error_code.name} "
                                  f"(enabled mechanisms: {', '.join(handshake.mechanisms)})")

    async def exchange(token: bytes) -> bytes:
        response = await conn.send(SaslAuthenticateRequest(auth_bytes=token), timeout=30.0)
        if response.error_code != ErrorCode.none:
            raise AuthenticationError(response.error_message or response.error_code.name)
        return bytes(response.auth_bytes)

    if mechanism == "PLAIN":
        await exchange(plain.client_token(security.username, security.password))
        return
    scram_mechanism = scram.ScramMechanism.from_name(mechanism)
    if scram_mechanism is None:
        raise AuthenticationError(f"unsupported SASL mechanism {mechanism}")
    client = scram.ScramClient(scram_mechanism, security.username, security.password)
    try:
        server_first = await exchange(client.first())
        client.verify(await exchange(client.final(server_first)))
    except scram.ScramError as exc:
        raise AuthenticationError(str(exc)) from None

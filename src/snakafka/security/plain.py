"""SASL/PLAIN (RFC 4616) on the server side, as Kafka's PlainSaslServer checks it.

The client sends "authzid NUL authcid NUL passwd" once; the broker compares the password
with the listener's JAAS entry user_<name>="<password>" (PlainServerCallbackHandler).
The messages are Kafka's, which it sends to the client as they are.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

INVALID_CREDENTIALS = "Authentication failed: Invalid username or password"


class PlainAuthenticationFailed(Exception):
    """Kafka's SaslAuthenticationException: the message goes to the client."""


@dataclass(frozen=True, slots=True)
class PlainResponse:
    authorization_id: str
    username: str
    password: str

    @classmethod
    def parse(cls, token: bytes) -> PlainResponse:
        try:
            text = token.decode("utf-8")
        except UnicodeDecodeError:
            raise PlainAuthenticationFailed("Invalid SASL/PLAIN response: not UTF-8") from None
        tokens = text.split("\0")
        if len(tokens) != 3:
            raise PlainAuthenticationFailed(f"Invalid SASL/PLAIN response: expected 3 tokens, got {len(tokens)}")
        authzid, username, password = tokens
        if not username:
            raise PlainAuthenticationFailed("Authentication failed: username not specified")
        if not password:
            raise PlainAuthenticationFailed("Authentication failed: password not specified")
        return cls(authzid, username, password)


def authenticate(token: bytes, users: Mapping[str, str]) -> str:
    """The authenticated user name, or PlainAuthenticationFailed with Kafka's message.
    `users` maps names to passwords (the JAAS user_<name> options)."""
    response = PlainResponse.parse(token)
    expected = users.get(response.username)
    # compare even for an unknown user, so timing does not tell which names exist
    ok = hmac.compare_digest((expected or "\0").encode(), response.password.encode()) and expected is not None
    if not ok:
        raise PlainAuthenticationFailed(INVALID_CREDENTIALS)
    if response.authorization_id and response.authorization_id != response.username:
        raise PlainAuthenticationFailed(
            "Authentication failed: Client requested an authorization id that is different from username")
    return response.username


def client_token(username: str, password: str) -> bytes:
    return f"\0{username}\0{password}".encode()

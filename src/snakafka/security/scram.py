"""SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka implements them.

Pure logic, both sides: the messages (client-first, server-first, client-final,
server-final) with Kafka's grammar (ScramMessages), the key derivations of Kafka's
ScramFormatter, the stored credential (salt, stored key, server key, iterations) in the
text form Kafka keeps in ZooKeeper ("salt=...,stored_key=...,server_key=...,iterations=N"),
and a client for our own inter-broker and admin connections. The server's exchange,
which needs a credential lookup between the messages, runs in server/authentication.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import Enum

MIN_ITERATIONS = 4096  # Kafka's ScramMechanism minIterations (both mechanisms)
MAX_ITERATIONS = 16384  # AlterUserScramCredentials refuses more ("Too many iterations")


class ScramMechanism(Enum):
    """Kafka's public ScramMechanism: name, hash, and the int8 type used on the wire."""

    SCRAM_SHA_256 = ("SCRAM-SHA-256", "sha256", 1)
    SCRAM_SHA_512 = ("SCRAM-SHA-512", "sha512", 2)

    def __init__(self, mechanism_name: str, hash_name: str, wire_type: int) -> None:
        self.mechanism_name = mechanism_name
        self.hash_name = hash_name
        self.wire_type = wire_type

    @classmethod
    def from_name(cls, name: str) -> ScramMechanism | None:
        return next((m for m in cls if m.mechanism_name == name), None)

    @classmethod
    def from_type(cls, wire_type: int) -> ScramMechanism | None:
        return next((m for m in cls if m.wire_type == wire_type), None)


class ScramError(Exception):
    """A malformed or wrong SCRAM message: the exchange fails (Kafka's SaslException)."""


# -- key derivation (ScramFormatter) ---------------------------------------------------------


def hi(mechanism: ScramMechanism, password: bytes, salt: bytes, iterations: int) -> bytes:
    """RFC 5802's Hi(): PBKDF2 with the mechanism's HMAC, one block."""
    return hashlib.pbkdf2_hmac(mechanism.hash_name, password, salt, iterations)


def _hmac(mechanism: ScramMechanism, key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, mechanism.hash_name).digest()


def _h(mechanism: ScramMechanism, data: bytes) -> bytes:
    return hashlib.new(mechanism.hash_name, data).digest()


def client_key(mechanism: ScramMechanism, salted_password: bytes) -> bytes:
    return _hmac(mechanism, salted_password, b"Client Key")


def stored_key(mechanism: ScramMechanism, key: bytes) -> bytes:
    return _h(mechanism, key)


def server_key(mechanism: ScramMechanism, salted_password: bytes) -> bytes:
    return _hmac(mechanism, salted_password, b"Server Key")


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def secure_random_string() -> str:
    """A nonce as Kafka makes them: 130 random bits in base 36 (printable, no commas)."""
    n = secrets.randbits(130)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


# -- the stored credential ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScramCredential:
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int

    def to_text(self) -> str:
        """Kafka's ScramCredentialUtils.credentialToString."""
        b64 = base64.b64encode
        return (f"salt={b64(self.salt).decode()},stored_key={b64(self.stored_key).decode()},"
                f"server_key={b64(self.server_key).decode()},iterations={self.iterations}")

    @classmethod
    def from_text(cls, text: str) -> ScramCredential:
        """Kafka's ScramCredentialUtils.credentialFromString; ValueError when malformed."""
        fields = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
        try:
            return cls(base64.b64decode(fields["salt"], validate=True), base64.b64decode(fields["stored_key"], validate=True),
                       base64.b64decode(fields["server_key"], validate=True), int(fields["iterations"]))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"Invalid credential: {exc}") from None


def credential_from_salted_password(mechanism: ScramMechanism, salt: bytes, salted_password: bytes,
                                    iterations: int) -> ScramCredential:
    """ScramFormatter.generateCredential(salt, saltedPassword, iterations): what the broker
    stores from an AlterUserScramCredentials upsertion (the client salted the password)."""
    return ScramCredential(salt, stored_key(mechanism, client_key(mechanism, salted_password)),
                           server_key(mechanism, salted_password), iterations)


def generate_credential(mechanism: ScramMechanism, password: str, iterations: int,
                        salt: bytes | None = None) -> ScramCredential:
    salt = salt if salt is not None else secure_random_string().encode()
    return credential_from_salted_password(mechanism, salt, hi(mechanism, password.encode(), salt, iterations), iterations)


# -- messages (ScramMessages) -------------------------------------------------------------------

_SASLNAME = r"(?:[\x01-\x2B\x2D-\x3C\x3E-\x7F]|=2C|=3D)+"
_PRINTABLE = r"[\x21-\x2B\x2D-\x7E]+"
_BASE64 = r"[A-Za-z0-9+/]*={0,2}"
_EXTENSIONS = r"(?:,[A-Za-z]+=[\x01-\x2B\x2D-\x7F]*)*"
_CLIENT_FIRST = re.compile(
    rf"n,(?:a=(?P<authzid>{_SASLNAME}))?,(?:m=[^,]*,)?n=(?P<saslname>{_SASLNAME}),r=(?P<nonce>{_PRINTABLE})"
    rf"(?P<extensions>{_EXTENSIONS})")
_SERVER_FIRST = re.compile(rf"(?:m=[^,]*,)?r=(?P<nonce>{_PRINTABLE}),s=(?P<salt>{_BASE64}),i=(?P<iterations>[0-9]+){_EXTENSIONS}")
_CLIENT_FINAL = re.compile(rf"c=(?P<channel>{_BASE64}),r=(?P<nonce>{_PRINTABLE}){_EXTENSIONS},p=(?P<proof>{_BASE64})")
_SERVER_FINAL = re.compile(rf"(?:e=(?P<error>{_PRINTABLE}))|(?:v=(?P<signature>{_BASE64})){_EXTENSIONS}")


def _text(message: bytes) -> str:
    try:
        return message.decode("utf-8")
    except UnicodeDecodeError:
        raise ScramError("Invalid SCRAM message: not UTF-8") from None


def sasl_name(username: str) -> str:
    """ScramFormatter.saslName: escape ',' and '='."""
    return username.replace("=", "=3D").replace(",", "=2C")


def username_of(name: str) -> str:
    """ScramFormatter.username: undo sasl_name; a bare '=' is refused."""
    username = name.replace("=2C", ",")
    if "=" in username.replace("=3D", ""):
        raise ScramError(f"Invalid username: {name}")
    return username.replace("=3D", "=")


@dataclass(frozen=True, slots=True)
class ClientFirst:
    username: str
    authorization_id: str
    nonce: str
    extensions: dict[str, str]
    bare: str  # client-first-message-bare, part of the AuthMessage

    @classmethod
    def parse(cls, message: bytes) -> ClientFirst:
        text = _text(message)
        m = _CLIENT_FIRST.fullmatch(text)
        if m is None:
            raise ScramError(f"Invalid SCRAM client first message format: {text[:100]!r}")
        extensions = dict(e.split("=", 1) for e in m["extensions"].split(",") if e)
        bare = text[text.index(",", 2) + 1:]  # after the gs2 header "n,[a=authzid],"
        return cls(username_of(m["saslname"]), m["authzid"] or "", m["nonce"], extensions, bare)


@dataclass(frozen=True, slots=True)
class ServerFirst:
    nonce: str  # the client's nonce followed by the server's
    salt: bytes
    iterations: int

    def to_text(self) -> str:
        return f"r={self.nonce},s={base64.b64encode(self.salt).decode()},i={self.iterations}"

    @classmethod
    def parse(cls, message: bytes) -> ServerFirst:
        text = _text(message)
        m = _SERVER_FIRST.fullmatch(text)
        if m is None:
            raise ScramError(f"Invalid SCRAM server first message format: {text[:100]!r}")
        return cls(m["nonce"], base64.b64decode(m["salt"]), int(m["iterations"]))


@dataclass(frozen=True, slots=True)
class ClientFinal:
    channel_binding: bytes
    nonce: str
    proof: bytes
    without_proof: str

    @classmethod
    def parse(cls, message: bytes) -> ClientFinal:
        text = _text(message)
        m = _CLIENT_FINAL.fullmatch(text)
        if m is None:
            raise ScramError("Invalid SCRAM client final message format")
        return cls(base64.b64decode(m["channel"]), m["nonce"], base64.b64decode(m["proof"]),
                   text[: text.rindex(",p=")])


def auth_message(first: ClientFirst | str, server_first: ServerFirst, final_without_proof: str) -> bytes:
    bare = first.bare if isinstance(first, ClientFirst) else first
    return f"{bare},{server_first.to_text()},{final_without_proof}".encode()


def client_proof(mechanism: ScramMechanism, salted_password: bytes, message: bytes) -> bytes:
    key = client_key(mechanism, salted_password)
    return _xor(key, _hmac(mechanism, stored_key(mechanism, key), message))


def server_signature(mechanism: ScramMechanism, key: bytes, message: bytes) -> bytes:
    return _hmac(mechanism, key, message)


def verify_client_proof(mechanism: ScramMechanism, credential: ScramCredential, message: bytes, proof: bytes) -> bool:
    """ScramSaslServer.verifyClientProof: H(proof XOR ClientSignature) must be the stored key."""
    signature = _hmac(mechanism, credential.stored_key, message)
    if len(proof) != len(signature):
        return False
    return hmac.compare_digest(stored_key(mechanism, _xor(signature, proof)), credential.stored_key)


def server_final(mechanism: ScramMechanism, credential: ScramCredential, message: bytes) -> bytes:
    return b"v=" + base64.b64encode(server_signature(mechanism, credential.server_key, message))


# -- the client side ------------------------------------------------------------------------------


class ScramClient:
    """One SCRAM exchange from the client side: first() -> final(server_first) -> verify(server_final)."""

    def __init__(self, mechanism: ScramMechanism, username: str, password: str, nonce: str | None = None) -> None:
        self.mechanism = mechanism
        self.password = password
        self.nonce = nonce or secure_random_string()
        self.bare = f"n={sasl_name(username)},r={self.nonce}"
        self._expected_signature = b""

    def first(self) -> bytes:
        return f"n,,{self.bare}".encode()

    def final(self, server_first_message: bytes) -> bytes:
        server_first = ServerFirst.parse(server_first_message)
        if not server_first.nonce.startswith(self.nonce) or server_first.nonce == self.nonce:
            raise ScramError("Invalid server nonce: does not start with client nonce")
        if server_first.iterations < MIN_ITERATIONS:
            raise ScramError(f"Requested iterations {server_first.iterations} is less than the minimum "
                             f"{MIN_ITERATIONS} for {self.mechanism.mechanism_name}")
        salted = hi(self.mechanism, self.password.encode(), server_first.salt, server_first.iterations)
        without_proof = f"c={base64.b64encode(b'n,,').decode()},r={server_first.nonce}"
        message = auth_message(self.bare, server_first, without_proof)
        self._expected_signature = server_signature(self.mechanism, server_key(self.mechanism, salted), message)
        proof = client_proof(self.mechanism, salted, message)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify(self, server_final_message: bytes) -> None:
        text = _text(server_final_message)
        m = _SERVER_FINAL.fullmatch(text)
        if m is None:
            raise ScramError("Invalid SCRAM server final message format")
        if m["error"] is not None:
            raise ScramError(f"Sasl authentication using {self.mechanism.mechanism_name} failed with error: {m['error']}")
        if not hmac.compare_digest(base64.b64decode(m["signature"]), self._expected_signature):
            raise ScramError("Invalid server signature in server final message")

"""TLS contexts from Kafka's ssl.* settings, for listeners and for inter-broker clients.

Key stores: PEM (ssl.keystore.type=PEM, either a file at ssl.keystore.location holding
the private key and the certificate chain, or the inline ssl.keystore.certificate.chain
and ssl.keystore.key; ssl.key.password for an encrypted key) or PKCS12 (a file, with
ssl.keystore.password), read with the `cryptography` library. Trust stores: PEM (file or
inline ssl.truststore.certificates) or PKCS12. Java's JKS is not readable here: such a
setting stops start-up with one line saying so.

Python's ssl module can only load a key and chain from files, so PKCS12 and inline PEM
material is written to a private temporary file for the moment of loading and removed.
"""

from __future__ import annotations

import os
import re
import ssl
import tempfile
from pathlib import Path
from typing import Any

from snakafka.config.definitions import ConfigError
from snakafka.config.security import ListenerSecurity

_VERSIONS = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1, "TLSv1.2": ssl.TLSVersion.TLSv1_2,
             "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_KX = {"ECDHE_RSA": "ECDHE-RSA-", "ECDHE_ECDSA": "ECDHE-ECDSA-", "DHE_RSA": "DHE-RSA-", "RSA": ""}
_CIPHER = re.compile(r"(AES)_(128|256)_(GCM|CBC|CCM)|(CHACHA20_POLY1305)")


def _read(path: str, key: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"Invalid value {path} for configuration {key}: cannot read it ({exc.strerror or exc})") from None


def _password(sec: ListenerSecurity, key: str) -> bytes | None:
    value = sec.get(key)
    return value.encode() if value else None


def _refuse_jks(kind: str, key: str) -> None:
    if kind == "JKS":
        raise ConfigError(f"Invalid value JKS for configuration {key}: Java key stores are not supported; "
                          "use PEM or PKCS12")


def key_material(sec: ListenerSecurity) -> tuple[bytes, bytes, bytes | None] | None:
    """(certificate chain PEM, private key PEM, key password) of the listener's key store, or None."""
    kind = str(sec.get("ssl.keystore.type")).upper()
    location, chain, key = sec.get("ssl.keystore.location"), sec.get("ssl.keystore.certificate.chain"), sec.get("ssl.keystore.key")
    if location is None and chain is None:
        return None
    if kind == "PEM":
        if chain is not None:
            if key is None:
                raise ConfigError("Invalid configuration ssl.keystore.key: required with ssl.keystore.certificate.chain")
            return chain.encode(), key.encode(), _password(sec, "ssl.key.password")
        data = _read(location, "ssl.keystore.location")
        return data, data, _password(sec, "ssl.key.password")
    if chain is not None:
        raise ConfigError(f"Invalid value {kind} for configuration ssl.keystore.type: inline certificates need PEM")
    _refuse_jks(kind, "ssl.keystore.type")
    # cryptography is imported where used: its import (~35 ms) would weigh on every broker start
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        loaded = pkcs12.load_key_and_certificates(_read(location, "ssl.keystore.location"),
                                                  _password(sec, "ssl.keystore.password"))
    except ValueError as exc:
        raise ConfigError(f"Invalid configuration ssl.keystore.location: cannot load PKCS12 key store {location}: {exc}") from None
    private_key, cert, extra = loaded
    if private_key is None or cert is None:
        raise ConfigError(f"Invalid configuration ssl.keystore.location: {location} holds no private key and certificate")
    pem = serialization.Encoding.PEM
    chain_pem = b"".join(c.public_bytes(pem) for c in [cert, *extra])
    key_pem = private_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return chain_pem, key_pem, None


def trusted_certificates(sec: ListenerSecurity) -> bytes | None:
    """The trust store's certificates as PEM text, or None (no trust store configured)."""
    kind = str(sec.get("ssl.truststore.type")).upper()
    location, inline = sec.get("ssl.truststore.location"), sec.get("ssl.truststore.certificates")
    if inline is not None:
        return str(inline).encode()
    if location is None:
        return None
    if kind == "PEM":
        return _read(location, "ssl.truststore.location")
    _refuse_jks(kind, "ssl.truststore.type")
    # where used, see key_material
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        store = pkcs12.load_pkcs12(_read(location, "ssl.truststore.location"), _password(sec, "ssl.truststore.password"))
    except ValueError as exc:
        raise ConfigError(f"Invalid configuration ssl.truststore.location: cannot load PKCS12 trust store {location}: {exc}") from None
    certs = ([store.cert.certificate] if store.cert else []) + [c.certificate for c in store.additional_certs]
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _load_chain(context: ssl.SSLContext, material: tuple[bytes, bytes, bytes | None]) -> None:
    chain, key, password = material
    with tempfile.TemporaryDirectory(prefix="snakafka-tls-") as tmp:
        path = os.path.join(tmp, "keystore.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key if key is chain else key + b"\n" + chain)
        try:  # without a password, an encrypted key fails here instead of OpenSSL prompting on a terminal
            context.load_cert_chain(path, password=password if password is not None else (lambda: b""))
        except (ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ConfigError(f"Invalid key store: cannot load the private key and certificate chain ({reason}); "
                              "is ssl.key.password right?") from None


def openssl_cipher_name(name: str) -> str:
    """An IANA/Java suite name (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) as OpenSSL's
    (ECDHE-RSA-AES128-GCM-SHA256); OpenSSL names pass through."""
    if not name.startswith("TLS_") or "_WITH_" not in name:
        return name
    kx, _, rest = name[4:].partition("_WITH_")
    m = _CIPHER.match(rest)
    if kx not in _KX or m is None:
        return name
    mac = rest[m.end() + 1:]
    if m.group(4):
        return f"{_KX[kx]}CHACHA20-POLY1305"
    bits, mode = m.group(2), m.group(3)
    if mode == "CBC":
        return f"{_KX[kx]}AES{bits}-{'SHA' if mac == 'SHA' else mac}"
    return f"{_KX[kx]}AES{bits}-{mode}-{mac}"


def _apply_protocols_and_ciphers(context: ssl.SSLContext, sec: ListenerSecurity) -> None:
    versions = [_VERSIONS.get(v) for v in sec.get("ssl.enabled.protocols")]
    if not versions or None in versions:
        raise ConfigError.invalid("ssl.enabled.protocols", ",".join(sec.get("ssl.enabled.protocols")),
                                  f"each must be one of {', '.join(_VERSIONS)}")
    known = [v for v in versions if v is not None]
    context.minimum_version = min(known)
    context.maximum_version = max(known)
    suites = [s for s in sec.get("ssl.cipher.suites") if not s.startswith("TLS_AES_") and not s.startswith("TLS_CHACHA20_")]
    if suites:
        try:
            context.set_ciphers(":".join(openssl_cipher_name(s) for s in suites))
        except ssl.SSLError:
            raise ConfigError.invalid("ssl.cipher.suites", ",".join(sec.get("ssl.cipher.suites")),
                                      "none of these cipher suites is known to OpenSSL") from None


def server_context(sec: ListenerSecurity) -> ssl.SSLContext:
    """The SSL context of an SSL or SASL_SSL listener."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    material = key_material(sec)
    if material is None:
        raise ConfigError(f"Invalid configuration for listener {sec.listener}: an SSL listener needs a key store")
    _load_chain(context, material)
    client_auth = sec.get("ssl.client.auth")
    context.verify_mode = {"required": ssl.CERT_REQUIRED, "requested": ssl.CERT_OPTIONAL}.get(client_auth, ssl.CERT_NONE)
    trusted = trusted_certificates(sec)
    if trusted is not None:
        context.load_verify_locations(cadata=trusted.decode())
    elif client_auth != "none":
        raise ConfigError(f"Invalid configuration ssl.client.auth={client_auth} for listener {sec.listener}: "
                          "client certificates need a trust store (ssl.truststore.location or ssl.truststore.certificates)")
    _apply_protocols_and_ciphers(context, sec)
    return context


def client_context(sec: ListenerSecurity) -> ssl.SSLContext:
    """An inter-broker client's context for a listener: the listener's trust store to verify
    the peer broker, its key store as the client certificate, host name checks unless
    ssl.endpoint.identification.algorithm is empty."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    trusted = trusted_certificates(sec)
    if trusted is not None:
        context.load_verify_locations(cadata=trusted.decode())
    else:
        context.load_default_certs()
    material = key_material(sec)
    if material is not None:
        _load_chain(context, material)
    context.check_hostname = bool(sec.get("ssl.endpoint.identification.algorithm"))
    _apply_protocols_and_ciphers(context, sec)
    return context


def peer_distinguished_name(ssl_object: Any) -> str | None:
    """The verified client certificate's subject in RFC 2253 form (Java's
    X500Principal.getName()), or None when the client sent no certificate."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    from cryptography import x509  # where used, see key_material

    return x509.load_der_x509_certificate(der).subject.rfc4514_string()

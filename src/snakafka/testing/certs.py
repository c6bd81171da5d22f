"""Certificates for trying and testing TLS: a CA, broker and client certificates, written
as the files Kafka's ssl.* settings name (PEM and PKCS12), made with `cryptography`.

    ca = CertificateAuthority.create()
    broker = ca.issue("broker", hosts=["127.0.0.1", "localhost"])
    files = broker.write(tmp_path, "broker")   # .key .crt .pem (key + chain) .p12, and ca.crt
    expired = ca.issue("old-client", not_after=datetime.now(UTC) - timedelta(days=1))

EC P-256 keys: quick to make, which matters in a test suite; every client here
(librdkafka, kafka-python, aiokafka) speaks ECDSA. Validity is one year by default.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PEM = serialization.Encoding.PEM
_DAY = datetime.timedelta(days=1)


def _name(common_name: str, organization: str) -> x509.Name:
    """Most general first in the certificate, so the RFC 2253 form (reversed) reads
    "CN=<name>,OU=snakafka,O=<organization>", as keytool's -dname would make it."""
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "snakafka"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey, password: str | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption())
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, encryption)


@dataclass(frozen=True, slots=True)
class IdentityFiles:
    """Where one identity was written."""

    key: Path  # private key, PEM (PKCS#8; encrypted when a key password was given)
    cert: Path  # certificate chain, PEM
    pem: Path  # key and chain in one file: ssl.keystore.type=PEM with ssl.keystore.location
    p12: Path  # PKCS12 key store (password: the one given to write, else "changeit")
    ca: Path  # the issuing CA's certificate, PEM: a trust store


@dataclass(frozen=True, slots=True)
class Identity:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    ca_cert: x509.Certificate

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(PEM).decode()

    def key_pem(self, password: str | None = None) -> str:
        return _key_pem(self.key, password).decode()

    @property
    def ca_pem(self) -> str:
        return self.ca_cert.public_bytes(PEM).decode()

    def write(self, directory: Path, name: str, password: str = "changeit", key_password: str | None = None) -> IdentityFiles:
        directory.mkdir(parents=True, exist_ok=True)
        files = IdentityFiles(directory / f"{name}.key", directory / f"{name}.crt", directory / f"{name}.pem",
                              directory / f"{name}.p12", directory / "ca.crt")
        key = self.key_pem(key_password)
        files.key.write_text(key)
        files.key.chmod(0o600)
        files.cert.write_text(self.cert_pem)
        files.pem.write_text(key + self.cert_pem)
        files.pem.chmod(0o600)
        files.p12.write_bytes(pkcs12.serialize_key_and_certificates(
            name.encode(), self.key, self.cert, [self.ca_cert], serialization.BestAvailableEncryption(password.encode())))
        files.ca.write_text(self.ca_pem)
        return files


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, name: str = "snakafka test CA") -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        subject = _name(name, "snakafka")
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - _DAY)
                .not_valid_after(now + 3650 * _DAY)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        return cls(key, cert)

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(PEM).decode()

    def issue(self, common_name: str, hosts: Sequence[str] = ("127.0.0.1", "localhost"),
              not_before: datetime.datetime | None = None, not_after: datetime.datetime | None = None,
              organization: str = "snakafka") -> Identity:
        """A certificate for a server and a client (both extended key usages), valid for
        `hosts` (IP addresses and DNS names)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        sans: list[x509.GeneralName] = []
        for host in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        builder = (x509.CertificateBuilder().subject_name(_name(common_name, organization)).issuer_name(self.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(not_before or now - _DAY).not_valid_after(not_after or now + 365 * _DAY)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                                  critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return Identity(key, builder.sign(self.key, hashes.SHA256()), self.cert)

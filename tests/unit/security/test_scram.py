"""SCRAM (RFC 5802 / RFC 7677) as Kafka implements it: the RFC 7677 test vector, Kafka's
stored credential text, and client/server exchanges over random credentials."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snakafka.security import scram
from snakafka.security.scram import ScramMechanism

SHA256 = ScramMechanism.SCRAM_SHA_256
# RFC 7677 section 3
RFC_CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_FIRST = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
RFC_CLIENT_FINAL = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_client_side_of_the_rfc_7677_example() -> None:
    client = scram.ScramClient(SHA256, "user", "pencil", nonce=RFC_CLIENT_NONCE)
    assert client.first() == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    assert client.final(RFC_SERVER_FIRST) == RFC_CLIENT_FINAL
    client.verify(RFC_SERVER_FINAL)  # no exception: the server proved it knows the credential
    with pytest.raises(scram.ScramError, match="Invalid server signature"):
        client.verify(b"v=" + base64.b64encode(b"\0" * 32))


def test_server_side_of_the_rfc_7677_example() -> None:
    credential = scram.generate_credential(SHA256, "pencil", 4096, salt=base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="))
    first = scram.ClientFirst.parse(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    assert (first.username, first.nonce, first.bare) == ("user", RFC_CLIENT_NONCE, "n=user,r=rOprNGfwEbeRWgbNEkqO")
    server_first = scram.ServerFirst.parse(RFC_SERVER_FIRST)
    assert server_first.to_text().encode() == RFC_SERVER_FIRST
    final = scram.ClientFinal.parse(RFC_CLIENT_FINAL)
    message = scram.auth_message(first, server_first, final.without_proof)
    assert scram.verify_client_proof(SHA256, credential, message, final.proof)
    assert scram.server_final(SHA256, credential, message) == RFC_SERVER_FINAL
    wrong = scram.generate_credential(SHA256, "pencil2", 4096, salt=credential.salt)
    assert not scram.verify_client_proof(SHA256, wrong, message, final.proof)


def test_credential_text_is_kafkas() -> None:
    credential = scram.ScramCredential(b"salt", b"stored", b"server", 8192)
    text = credential.to_text()
    assert text == "salt=c2FsdA==,stored_key=c3RvcmVk,server_key=c2VydmVy,iterations=8192"
    assert scram.ScramCredential.from_text(text) == credential
    with pytest.raises(ValueError):
        scram.ScramCredential.from_text("salt=c2FsdA==,iterations=8192")


@pytest.mark.parametrize("message", [b"", b"y,,n=user,r=abc", b"n,,n=,r=abc", b"n,,n=us=er,r=abc", b"n,,r=abc", b"\xff\xfe"])
def test_malformed_client_first_messages_are_refused(message: bytes) -> None:
    with pytest.raises(scram.ScramError):
        scram.ClientFirst.parse(message)


def test_names_with_commas_and_equals_are_escaped() -> None:
    assert scram.sasl_name("a,b=c") == "a=2Cb=3Dc"
    assert scram.ClientFirst.parse(b"n,,n=a=2Cb=3Dc,r=xyz").username == "a,b=c"
    first = scram.ClientFirst.parse(b"n,a=alice,n=alice,r=xyz,tokenauth=true")
    assert (first.authorization_id, first.extensions, first.bare) == ("alice", {"tokenauth": "true"}, "n=alice,r=xyz,tokenauth=true")


def _exchange(mechanism: ScramMechanism, user: str, password: str, stored_password: str) -> bool:
    """A whole exchange through the public functions, as broker and client run it."""
    credential = scram.generate_credential(mechanism, stored_password, scram.MIN_ITERATIONS)
    client = scram.ScramClient(mechanism, user, password)
    first = scram.ClientFirst.parse(client.first())
    assert first.username == user
    server_first = scram.ServerFirst(first.nonce + scram.secure_random_string(), credential.salt, credential.iterations)
    final = scram.ClientFinal.parse(client.final(server_first.to_text().encode()))
    message = scram.auth_message(first, server_first, final.without_proof)
    if not scram.verify_client_proof(mechanism, credential, message, final.proof):
        return False
    client.verify(scram.server_final(mechanism, credential, message))
    return True


@settings(max_examples=10, deadline=None)  # 4096 PBKDF2 rounds each way per example
@given(mechanism=st.sampled_from(list(ScramMechanism)),
       user=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20),
       password=st.text(min_size=1, max_size=30), other=st.text(min_size=1, max_size=30))
def test_exchanges_succeed_exactly_when_the_password_matches(mechanism: ScramMechanism, user: str, password: str,
                                                             other: str) -> None:
    assert _exchange(mechanism, user, password, password)
    assert _exchange(mechanism, user, other, password) == (other == password)

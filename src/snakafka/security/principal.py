"""Kafka's principal: the authenticated identity a request is authorized as.

Kafka writes principals as "<type>:<name>" (User:alice) in ACLs, super.users and logs;
a connection that did not authenticate (a PLAINTEXT listener) is User:ANONYMOUS.
"""

from __future__ import annotations

from dataclasses import dataclass

USER_TYPE = "User"


@dataclass(frozen=True, slots=True)
class KafkaPrincipal:
    principal_type: str
    name: str

    def __str__(self) -> str:
        return f"{self.principal_type}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> KafkaPrincipal:
        """Kafka's SecurityUtils.parseKafkaPrincipal: "<type>:<name>"; ValueError otherwise."""
        principal_type, sep, name = text.partition(":")
        if not sep or not principal_type or not name:
            raise ValueError(f"expected a string in format principalType:principalName but got {text}")
        return cls(principal_type, name)


ANONYMOUS = KafkaPrincipal(USER_TYPE, "ANONYMOUS")

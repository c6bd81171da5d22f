"""JAAS login-module configuration as Kafka reads sasl.jaas.config.

    org.apache.kafka.common.security.plain.PlainLoginModule required
        username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";

Kafka's JaasConfig parses this with a StreamTokenizer: a login module class, a control
flag, then name=value options (values quoted or bare words), ending with ';'. The
broker's listener takes exactly one module. `users` are the PlainLoginModule's
user_<name> entries; `username` / `password` are the client credentials a broker uses
for its own inter-broker connections.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PLAIN_LOGIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM_LOGIN_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
_FLAGS = ("required", "requisite", "sufficient", "optional")


class JaasConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class LoginModule:
    name: str
    flag: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def username(self) -> str | None:
        return self.options.get("username")

    @property
    def password(self) -> str | None:
        return self.options.get("password")

    @property
    def users(self) -> dict[str, str]:
        """PlainLoginModule's user_<name>="<password>" entries."""
        return {k[len("user_"):]: v for k, v in self.options.items() if k.startswith("user_")}


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, value) with kind 'word', 'string' or a one-character symbol."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "=;":
            out.append((c, c))
            i += 1
        elif c in "\"'":
            j, buf = i + 1, []
            while j < n and text[j] != c:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                raise JaasConfigError("Unterminated quoted string in JAAS config")
            out.append(("string", "".join(buf)))
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in "=;\"'":
                j += 1
            out.append(("word", text[i:j]))
            i = j
    return out


def parse_jaas_config(text: str) -> list[LoginModule]:
    """Every login module of a sasl.jaas.config value; JaasConfigError when malformed."""
    tokens = _tokens(text)
    modules: list[LoginModule] = []
    i = 0
    while i < len(tokens):
        if tokens[i][0] != "word":
            raise JaasConfigError(f"Expected a login module name in JAAS config, got '{tokens[i][1]}'")
        name = tokens[i][1]
        if i + 1 >= len(tokens) or tokens[i + 1][1].lower() not in _FLAGS:
            raise JaasConfigError(f"Invalid JAAS config: control flag missing or invalid for login module {name}")
        flag = tokens[i + 1][1].lower()
        i += 2
        options: dict[str, str] = {}
        while i < len(tokens) and tokens[i][0] != ";":
            if i + 2 >= len(tokens) or tokens[i][0] != "word" or tokens[i + 1][0] != "=" or tokens[i + 2][0] not in ("word", "string"):
                raise JaasConfigError(f"Invalid JAAS config: bad option near '{tokens[i][1]}' in login module {name}")
            options[tokens[i][1]] = tokens[i + 2][1]
            i += 3
        if i >= len(tokens):
            raise JaasConfigError(f"Invalid JAAS config: login module {name} does not end with ';'")
        i += 1
        modules.append(LoginModule(name, flag, options))
    return modules


def single_login_module(text: str) -> LoginModule:
    """Kafka's check for sasl.jaas.config: exactly one login module."""
    modules = parse_jaas_config(text)
    if len(modules) != 1:
        raise JaasConfigError(f"JAAS config property contains {len(modules)} login modules, should be 1 module")
    return modules[0]


def jaas_config(module: str, **options: str) -> str:
    """Write a sasl.jaas.config value (quoted options), e.g. for generated configs."""
    opts = " ".join(f'{k}="{v}"' for k, v in options.items())
    return f"{module} required {opts};"

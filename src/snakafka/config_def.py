"""Typed config definitions with Kafka's parsing rules and error wording.

A ConfigDef knows a key's type, default, validator and doc line; `parse` turns the text
of a properties file into a typed value or raises ConfigError with one line naming the
key, as Kafka's ConfigException does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

LONG_MAX = 2**63 - 1
INT_MAX = 2**31 - 1

# DescribeConfigs config_type ids
TYPE_IDS = {"boolean": 1, "string": 2, "int": 3, "short": 4, "long": 5, "double": 6, "list": 7, "class": 8, "password": 9}


class ConfigError(Exception):
    """A bad configuration value: the message is one line naming the key."""


@dataclass(frozen=True, slots=True)
class ConfigDef:
    name: str
    type: str  # boolean, string, int, long, double, list, password
    default: Any
    doc: str
    validator: Callable[[Any], str | None] | None = None

    def parse(self, raw: Any) -> Any:
        if raw is None:
            return None
        value = raw.strip() if isinstance(raw, str) else raw
        try:
            if self.type == "boolean":
                if isinstance(value, bool):
                    parsed: Any = value
                elif value.lower() in ("true", "false"):
                    parsed = value.lower() == "true"
                else:
                    raise ValueError
            elif self.type in ("int", "long", "short"):
                parsed = int(value)
                limit = INT_MAX if self.type == "int" else LONG_MAX
                if not -limit - 1 <= parsed <= limit:
                    raise ValueError
            elif self.type == "double":
                parsed = float(value)
            elif self.type == "list":
                parsed = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else list(value)
            else:
                parsed = str(value)
        except (ValueError, AttributeError):
            kind = {"boolean": "BOOLEAN", "int": "INT", "long": "LONG", "short": "SHORT", "double": "DOUBLE"}.get(self.type, "STRING")
            what = "Expected value to be either true or false" if self.type == "boolean" else f"Not a number of type {kind}"
            raise ConfigError(f"Invalid value {raw} for configuration {self.name}: {what}") from None
        if self.validator is not None and (problem := self.validator(parsed)) is not None:
            raise ConfigError(f"Invalid value {raw} for configuration {self.name}: {problem}")
        return parsed

    def to_text(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, (list, tuple)):
            return ",".join(str(v) for v in value)
        return str(value)


def at_least(minimum: float) -> Callable[[Any], str | None]:
    return lambda v: None if v >= minimum else f"Value must be at least {minimum}"


def between(low: float, high: float) -> Callable[[Any], str | None]:
    return lambda v: None if low <= v <= high else f"Value must be in range [{low},...,{high}]"


def one_of(*choices: str) -> Callable[[Any], str | None]:
    return lambda v: None if v in choices else f"String must be one of: {', '.join(choices)}"


def each_of(*choices: str) -> Callable[[Any], str | None]:
    def check(values: Sequence[str]) -> str | None:
        bad = [v for v in values if v not in choices]
        return None if not bad else f"Invalid value(s) {bad}; allowed: {', '.join(choices)}"

    return check

"""Typed config definitions with Kafka's parsing rules and error wording.

A ConfigDef is one row of Kafka's ConfigDef table: name, type, default, validator,
importance, a doc line and whether Kafka can change it at run time. `parse` turns the
text of a properties file into a typed value, or raises ConfigError with one line naming
the key, worded as Kafka's ConfigException ("Invalid value abc for configuration
num.partitions: Not a number of type INT"), so messages a Kafka user searches for match.

Pure: no I/O, no logging; both broker and topic configs are built from these rows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

LONG_MAX = 2**63 - 1
INT_MAX = 2**31 - 1
SHORT_MAX = 2**15 - 1


class ConfigType(str, Enum):
    """Kafka's ConfigDef.Type; `id` is the DescribeConfigs v3 config_type."""

    BOOLEAN = "boolean"
    STRING = "string"
    INT = "int"
    SHORT = "short"
    LONG = "long"
    DOUBLE = "double"
    LIST = "list"
    CLASS = "class"
    PASSWORD = "password"

    @property
    def id(self) -> int:
        return _TYPE_IDS[self]


_TYPE_IDS = {t: i for i, t in enumerate(ConfigType, start=1)}
_INT_LIMITS = {ConfigType.SHORT: SHORT_MAX, ConfigType.INT: INT_MAX, ConfigType.LONG: LONG_MAX}
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DOUBLE = re.compile(r"[+-]?(NaN|Infinity|([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[fFdD]?)")
_LIST_SEPARATOR = re.compile(r"\s*,\s*")


class Importance(str, Enum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class ConfigError(Exception):
    """A bad configuration: the message is one line naming the key (Kafka's ConfigException)."""

    @classmethod
    def invalid(cls, name: str, raw: Any, problem: str | None = None) -> ConfigError:
        shown = _one_line(raw if isinstance(raw, str) else str(raw))
        return cls(f"Invalid value {shown} for configuration {name}" + (f": {problem}" if problem else ""))


def _one_line(text: str) -> str:
    """Escape line breaks so an error never spans lines, whatever the value held."""
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


@dataclass(frozen=True, slots=True)
class Password:
    """A secret value: repr and str never show it (Kafka prints [hidden])."""

    value: str

    def __str__(self) -> str:
        return "[hidden]"

    __repr__ = __str__


class Validator(Protocol):
    """Returns None when the value is fine, else Kafka's problem text; str() is the
    "Valid Values" column of Kafka's config docs."""

    def __call__(self, value: Any) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Range:
    low: float | None = None
    high: float | None = None

    def __call__(self, value: Any) -> str | None:
        if value is None:
            return "Value must be non-null"
        if self.low is not None and value < self.low:
            return f"Value must be at least {self.low}"
        if self.high is not None and value > self.high:
            return f"Value must be no more than {self.high}"
        return None

    def __str__(self) -> str:
        low = "" if self.low is None else f"{self.low},"
        high = "" if self.high is None else f",{self.high}"
        return f"[{low}...{high}]"


@dataclass(frozen=True, slots=True)
class ValidString:
    choices: tuple[str, ...]

    def __call__(self, value: Any) -> str | None:
        return None if value in self.choices else f"String must be one of: {', '.join(self.choices)}"

    def __str__(self) -> str:
        return f"[{', '.join(self.choices)}]"


@dataclass(frozen=True, slots=True)
class ValidList:
    """Every element of a list must be one of `choices` (an empty list passes, as in Kafka)."""

    choices: tuple[str, ...]

    def __call__(self, value: Sequence[str]) -> str | None:
        for item in value:
            if item not in self.choices:
                return f"String must be one of: {', '.join(self.choices)}"
        return None

    def __str__(self) -> str:
        return f"[{', '.join(self.choices)}]"


def at_least(low: float) -> Range:
    return Range(low, None)


def between(low: float, high: float) -> Range:
    return Range(low, high)


def one_of(*choices: str) -> ValidString:
    return ValidString(choices)


def each_of(*choices: str) -> ValidList:
    return ValidList(choices)


@dataclass(frozen=True, slots=True)
class ConfigDef:
    """One config key. `default` None means Kafka's null default (the key is unset and
    something else decides, e.g. log.retention.ms falls back to log.retention.hours).
    `dynamic` is Kafka's update mode (per-broker or cluster-wide); read-only keys are False."""

    name: str
    type: ConfigType
    default: Any
    validator: Validator | None
    importance: Importance
    doc: str
    dynamic: bool = False

    def __post_init__(self) -> None:
        if self.default is not None and self.validator is not None and (problem := self.validator(self.default)):
            raise ValueError(f"default of {self.name} is invalid: {problem}")  # a bug in our table

    def parse(self, raw: Any) -> Any:
        """Kafka's ConfigDef.parseType plus the validator: text in, typed value out."""
        if raw is None:
            return None
        value = self._parse_type(raw)
        if self.validator is not None and (problem := self.validator(value)) is not None:
            raise ConfigError.invalid(self.name, raw, problem)
        return value

    def _parse_type(self, raw: Any) -> Any:
        if not isinstance(raw, str):
            return list(raw) if self.type is ConfigType.LIST and isinstance(raw, (list, tuple)) else raw
        text = raw.strip()
        kind = self.type
        if kind is ConfigType.BOOLEAN:
            if text.lower() in ("true", "false"):
                return text.lower() == "true"
            raise ConfigError.invalid(self.name, raw, "Expected value to be either true or false")
        if kind in _INT_LIMITS:
            limit = _INT_LIMITS[kind]
            if _INTEGER.fullmatch(text) and -limit - 1 <= int(text) <= limit:
                return int(text)
            raise ConfigError.invalid(self.name, raw, f"Not a number of type {kind.name}")
        if kind is ConfigType.DOUBLE:
            if _DOUBLE.fullmatch(text):
                return float(text.rstrip("fFdD").replace("Infinity", "inf"))
            raise ConfigError.invalid(self.name, raw, "Not a number of type DOUBLE")
        if kind is ConfigType.LIST:
            return [] if not text else _LIST_SEPARATOR.split(text)
        if kind is ConfigType.PASSWORD:
            return Password(text)
        return text  # STRING, CLASS (a class name: nothing to load in Python)

    def to_text(self, value: Any) -> str | None:
        """Kafka's ConfigDef.convertToString: how DescribeConfigs shows a typed value."""
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, Password):
            return value.value
        if isinstance(value, (list, tuple)):
            return ",".join(str(v) for v in value)
        return str(value)

    @property
    def is_sensitive(self) -> bool:
        return self.type is ConfigType.PASSWORD


def defs_by_name(defs: Sequence[ConfigDef]) -> dict[str, ConfigDef]:
    """Index a table of defs, refusing duplicates (Kafka: "Configuration x is defined twice.")."""
    table: dict[str, ConfigDef] = {}
    for d in defs:
        if d.name in table:
            raise ValueError(f"Configuration {d.name} is defined twice.")
        table[d.name] = d
    return table

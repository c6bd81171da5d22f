"""What the `snakafka` commands share: the log line format, exit codes, and `--override`
parsing, kept apart so each command module imports it without importing the others."""

from __future__ import annotations

import click

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONFIG_ERROR_EXIT = 2
START_ERROR_EXIT = 1


def parse_overrides(values: tuple[str, ...]) -> dict[str, str]:
    """`--override key=value` pairs, as kafka-server-start.sh takes them (value may hold '=')."""
    result = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected key=value, got {item!r}", param_hint="--override")
        result[key.strip()] = value
    return result

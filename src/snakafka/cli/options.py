"""What the `snakafka` commands share: the log line formats, exit codes, and `--override`
parsing, kept apart so each command module imports it without importing the others."""

from __future__ import annotations

import logging
import sys
from logging.handlers import MemoryHandler

import click
from pythonjsonlogger.json import JsonFormatter

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# logging.format=json: one object per line, {"time", "level", "logger", "message",
# "broker_id"} plus "exc_info" (the traceback) when there is one.
JSON_LOG_FIELDS = "%(levelname)s %(name)s %(message)s"
JSON_LOG_RENAMES = {"levelname": "level", "name": "logger"}
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


def buffer_logging(level: str) -> MemoryHandler:
    """Log into a buffer until the config tells the format (its loading logs already: the
    unknown keys); `use_log_format` then writes the buffered records in that format."""
    buffer = MemoryHandler(capacity=10_000, flushLevel=logging.CRITICAL + 1)
    logging.basicConfig(level=level.upper(), handlers=[buffer], force=True)
    return buffer


def use_log_format(buffer: MemoryHandler, log_format: str, broker_id: int | None = None) -> None:
    """Log to stderr as `text` (LOG_FORMAT) or `json` lines, starting with what was buffered."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(JSON_LOG_FIELDS, rename_fields=JSON_LOG_RENAMES, timestamp="time",
                                           static_fields={} if broker_id is None else {"broker_id": broker_id}))
    else:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    buffer.setTarget(handler)
    buffer.close()  # flushes the buffered records to the handler
    root.removeHandler(buffer)

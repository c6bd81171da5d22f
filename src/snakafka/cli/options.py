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


def buffer_logging(level: str) -> MemoryHandler | None:
    """Log into a buffer until the config tells the format (loading it logs already: the
    unknown keys); `use_log_format` then writes the buffered records in that format. Like
    logging.basicConfig, it leaves a root logger that has handlers alone (None)."""
    root = logging.getLogger()
    if root.handlers:
        return None
    buffer = MemoryHandler(capacity=10_000, flushLevel=logging.CRITICAL + 1)
    root.setLevel(level.upper())
    root.addHandler(buffer)
    return buffer


def log_formatter(log_format: str, broker_id: int | None = None) -> logging.Formatter:
    """logging.format's formatter: `text` (LOG_FORMAT) or `json` (JSON_LOG_FIELDS)."""
    if log_format == "json":
        return JsonFormatter(JSON_LOG_FIELDS, rename_fields=JSON_LOG_RENAMES, timestamp="time",
                             static_fields={} if broker_id is None else {"broker_id": broker_id})
    return logging.Formatter(LOG_FORMAT)


def use_log_format(buffer: MemoryHandler | None, log_format: str, broker_id: int | None = None) -> None:
    """Log to stderr in `log_format`, starting with what was buffered."""
    if buffer is None:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(log_formatter(log_format, broker_id))
    root = logging.getLogger()
    root.addHandler(handler)
    buffer.setTarget(handler)
    buffer.close()  # flushes the buffered records to the handler
    root.removeHandler(buffer)

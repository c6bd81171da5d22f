"""What the console tools make of their `--property`, `--producer-property` and
`--consumer-property` options, and how they read lines and print records.

Kafka's names and defaults: LineMessageReader's parse.key / key.separator /
ignore.error / null.marker for the producer, DefaultMessageFormatter's print.* and
separators for the consumer, and the client configs we honour. Pure: strings in,
settings and bytes out, so every rule has a unit test.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from snakafka.client.fetcher import (
    READ_COMMITTED,
    READ_UNCOMMITTED,
    ConsumedRecord,
    FetchSettings,
)
from snakafka.client.group import GroupSettings
from snakafka.client.producer import ProducerSettings
from snakafka.protocol.compression import CODEC_NAMES

log = logging.getLogger(__name__)

CODECS = {name: codec for codec, name in CODEC_NAMES.items()}
ACKS = {"all": -1, "-1": -1, "0": 0, "1": 1}
ISOLATION_LEVELS = {"read_uncommitted": READ_UNCOMMITTED, "read_committed": READ_COMMITTED}
RANGE_ASSIGNORS = {"range", "org.apache.kafka.clients.consumer.RangeAssignor"}


class PropertyError(ValueError):
    """A malformed or invalid property: the message names it, for a one-line error."""


def parse_properties(values: Iterable[str], option: str) -> dict[str, str]:
    """`key=value` items (the value may hold '='); a later key overrides an earlier one."""
    result: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise PropertyError(f"{option} {item!r}: expected key=value")
        result[key.strip()] = value
    return result


def parse_bool(key: str, value: str) -> bool:
    """Java's Boolean parsing as Kafka's tools use it, but strict: true or false."""
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise PropertyError(f"invalid value {value!r} for {key}: expected true or false")
    return lowered == "true"


def parse_int(key: str, value: str, minimum: int = 0) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise PropertyError(f"invalid value {value!r} for {key}: expected an integer") from None
    if number < minimum:
        raise PropertyError(f"invalid value {value!r} for {key}: at least {minimum}")
    return number


def parse_choice(key: str, value: str, choices: Mapping[str, int]) -> int:
    if value.strip() not in choices:
        raise PropertyError(f"invalid value {value!r} for {key}: one of {', '.join(choices)}")
    return choices[value.strip()]


def _warn_unknown(props: Mapping[str, str], known: Iterable[str], option: str) -> None:
    """As Kafka's clients do: a config nobody reads is logged, not refused."""
    for key in sorted(set(props) - set(known)):
        log.warning("%s %s is not a known setting of this tool and is ignored", option, key)


# -- console producer ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineReader:
    """How a line of input becomes a record (Kafka's LineMessageReader)."""

    parse_key: bool = False
    key_separator: bytes = b"\t"
    ignore_error: bool = False
    null_marker: bytes | None = None

    def parse(self, line: bytes, line_number: int) -> tuple[bytes | None, bytes | None]:
        """(key, value) of one line without its line ending; PropertyError for a line
        without the key separator when keys are parsed (unless ignore.error)."""
        key: bytes | None = None
        value: bytes | None = line
        if self.parse_key:
            index = line.find(self.key_separator)
            if index < 0:
                if not self.ignore_error:
                    raise PropertyError(f"No key separator found on line number {line_number}: "
                                        f"'{line.decode(errors='replace')}'")
            else:
                key, value = line[:index], line[index + len(self.key_separator):]
        if self.null_marker is not None:
            key = None if key == self.null_marker else key
            value = None if value == self.null_marker else value
        return key, value


READER_KEYS = ("parse.key", "key.separator", "ignore.error", "null.marker")
PRODUCER_KEYS = ("acks", "compression.type", "linger.ms", "batch.size", "retries", "retry.backoff.ms",
                 "request.timeout.ms", "max.block.ms", "delivery.timeout.ms", "client.id", "bootstrap.servers")


def line_reader(props: Mapping[str, str]) -> LineReader:
    _warn_unknown(props, READER_KEYS, "--property")
    separator = props.get("key.separator", "\t")
    if not separator:
        raise PropertyError("key.separator must not be empty")
    marker = props.get("null.marker")
    return LineReader(
        parse_key=parse_bool("parse.key", props["parse.key"]) if "parse.key" in props else False,
        key_separator=separator.encode(),
        ignore_error=parse_bool("ignore.error", props["ignore.error"]) if "ignore.error" in props else False,
        null_marker=None if marker is None else marker.encode(),
    )


def producer_settings(props: Mapping[str, str]) -> ProducerSettings:
    """ProducerSettings from --producer-property values (the tool's own options, such as
    --request-required-acks, are merged in by the caller first)."""
    _warn_unknown(props, PRODUCER_KEYS, "--producer-property")
    base = ProducerSettings()
    return ProducerSettings(
        acks=parse_choice("acks", props["acks"], ACKS) if "acks" in props else base.acks,
        compression=parse_choice("compression.type", props["compression.type"], CODECS)
        if "compression.type" in props else base.compression,
        linger_ms=parse_int("linger.ms", props.get("linger.ms", str(base.linger_ms))),
        batch_size=parse_int("batch.size", props.get("batch.size", str(base.batch_size)), 1),
        retries=parse_int("retries", props.get("retries", str(base.retries))),
        retry_backoff_ms=parse_int("retry.backoff.ms", props.get("retry.backoff.ms", str(base.retry_backoff_ms))),
        request_timeout_ms=parse_int("request.timeout.ms", props.get("request.timeout.ms", str(base.request_timeout_ms)), 1),
        max_block_ms=parse_int("max.block.ms", props.get("max.block.ms", str(base.max_block_ms))),
        delivery_timeout_ms=parse_int("delivery.timeout.ms", props.get("delivery.timeout.ms", str(base.delivery_timeout_ms))),
    )


# -- console consumer ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordFormat:
    """Kafka's DefaultMessageFormatter: optional timestamp, partition, offset, headers
    and key columns before the value, separated by key.separator."""

    print_timestamp: bool = False
    print_partition: bool = False
    print_offset: bool = False
    print_headers: bool = False
    print_key: bool = False
    print_value: bool = True
    key_separator: bytes = b"\t"
    line_separator: bytes = b"\n"
    headers_separator: bytes = b","
    null_literal: bytes = b"null"

    def format(self, r: ConsumedRecord) -> bytes:
        columns: list[bytes] = []
        if self.print_timestamp:
            kind = "LogAppendTime" if r.log_append_time else "CreateTime"
            columns.append(f"{kind}:{r.timestamp}".encode() if r.timestamp >= 0 else b"NO_TIMESTAMP")
        if self.print_partition:
            columns.append(b"Partition:%d" % r.partition)
        if self.print_offset:
            columns.append(b"Offset:%d" % r.offset)
        if self.print_headers:
            columns.append(self.headers_separator.join(
                k.encode() + b":" + (self.null_literal if v is None else v) for k, v in r.headers) or b"NO_HEADERS")
        if self.print_key:
            columns.append(self.null_literal if r.key is None else r.key)
        if self.print_value:
            columns.append(self.null_literal if r.value is None else r.value)
        return self.key_separator.join(columns) + self.line_separator if columns else b""


FORMAT_KEYS = ("print.timestamp", "print.partition", "print.offset", "print.headers", "print.key", "print.value",
               "key.separator", "line.separator", "headers.separator", "null.literal",
               "key.deserializer", "value.deserializer")


def record_format(props: Mapping[str, str]) -> RecordFormat:
    _warn_unknown(props, FORMAT_KEYS, "--property")
    for key in ("key.deserializer", "value.deserializer"):
        if key in props and not props[key].endswith(("ByteArrayDeserializer", "StringDeserializer")):
            raise PropertyError(f"{key} {props[key]} is not supported (records are printed as bytes)")
    flags = {key: parse_bool(key, props[key]) for key in FORMAT_KEYS[:6] if key in props}
    base = RecordFormat()
    return RecordFormat(
        print_timestamp=flags.get("print.timestamp", base.print_timestamp),
        print_partition=flags.get("print.partition", base.print_partition),
        print_offset=flags.get("print.offset", base.print_offset),
        print_headers=flags.get("print.headers", base.print_headers),
        print_key=flags.get("print.key", base.print_key),
        print_value=flags.get("print.value", base.print_value),
        key_separator=props.get("key.separator", "\t").encode(),
        line_separator=props.get("line.separator", "\n").encode(),
        headers_separator=props.get("headers.separator", ",").encode(),
        null_literal=props.get("null.literal", "null").encode(),
    )


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    """What --consumer-property (and the tool's options) set for a console consumer."""

    fetch: FetchSettings
    group: GroupSettings | None
    enable_auto_commit: bool = True
    auto_commit_interval_ms: int = 5000
    client_id: str = "console-consumer"


CONSUMER_KEYS = ("group.id", "auto.offset.reset", "enable.auto.commit", "auto.commit.interval.ms",
                 "session.timeout.ms", "heartbeat.interval.ms", "max.poll.interval.ms", "group.instance.id",
                 "isolation.level", "fetch.max.wait.ms", "fetch.min.bytes", "fetch.max.bytes",
                 "max.partition.fetch.bytes", "client.id", "retry.backoff.ms", "partition.assignment.strategy",
                 "bootstrap.servers", "key.deserializer", "value.deserializer")


def consumer_config(props: Mapping[str, str], *, group: str | None, from_beginning: bool,
                    isolation_level: str | None) -> ConsumerConfig:
    """The console consumer's settings: auto.offset.reset is earliest with
    --from-beginning (else latest) unless a property sets it, as in Kafka's tool."""
    _warn_unknown(props, CONSUMER_KEYS, "--consumer-property")
    if group is not None and "group.id" in props and props["group.id"] != group:
        raise PropertyError(f"--group {group} and group.id {props['group.id']} specify different groups")
    group_id = group if group is not None else props.get("group.id")
    strategy = props.get("partition.assignment.strategy")
    if strategy is not None and not {s.strip() for s in strategy.split(",")} & RANGE_ASSIGNORS:
        raise PropertyError(f"partition.assignment.strategy {strategy}: only the range assignor is supported")
    reset = props.get("auto.offset.reset", "earliest" if from_beginning else "latest").strip()
    if reset not in ("earliest", "latest", "none"):
        raise PropertyError(f"invalid value {reset!r} for auto.offset.reset: one of earliest, latest, none")
    level_name = isolation_level if isolation_level is not None else props.get("isolation.level", "read_uncommitted")
    base_fetch, backoff = FetchSettings(), parse_int("retry.backoff.ms", props.get("retry.backoff.ms", "100"))
    fetch = FetchSettings(
        max_wait_ms=parse_int("fetch.max.wait.ms", props.get("fetch.max.wait.ms", str(base_fetch.max_wait_ms))),
        min_bytes=parse_int("fetch.min.bytes", props.get("fetch.min.bytes", str(base_fetch.min_bytes))),
        max_bytes=parse_int("fetch.max.bytes", props.get("fetch.max.bytes", str(base_fetch.max_bytes)), 1),
        partition_max_bytes=parse_int("max.partition.fetch.bytes",
                                      props.get("max.partition.fetch.bytes", str(base_fetch.partition_max_bytes)), 1),
        isolation_level=parse_choice("isolation.level", level_name, ISOLATION_LEVELS),
        auto_offset_reset=reset, retry_backoff_ms=backoff,
    )
    settings = None
    if group_id is not None:
        if not group_id:
            raise PropertyError("the group id must not be empty")
        base = GroupSettings(group_id)
        settings = GroupSettings(
            group_id,
            session_timeout_ms=parse_int("session.timeout.ms", props.get("session.timeout.ms", str(base.session_timeout_ms)), 1),
            heartbeat_interval_ms=parse_int("heartbeat.interval.ms",
                                            props.get("heartbeat.interval.ms", str(base.heartbeat_interval_ms)), 1),
            rebalance_timeout_ms=parse_int("max.poll.interval.ms",
                                           props.get("max.poll.interval.ms", str(base.rebalance_timeout_ms)), 1),
            group_instance_id=props.get("group.instance.id") or None,
            retry_backoff_ms=backoff,
        )
    return ConsumerConfig(
        fetch=fetch, group=settings,
        enable_auto_commit=parse_bool("enable.auto.commit", props["enable.auto.commit"])
        if "enable.auto.commit" in props else True,
        auto_commit_interval_ms=parse_int("auto.commit.interval.ms", props.get("auto.commit.interval.ms", "5000"), 1),
        client_id=props.get("client.id", "console-consumer"),
    )

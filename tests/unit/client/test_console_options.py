"""client/console_options.py: the console tools' property parsing, line reading and
record formatting (Kafka's LineMessageReader and DefaultMessageFormatter)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from snakafka.client.console_options import (
    LineReader,
    PropertyError,
    consumer_config,
    line_reader,
    parse_properties,
    producer_settings,
    record_format,
)
from snakafka.client.fetcher import READ_COMMITTED, ConsumedRecord
from snakafka.protocol.batch import COMPRESSION_ZSTD

RECORD = ConsumedRecord("t", 3, 42, 1_700_000_000_000, False, b"k", b"v", (("h1", b"x"), ("h2", None)))


def test_parse_properties_keeps_equals_in_values_and_last_wins() -> None:
    assert parse_properties(["a=1", "b=x=y", "a=2", "c="], "--property") == {"a": "2", "b": "x=y", "c": ""}


@pytest.mark.parametrize("bad", ["novalue", "=x", " =x"])
def test_parse_properties_refuses_malformed(bad: str) -> None:
    with pytest.raises(PropertyError, match="expected key=value"):
        parse_properties([bad], "--property")


def test_line_reader_defaults_to_value_only() -> None:
    assert line_reader({}).parse(b"a\tb", 1) == (None, b"a\tb")


def test_line_reader_splits_at_the_first_separator() -> None:
    reader = line_reader({"parse.key": "true", "key.separator": "::"})
    assert reader.parse(b"k::v::w", 1) == (b"k", b"v::w")
    assert reader.parse(b"::v", 2) == (b"", b"v")


def test_line_reader_missing_separator() -> None:
    reader = line_reader({"parse.key": "true"})
    with pytest.raises(PropertyError, match="No key separator found on line number 7: 'abc'"):
        reader.parse(b"abc", 7)
    assert line_reader({"parse.key": "true", "ignore.error": "true"}).parse(b"abc", 7) == (None, b"abc")


def test_null_marker() -> None:
    reader = line_reader({"parse.key": "true", "null.marker": "<null>"})
    assert reader.parse(b"<null>\tv", 1) == (None, b"v")
    assert reader.parse(b"k\t<null>", 1) == (b"k", None)


@given(st.binary(), st.binary(), st.sampled_from([b"\t", b",", b"--"]))
def test_line_reader_round_trip(key: bytes, value: bytes, sep: bytes) -> None:
    assume(sep not in key + sep[:-1])  # the separator's first occurrence ends the key
    reader = LineReader(parse_key=True, key_separator=sep)
    assert reader.parse(key + sep + value, 1) == (key, value)


@pytest.mark.parametrize(("props", "message"), [
    ({"parse.key": "yes"}, "expected true or false"),
    ({"key.separator": ""}, "must not be empty"),
])
def test_line_reader_bad_values(props: dict[str, str], message: str) -> None:
    with pytest.raises(PropertyError, match=message):
        line_reader(props)


def test_producer_settings() -> None:
    s = producer_settings({"acks": "all", "compression.type": "zstd", "linger.ms": "5", "batch.size": "100"})
    assert (s.acks, s.compression, s.linger_ms, s.batch_size) == (-1, COMPRESSION_ZSTD, 5, 100)
    assert producer_settings({"acks": "0"}).acks == 0 and producer_settings({}).acks == -1


@pytest.mark.parametrize(("props", "message"), [
    ({"acks": "2"}, "invalid value '2' for acks"),
    ({"compression.type": "brotli"}, "compression.type"),
    ({"linger.ms": "-1"}, "at least 0"),
    ({"batch.size": "many"}, "expected an integer"),
])
def test_producer_settings_refuse_bad_values(props: dict[str, str], message: str) -> None:
    with pytest.raises(PropertyError, match=message):
        producer_settings(props)


def test_default_format_is_the_value() -> None:
    assert record_format({}).format(RECORD) == b"v\n"


def test_full_format_in_kafka_column_order() -> None:
    fmt = record_format({k: "true" for k in ("print.timestamp", "print.partition", "print.offset", "print.headers",
                                              "print.key")} | {"key.separator": " | "})
    assert fmt.format(RECORD) == b"CreateTime:1700000000000 | Partition:3 | Offset:42 | h1:x,h2:null | k | v\n"


def test_format_nulls_and_log_append_time() -> None:
    r = ConsumedRecord("t", 0, 1, 5, True, None, None)
    fmt = record_format({"print.key": "true", "print.timestamp": "true", "print.headers": "true",
                         "null.literal": "-"})
    assert fmt.format(r) == b"LogAppendTime:5\tNO_HEADERS\t-\t-\n"


def test_consumer_config_defaults_follow_from_beginning() -> None:
    assert consumer_config({}, group=None, from_beginning=True, isolation_level=None).fetch.auto_offset_reset == "earliest"
    c = consumer_config({}, group="g", from_beginning=False, isolation_level="read_committed")
    assert c.fetch.auto_offset_reset == "latest" and c.fetch.isolation_level == READ_COMMITTED
    assert c.group is not None and c.group.group_id == "g" and c.group.heartbeat_interval_ms == 3000
    assert consumer_config({"group.id": "h"}, group=None, from_beginning=False, isolation_level=None).group is not None


def test_consumer_config_properties() -> None:
    c = consumer_config({"heartbeat.interval.ms": "200", "session.timeout.ms": "6000", "enable.auto.commit": "false",
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed"},
                        group="g", from_beginning=False, isolation_level=None)
    assert c.group is not None and (c.group.heartbeat_interval_ms, c.group.session_timeout_ms) == (200, 6000)
    assert not c.enable_auto_commit and c.fetch.auto_offset_reset == "earliest"
    assert c.fetch.isolation_level == READ_COMMITTED


@pytest.mark.parametrize(("props", "group", "message"), [
    ({"group.id": "other"}, "g", "specify different groups"),
    ({"auto.offset.reset": "sometimes"}, None, "auto.offset.reset"),
    ({"isolation.level": "read_dirty"}, None, "isolation.level"),
    ({"partition.assignment.strategy": "roundrobin"}, "g", "only the range assignor"),
    ({"enable.auto.commit": "1"}, "g", "expected true or false"),
])
def test_consumer_config_refuses(props: dict[str, str], group: str | None, message: str) -> None:
    with pytest.raises(PropertyError, match=message):
        consumer_config(props, group=group, from_beginning=False, isolation_level=None)

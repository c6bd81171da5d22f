"""The admin commands' argument and file formats, as Kafka's tools take them."""

from __future__ import annotations

import click
import pytest

from snakafka.cli.configs import parse_add_config
from snakafka.cli.partitions import parse_election_file, parse_offset_file
from snakafka.cli.topics import parse_configs, parse_replica_assignment


def test_add_config_brackets_hold_list_values() -> None:
    assert parse_add_config("cleanup.policy=[compact,delete],retention.ms=1000,a=b=c") == {
        "cleanup.policy": "compact,delete", "retention.ms": "1000", "a": "b=c"}
    with pytest.raises(click.BadParameter):
        parse_add_config("retention.ms")


def test_replica_assignment() -> None:
    assert parse_replica_assignment("0:1,1:2, 2:0") == [[0, 1], [1, 2], [2, 0]]
    for bad in ("0:0", "0:1,2", "a:1"):
        with pytest.raises(click.BadParameter):
            parse_replica_assignment(bad)
    assert parse_configs(("a=1", "b=x=y")) == {"a": "1", "b": "x=y"}


def test_json_files() -> None:
    assert parse_offset_file({"partitions": [{"topic": "t", "partition": 1, "offset": -1}], "version": 1}) == {("t", 1): -1}
    assert parse_election_file({"partitions": [{"topic": "t", "partition": 0}]}) == [("t", 0)]
    for bad in ({}, {"partitions": [{"topic": "t"}]}, {"partitions": [{"topic": "t", "partition": 0, "offset": 1}] * 2}):
        with pytest.raises(click.BadParameter):
            parse_offset_file(bad)
    with pytest.raises(click.BadParameter):
        parse_election_file({"partitions": [{"topic": "t", "partition": 0}] * 2})

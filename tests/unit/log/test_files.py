"""File and directory names of the log layer."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from snakafka.log.files import (
    DELETED_SUFFIX,
    SWAP_SUFFIX,
    delete_dir_name,
    is_delete_dir,
    offset_name,
    parse_partition_dir,
    parse_segment_file,
    partition_dir_name,
    segment_paths,
)

topics = st.text(alphabet="abcXYZ019._-", min_size=1, max_size=40)


def test_segment_names_are_twenty_digits() -> None:
    paths = segment_paths(Path("/d"), 42)
    assert paths.log.name == "00000000000000000042.log"
    assert paths.offset_index.name == "00000000000000000042.index"
    assert paths.time_index.name == "00000000000000000042.timeindex"
    assert segment_paths(Path("/d"), 7, DELETED_SUFFIX).log.name == "00000000000000000007.log.deleted"
    assert offset_name(2**63 - 1) == "09223372036854775807"


@given(st.integers(0, 2**63 - 1), st.sampled_from(["", ".deleted", ".cleaned", ".swap"]))
def test_segment_file_names_parse_back(base: int, state: str) -> None:
    for path in segment_paths(Path("/d"), base, state):
        parsed = parse_segment_file(path.name)
        assert parsed is not None
        assert parsed.base_offset == base and parsed.state == state
        assert path.name.startswith(offset_name(base) + parsed.kind)


def test_other_files_are_not_segments() -> None:
    for name in ["leader-epoch-checkpoint", "0000000000000000000.log", "00000000000000000000.txt",
                 "0000000000000000000a.log", "00000000000000000000.log.tmp", "00000000000000000000"]:
        assert parse_segment_file(name) is None, name
    assert parse_segment_file("00000000000000000005.index.swap") == (5, ".index", SWAP_SUFFIX)


@given(topics, st.integers(0, 100_000))
def test_partition_dirs_round_trip(topic: str, partition: int) -> None:
    name = partition_dir_name(topic, partition)
    assert parse_partition_dir(name) == (topic, partition)
    deleting = delete_dir_name(topic, partition, "0123abcd")
    assert is_delete_dir(deleting)
    assert parse_partition_dir(deleting) is None


def test_non_partition_dirs() -> None:
    for name in ["meta.properties", "topic", "topic-", "-3", "t-0.abc-delete", "t-0.abc-future", "t-١"]:
        assert parse_partition_dir(name) is None, name

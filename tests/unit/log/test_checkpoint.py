"""Checkpoint files: Kafka's format, atomic replacement, strict parsing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snakafka.log.checkpoint import (
    CheckpointError,
    read_lines,
    read_offsets,
    read_offsets_or_empty,
    write_lines,
    write_offsets,
)

offsets_maps = st.dictionaries(
    st.tuples(st.text(alphabet="abc._-", min_size=1, max_size=20), st.integers(0, 1000)),
    st.integers(0, 2**63 - 1),
    max_size=20,
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offsets=offsets_maps)
def test_offsets_round_trip(tmp_path: Path, offsets: dict[tuple[str, int], int]) -> None:
    path = tmp_path / "recovery-point-offset-checkpoint"
    write_offsets(path, offsets)
    assert read_offsets(path) == offsets
    assert not path.with_name(path.name + ".tmp").exists()


def test_kafka_format(tmp_path: Path) -> None:
    path = tmp_path / "cp"
    write_offsets(path, {("b", 1): 5, ("a", 0): 10})
    assert path.read_text() == "0\n2\na 0 10\nb 1 5\n"
    # Kafka writes the same shape: we read its files too.
    path.write_text("0\n1\nmy-topic 3 1234\n")
    assert read_offsets(path) == {("my-topic", 3): 1234}


def test_missing_file_is_empty(tmp_path: Path) -> None:
    assert read_offsets(tmp_path / "nope") == {}
    assert read_lines(tmp_path / "nope", 2) is None


@pytest.mark.parametrize("content", [
    "", "0\n", "1\n0\n", "0\n2\na 0 1\n", "0\n1\na 0\n", "0\n1\na x 1\n", "zero\n0\n",
])
def test_malformed_files_raise(tmp_path: Path, content: str) -> None:
    path = tmp_path / "cp"
    path.write_text(content)
    with pytest.raises(CheckpointError):
        read_offsets(path)
    assert read_offsets_or_empty(path) == {}


def test_replacement_keeps_old_file_until_rename(tmp_path: Path) -> None:
    path = tmp_path / "leader-epoch-checkpoint"
    write_lines(path, [(0, 0), (3, 100)])
    # A crash before the rename leaves a stray .tmp and the old, whole file.
    path.with_name(path.name + ".tmp").write_text("0\n5\ngarbage")
    assert read_lines(path, 2) == [["0", "0"], ["3", "100"]]
    write_lines(path, [(4, 200)])
    assert read_lines(path, 2) == [["4", "200"]]

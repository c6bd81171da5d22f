"""The replication-offset-checkpoint of each log dir, kept by LogManager: Kafka's format,
the values read at load handed out per partition, entries of deleted logs dropped, the
load-time values of logs not yet given a high watermark kept, and a torn or corrupt file
ignored with a warning (every partition then falls back to its recovery point)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snakafka.clock import ManualClock
from snakafka.log.checkpoint import read_offsets
from snakafka.log.log_config import LogConfig
from snakafka.log.log_manager import LogManager

CONFIG = LogConfig()
HW_FILE = "replication-offset-checkpoint"


def manager(dirs: list[Path], clock: ManualClock) -> LogManager:
    lm = LogManager(dirs, clock, CONFIG)
    lm.load(lambda topic: CONFIG)
    return lm


def test_written_in_kafkas_format_and_read_back_at_load(tmp_path: Path, clock: ManualClock) -> None:
    lm = manager([tmp_path], clock)
    for tp in [("orders", 1), ("orders", 0), ("a.b-c", 7)]:
        lm.get_or_create_log(*tp)
    lm.checkpoint_high_watermarks({("orders", 0): 12, ("orders", 1): 0, ("a.b-c", 7): 3})
    assert (tmp_path / HW_FILE).read_text() == "0\n3\na.b-c 7 3\norders 0 12\norders 1 0\n"
    assert lm.checkpointed_high_watermark("orders", 0) is None, "a log created since load has no checkpoint yet"
    lm.shutdown()

    again = manager([tmp_path], clock)
    assert again.checkpointed_high_watermark("orders", 0) == 12
    assert again.checkpointed_high_watermark("orders", 1) == 0
    assert again.checkpointed_high_watermark("a.b-c", 7) == 3
    assert again.checkpointed_high_watermark("orders", 2) is None
    again.shutdown()


def test_kafkas_own_file_is_read(tmp_path: Path, clock: ManualClock) -> None:
    (tmp_path / "my-topic-3").mkdir()
    (tmp_path / HW_FILE).write_text("0\n2\nmy-topic 3 1234\ngone 0 9\n")
    lm = manager([tmp_path], clock)
    assert lm.checkpointed_high_watermark("my-topic", 3) == 1234
    assert lm.checkpointed_high_watermark("gone", 0) is None, "no log: nothing to hand out"
    lm.shutdown()


def test_each_log_dir_has_its_own_file(tmp_path: Path, clock: ManualClock) -> None:
    dirs = [tmp_path / "d1", tmp_path / "d2"]
    lm = manager(dirs, clock)
    for p in range(4):
        lm.get_or_create_log("t", p)
    lm.checkpoint_high_watermarks({("t", p): 10 + p for p in range(4)})
    in_files = [read_offsets(d / HW_FILE) for d in dirs]
    assert all(len(found) == 2 for found in in_files)
    assert in_files[0] | in_files[1] == {("t", p): 10 + p for p in range(4)}
    for d, found in zip(dirs, in_files, strict=True):
        assert {f"t-{p}" for _, p in found} == {c.name for c in d.iterdir() if c.is_dir()}
    lm.shutdown()


def test_deleted_logs_leave_the_file_even_an_emptied_one(tmp_path: Path, clock: ManualClock) -> None:
    lm = manager([tmp_path], clock)
    lm.get_or_create_log("kept", 0)
    lm.get_or_create_log("gone", 0)
    lm.checkpoint_high_watermarks({("kept", 0): 5, ("gone", 0): 6})
    lm.shutdown()

    lm = manager([tmp_path], clock)
    assert lm.checkpointed_high_watermark("gone", 0) == 6
    lm.delete_log("gone", 0)
    assert lm.checkpointed_high_watermark("gone", 0) is None
    lm.checkpoint_high_watermarks({})  # partitions not created yet: their loaded values stay
    assert read_offsets(tmp_path / HW_FILE) == {("kept", 0): 5}
    lm.delete_log("kept", 0)
    lm.checkpoint_high_watermarks({("kept", 0): 5})  # a stale value for a log no longer here
    assert (tmp_path / HW_FILE).read_text() == "0\n0\n"
    lm.shutdown()


def test_given_values_win_over_loaded_ones(tmp_path: Path, clock: ManualClock) -> None:
    lm = manager([tmp_path], clock)
    lm.get_or_create_log("t", 0)
    lm.get_or_create_log("t", 1)
    lm.checkpoint_high_watermarks({("t", 0): 4, ("t", 1): 8})
    lm.shutdown()
    lm = manager([tmp_path], clock)
    lm.checkpoint_high_watermarks({("t", 0): 6})
    assert read_offsets(tmp_path / HW_FILE) == {("t", 0): 6, ("t", 1): 8}
    lm.shutdown()


@pytest.mark.parametrize("content", [
    "0\n2\nt 0 5\n",  # torn: fewer entries than counted
    "0\n1\nt 0\n",  # a line cut short
    "1\n1\nt 0 5\n",  # a version we do not know
    "0\n1\nt 0 five\n",
    "",
])
def test_a_corrupt_file_is_ignored_with_a_warning(tmp_path: Path, clock: ManualClock, content: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "t-0").mkdir()
    (tmp_path / HW_FILE).write_text(content)
    with caplog.at_level(logging.WARNING, logger="snakafka.log.checkpoint"):
        lm = manager([tmp_path], clock)
    assert lm.checkpointed_high_watermark("t", 0) is None
    assert any(HW_FILE in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    lm.checkpoint_high_watermarks({("t", 0): 3})  # the next write replaces it whole
    assert read_offsets(tmp_path / HW_FILE) == {("t", 0): 3}
    lm.shutdown()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hws=st.dictionaries(st.tuples(st.sampled_from(["a", "b.c", "d_e-f"]), st.integers(0, 50)),
                           st.integers(0, 2**63 - 1), max_size=12),
       dirs=st.integers(1, 3))
def test_round_trip_through_a_restart(tmp_path_factory: pytest.TempPathFactory, hws: dict[tuple[str, int], int],
                                      dirs: int) -> None:
    root = tmp_path_factory.mktemp("hw")
    log_dirs = [root / f"d{i}" for i in range(dirs)]
    clock = ManualClock()
    lm = manager(log_dirs, clock)
    for tp in hws:
        lm.get_or_create_log(*tp)
    lm.checkpoint_high_watermarks(hws)
    lm.shutdown()
    lm = manager(log_dirs, clock)
    assert {tp: lm.checkpointed_high_watermark(*tp) for tp in hws} == hws
    lm.shutdown()

"""LogManager: loading, clean-shutdown detection, checkpoints, placement, deletion,
retention and flush over all logs."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.batches import make_batch
from support.log_helpers import read_all

from snakafka.clock import ManualClock
from snakafka.log.checkpoint import read_offsets
from snakafka.log.log_config import LogConfig
from snakafka.log.log_manager import DuplicateLogError, LogManager

CONFIG = LogConfig(segment_bytes=500)


def manager(dirs: list[Path], clock: ManualClock) -> LogManager:
    lm = LogManager(dirs, clock, CONFIG)
    lm.load(lambda topic: CONFIG)
    return lm


def corrupt_last_batch(directory: Path) -> None:
    last = max(directory.glob("*.log"))
    raw = bytearray(last.read_bytes())
    raw[-1] ^= 0xFF  # inside the last batch's records: only a CRC check notices
    last.write_bytes(bytes(raw))


def test_clean_shutdown_skips_recovery_and_unclean_does_not(tmp_path: Path, clock: ManualClock) -> None:
    lm = manager([tmp_path], clock)
    log = lm.get_or_create_log("orders", 0, CONFIG)
    for _ in range(5):
        log.append(make_batch(2))
    lm.shutdown()
    assert (tmp_path / ".kafka_cleanshutdown").exists()
    assert read_offsets(tmp_path / "recovery-point-offset-checkpoint") == {("orders", 0): 10}
    corrupt_last_batch(tmp_path / "orders-0")

    lm = manager([tmp_path], clock)  # clean: no scan, the bad CRC goes unnoticed
    assert not (tmp_path / ".kafka_cleanshutdown").exists()
    loaded = lm.get_log("orders", 0)
    assert loaded is not None and loaded.log_end_offset == 10
    for logs in lm.all_logs():
        logs.close()  # a crash: no shutdown, no marker

    lm = manager([tmp_path], clock)  # unclean: the last segment is scanned and cut
    recovered = lm.get_log("orders", 0)
    assert recovered is not None and recovered.log_end_offset == 8
    assert recovered.append(make_batch(1)).first_offset == 8


def test_checkpoints_carry_log_start_offsets(tmp_path: Path, clock: ManualClock) -> None:
    lm = manager([tmp_path], clock)
    log = lm.get_or_create_log("t", 3, CONFIG)
    for _ in range(4):
        log.append(make_batch(2))
    log.delete_records_before(5)
    lm.checkpoint()
    assert read_offsets(tmp_path / "log-start-offset-checkpoint") == {("t", 3): 5}
    lm.shutdown()
    again = manager([tmp_path], clock).get_log("t", 3)
    assert again is not None and again.log_start_offset == 5
    assert read_all(again)[0] == (4, 5)


def test_deleted_logs_and_leftover_delete_dirs(tmp_path: Path, clock: ManualClock) -> None:
    lm = manager([tmp_path], clock)
    lm.get_or_create_log("a", 0, CONFIG).append(make_batch(1))
    lm.get_or_create_log("b", 0, CONFIG).append(make_batch(1))
    remove = lm.detach_log("a", 0)
    assert lm.get_log("a", 0) is None
    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith("-delete")]
    assert len(leftovers) == 1 and leftovers[0].name.startswith("a-0.")
    remove()
    assert not leftovers[0].exists()
    lm.delete_log("b", 0)
    assert lm.all_logs() == [] and not (tmp_path / "b-0").exists()
    lm.delete_log("nope", 0)  # unknown: nothing to do
    (tmp_path / "c-0.0123abcd-delete").mkdir()  # a crash in the middle of a deletion
    lm.shutdown()
    lm = manager([tmp_path], clock)
    assert not (tmp_path / "c-0.0123abcd-delete").exists() and lm.all_logs() == []


def test_new_logs_go_to_the_emptiest_dir(tmp_path: Path, clock: ManualClock) -> None:
    dirs = [tmp_path / "d1", tmp_path / "d2"]
    lm = manager(dirs, clock)
    for p in range(4):
        lm.get_or_create_log("t", p, CONFIG)
    assert sorted(len(list(d.glob("t-*"))) for d in dirs) == [2, 2]
    assert lm.get_or_create_log("t", 0, CONFIG) is lm.get_log("t", 0)
    lm.shutdown()
    assert len(manager(dirs, clock).all_logs()) == 4


def test_the_same_partition_in_two_dirs_is_refused(tmp_path: Path, clock: ManualClock) -> None:
    (tmp_path / "d1" / "t-0").mkdir(parents=True)
    (tmp_path / "d2" / "t-0").mkdir(parents=True)
    with pytest.raises(DuplicateLogError):
        manager([tmp_path / "d1", tmp_path / "d2"], clock)


def test_cleanup_applies_retention_only_with_the_delete_policy(tmp_path: Path, clock: ManualClock) -> None:
    compact = LogConfig(segment_bytes=1, retention_bytes=0, cleanup_policy=("compact",))
    delete = LogConfig(segment_bytes=1, retention_bytes=0)
    lm = manager([tmp_path], clock)
    kept = lm.get_or_create_log("kept", 0, compact)
    trimmed = lm.get_or_create_log("trimmed", 0, delete)
    for log in (kept, trimmed):
        for _ in range(3):
            log.append(make_batch(1))
    deleted = lm.cleanup(clock.time_ms(), high_watermarks=lambda tp: 2)
    assert [s.base_offset for s in deleted] == [0, 1]  # never past the high watermark
    assert kept.log_start_offset == 0 and trimmed.log_start_offset == 2
    for segment in deleted:
        segment.delete()


def test_flush_dirty_applies_flush_ms(tmp_path: Path, clock: ManualClock) -> None:
    lm = manager([tmp_path], clock)
    log = lm.get_or_create_log("t", 0, LogConfig(flush_ms=1000))
    log.append(make_batch(3))
    lm.flush_dirty(clock.time_ms())
    assert log.recovery_point == 0
    clock.advance(1000)
    lm.flush_dirty(clock.time_ms())
    assert log.recovery_point == 3

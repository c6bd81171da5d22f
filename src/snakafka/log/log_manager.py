"""All partition logs of this broker, across its log dirs.

Loads logs at start-up (recovering those of an unclean shutdown), creates and deletes
them, keeps the recovery-point and log-start-offset checkpoints, applies flush and
retention policies, and writes the clean-shutdown marker on a clean stop.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from snakafka.clock import Clock
from snakafka.log.checkpoint import read_checkpoint, write_checkpoint
from snakafka.log.files import (
    CLEAN_SHUTDOWN_FILE,
    DELETE_DIR_SUFFIX,
    LOG_START_OFFSET_CHECKPOINT,
    RECOVERY_POINT_CHECKPOINT,
    parse_partition_dir,
    partition_dir_name,
)
from snakafka.log.log_config import LogConfig
from snakafka.log.partition_log import PartitionLog
from snakafka.log.segment import LogSegment

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


class LogManager:
    def __init__(self, log_dirs: list[Path], clock: Clock, default_config: LogConfig) -> None:
        self.log_dirs = [Path(d) for d in log_dirs]
        self.clock = clock
        self.default_config = default_config
        self.logs: dict[TopicPartition, PartitionLog] = {}
        self._dir_of: dict[TopicPartition, Path] = {}

    def load(self, config_for: Callable[[str], LogConfig]) -> None:
        for log_dir in self.log_dirs:
            log_dir.mkdir(parents=True, exist_ok=True)
            marker = log_dir / CLEAN_SHUTDOWN_FILE
            clean = marker.exists()
            recovery_points = read_checkpoint(log_dir / RECOVERY_POINT_CHECKPOINT)
            start_offsets = read_checkpoint(log_dir / LOG_START_OFFSET_CHECKPOINT)
            for child in sorted(log_dir.iterdir()):
                if not child.is_dir():
                    continue
                if child.name.endswith(DELETE_DIR_SUFFIX):
                    shutil.rmtree(child, ignore_errors=True)
                    continue
                tp = parse_partition_dir(child.name)
                if tp is None:
                    continue
                partition_log = PartitionLog.open(
                    child, tp[0], tp[1], config_for(tp[0]), self.clock,
                    recovery_point=recovery_points.get(tp, 0),
                    log_start_offset=start_offsets.get(tp, 0),
                    needs_recovery=not clean,
                )
                self.logs[tp] = partition_log
                self._dir_of[tp] = log_dir
            if clean:
                marker.unlink()
            log.info("loaded %d logs from %s (%s shutdown)", sum(1 for d in self._dir_of.values() if d == log_dir),
                     log_dir, "clean" if clean else "unclean: recovered unflushed segments")
        self.checkpoint()

    def get_log(self, topic: str, partition: int) -> PartitionLog | None:
        return self.logs.get((topic, partition))

    def get_or_create_log(self, topic: str, partition: int, config: LogConfig) -> PartitionLog:
        tp = (topic, partition)
        existing = self.logs.get(tp)
        if existing is not None:
            return existing
        log_dir = min(self.log_dirs, key=lambda d: sum(1 for v in self._dir_of.values() if v == d))
        partition_log = PartitionLog.open(log_dir / partition_dir_name(topic, partition), topic, partition, config,
                                          self.clock, needs_recovery=False)
        self.logs[tp] = partition_log
        self._dir_of[tp] = log_dir
        log.info("created log for %s-%d in %s", topic, partition, log_dir)
        return partition_log

    def all_logs(self) -> list[PartitionLog]:
        return list(self.logs.values())

    def delete_log(self, topic: str, partition: int) -> None:
        """Detach and remove a partition's log (its directory is renamed first, so a crash
        mid-way leaves a `-delete` directory that the next start removes)."""
        tp = (topic, partition)
        partition_log = self.logs.pop(tp, None)
        self._dir_of.pop(tp, None)
        if partition_log is None:
            return
        partition_log.close()
        target = partition_log.directory.with_name(f"{partition_log.directory.name}.{uuid.uuid4().hex}{DELETE_DIR_SUFFIX}")
        partition_log.directory.rename(target)
        shutil.rmtree(target, ignore_errors=True)
        log.info("deleted log of %s-%d", topic, partition)

    def checkpoint(self) -> None:
        for log_dir in self.log_dirs:
            logs = {tp: lg for tp, lg in self.logs.items() if self._dir_of.get(tp) == log_dir}
            write_checkpoint(log_dir / RECOVERY_POINT_CHECKPOINT, {tp: lg.recovery_point for tp, lg in logs.items()})
            write_checkpoint(log_dir / LOG_START_OFFSET_CHECKPOINT, {tp: lg.log_start_offset for tp, lg in logs.items()})

    def flush_dirty(self, now_ms: int) -> None:
        for partition_log in self.logs.values():
            partition_log.maybe_flush_by_time(now_ms)

    def cleanup(self, now_ms: int, high_watermarks: Callable[[TopicPartition], int | None] | None = None) -> list[LogSegment]:
        """Retention over every log whose cleanup.policy includes delete."""
        deleted: list[LogSegment] = []
        for tp, partition_log in self.logs.items():
            if partition_log.config.delete:
                hw = high_watermarks(tp) if high_watermarks else None
                deleted += partition_log.delete_old_segments(now_ms, high_watermark=hw)
        return deleted

    def shutdown(self) -> None:
        for partition_log in self.logs.values():
            partition_log.flush()
        self.checkpoint()
        for partition_log in self.logs.values():
            partition_log.close()
        for log_dir in self.log_dirs:
            (log_dir / CLEAN_SHUTDOWN_FILE).touch()
        log.info("logs flushed and closed; clean shutdown marked")

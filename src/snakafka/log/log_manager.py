"""All partition logs of this broker, across its log dirs.

Loads logs at start-up (recovering those of an unclean shutdown: a log dir without the
`.kafka_cleanshutdown` marker), creates and deletes them, keeps the recovery-point and
log-start-offset checkpoints of each log dir, applies the flush and retention policies,
and marks a clean shutdown. meta.properties belongs to the broker, not here.

It also keeps each log dir's `replication-offset-checkpoint` (the high watermarks). The
high watermark belongs to replication, so the replica manager hands the values in
(`checkpoint_high_watermarks`); what the file held at start-up is kept
(`checkpointed_high_watermark`) until the partition is created from it, so a write made
before every partition exists again does not lose the others' values.

Not thread-safe: called from the broker's event loop. The slow parts are handed back
as callables or segment lists the caller may run in a thread: removing a deleted log's
files (`detach_log`), deleting retained segments (`cleanup` returns them).
"""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from snakafka.clock import Clock
from snakafka.log.checkpoint import fsync_dir, read_offsets_or_empty, write_offsets
from snakafka.log.files import (
    CLEAN_SHUTDOWN_FILE,
    LOG_START_OFFSET_CHECKPOINT,
    RECOVERY_POINT_CHECKPOINT,
    REPLICATION_OFFSET_CHECKPOINT,
    delete_dir_name,
    is_delete_dir,
    parse_partition_dir,
    partition_dir_name,
)
from snakafka.log.flush import FlushTask
from snakafka.log.log_config import LogConfig
from snakafka.log.partition_log import PartitionLog
from snakafka.log.segment import LogSegment

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


class DuplicateLogError(Exception):
    """The same partition found in two log dirs: refuse to guess which is right."""


class LogManager:
    def __init__(self, log_dirs: list[Path], clock: Clock, default_config: LogConfig) -> None:
        if not log_dirs:
            raise ValueError("at least one log dir is needed")
        self.log_dirs = [Path(d) for d in log_dirs]
        self.clock = clock
        self.default_config = default_config
        self.logs: dict[TopicPartition, PartitionLog] = {}
        self._dir_of: dict[TopicPartition, Path] = {}
        # The replication-offset-checkpoint entries read at load, for logs found on disk.
        self._loaded_high_watermarks: dict[TopicPartition, int] = {}

    def load(self, config_for: Callable[[str], LogConfig]) -> None:
        """Open every partition directory of every log dir, then remove the clean
        shutdown markers: from here on, a crash means recovery at the next start."""
        for log_dir in self.log_dirs:
            log_dir.mkdir(parents=True, exist_ok=True)
            marker = log_dir / CLEAN_SHUTDOWN_FILE
            clean = marker.exists()
            recovery_points = read_offsets_or_empty(log_dir / RECOVERY_POINT_CHECKPOINT)
            start_offsets = read_offsets_or_empty(log_dir / LOG_START_OFFSET_CHECKPOINT)
            high_watermarks = read_offsets_or_empty(log_dir / REPLICATION_OFFSET_CHECKPOINT)
            loaded = 0
            for child in sorted(log_dir.iterdir()):
                if not child.is_dir():
                    continue
                if is_delete_dir(child.name):
                    log.info("removing %s, left by an interrupted log deletion", child)
                    shutil.rmtree(child, ignore_errors=True)
                    continue
                tp = parse_partition_dir(child.name)
                if tp is None:
                    continue
                if tp in self.logs:
                    raise DuplicateLogError(f"{tp[0]}-{tp[1]} is in both {self._dir_of[tp]} and {log_dir}")
                self.logs[tp] = PartitionLog.open(
                    child, tp[0], tp[1], config_for(tp[0]), self.clock,
                    recovery_point=recovery_points.get(tp, 0),
                    log_start_offset=start_offsets.get(tp, 0),
                    needs_recovery=not clean,
                )
                self._dir_of[tp] = log_dir
                if tp in high_watermarks:
                    self._loaded_high_watermarks[tp] = high_watermarks[tp]
                loaded += 1
            if clean:
                marker.unlink()
                fsync_dir(log_dir)
            log.info("loaded %d logs from %s after a%s shutdown", loaded, log_dir, " clean" if clean else "n unclean")
        self.checkpoint()

    def get_log(self, topic: str, partition: int) -> PartitionLog | None:
        return self.logs.get((topic, partition))

    def get_or_create_log(self, topic: str, partition: int, config: LogConfig | None = None) -> PartitionLog:
        """The partition's log, created empty in the log dir holding the fewest logs."""
        tp = (topic, partition)
        existing = self.logs.get(tp)
        if existing is not None:
            return existing
        counts = {d: 0 for d in self.log_dirs}
        for d in self._dir_of.values():
            counts[d] = counts.get(d, 0) + 1
        log_dir = min(self.log_dirs, key=lambda d: counts[d])
        log_dir.mkdir(parents=True, exist_ok=True)
        partition_log = PartitionLog.open(log_dir / partition_dir_name(topic, partition), topic, partition,
                                          config or self.default_config, self.clock, needs_recovery=False)
        fsync_dir(log_dir)
        self.logs[tp] = partition_log
        self._dir_of[tp] = log_dir
        log.info("created log for %s-%d in %s", topic, partition, log_dir)
        return partition_log

    def log_dir_of(self, topic: str, partition: int) -> Path | None:
        """The log dir holding a partition's log (DescribeLogDirs), None if there is none."""
        return self._dir_of.get((topic, partition))

    def all_logs(self) -> list[PartitionLog]:
        return list(self.logs.values())

    def detach_log(self, topic: str, partition: int) -> Callable[[], None]:
        """Forget a partition's log: close it and rename its directory to
        `<topic>-<partition>.<uuid>-delete` (a crash after this leaves a name the next
        start removes). Returns the removal of the files, to run now or in a thread."""
        tp = (topic, partition)
        partition_log = self.logs.pop(tp, None)
        self._dir_of.pop(tp, None)
        self._loaded_high_watermarks.pop(tp, None)
        if partition_log is None:
            return lambda: None
        partition_log.close(snapshot=False)  # its files are going: no producer snapshot
        source = partition_log.directory
        target = source.with_name(delete_dir_name(topic, partition, uuid.uuid4().hex))
        source.rename(target)
        fsync_dir(target.parent)
        log.info("deleting log of %s-%d", topic, partition)
        return lambda: shutil.rmtree(target, ignore_errors=True)

    def delete_log(self, topic: str, partition: int) -> None:
        """detach_log, with the files removed at once."""
        self.detach_log(topic, partition)()

    def checkpoint(self) -> None:
        """Write each log dir's recovery points and log start offsets."""
        self.checkpoint_writer()()

    def checkpoint_writer(self) -> Callable[[], None]:
        """checkpoint() in two steps: the offsets are taken now (on the loop), the
        returned callable writes and fsyncs the files (in a thread, off the loop)."""
        files: list[tuple[Path, dict[TopicPartition, int]]] = []
        for log_dir in self.log_dirs:
            logs = {tp: lg for tp, lg in self.logs.items() if self._dir_of.get(tp) == log_dir}
            files.append((log_dir / RECOVERY_POINT_CHECKPOINT, {tp: lg.recovery_point for tp, lg in logs.items()}))
            files.append((log_dir / LOG_START_OFFSET_CHECKPOINT, {tp: lg.log_start_offset for tp, lg in logs.items()}))
        return lambda: _write_all(files)

    def checkpointed_high_watermark(self, topic: str, partition: int) -> int | None:
        """The partition's high watermark in its log dir's replication-offset-checkpoint
        as read at load; None for a log created since, a partition the file did not list,
        or a file that was unreadable (the caller then falls back to its own rule)."""
        return self._loaded_high_watermarks.get((topic, partition))

    def checkpoint_high_watermarks(self, high_watermarks: Mapping[TopicPartition, int]) -> None:
        """Write each log dir's replication-offset-checkpoint (Kafka's
        ReplicaManager.checkpointHighWatermarks): the given high watermark of every log in
        that dir; a log without one (its partition not created since the restart) keeps
        the value read at load. Logs no longer here (deleted topics) are left out, and
        every log dir is written, so their entries disappear even from an emptied dir."""
        self.high_watermarks_writer(high_watermarks)()

    def high_watermarks_writer(self, high_watermarks: Mapping[TopicPartition, int]) -> Callable[[], None]:
        """checkpoint_high_watermarks() in two steps: entries taken now, files written
        (and fsynced) by the returned callable, in a thread."""
        files: list[tuple[Path, dict[TopicPartition, int]]] = []
        for log_dir in self.log_dirs:
            entries: dict[TopicPartition, int] = {}
            for tp in self.logs:
                if self._dir_of.get(tp) != log_dir:
                    continue
                hw = high_watermarks.get(tp, self._loaded_high_watermarks.get(tp))
                if hw is not None:
                    entries[tp] = hw
            files.append((log_dir / REPLICATION_OFFSET_CHECKPOINT, entries))
        return lambda: _write_all(files)

    def flush_dirty(self, now_ms: int) -> None:
        """Apply flush.ms, and flush segments rolled since the last flush."""
        for partition_log in self.logs.values():
            partition_log.maybe_flush_by_time(now_ms)

    def begin_due_flushes(self, now_ms: int) -> list[tuple[PartitionLog, FlushTask]]:
        """flush_dirty's first step for every log that is due (flush.ms passed, or a
        segment rolled): the fsyncs are the returned tasks' `run()`, for a thread, and
        each log's `complete_flush(task)` finishes it back on the loop."""
        started = []
        for partition_log in list(self.logs.values()):
            up_to = partition_log.flush_due(now_ms)
            task = partition_log.begin_flush(up_to) if up_to is not None else None
            if task is not None:
                started.append((partition_log, task))
        return started

    def cleanup(self, now_ms: int,
                high_watermarks: Callable[[TopicPartition], int | None] | None = None) -> list[LogSegment]:
        """Retention over every log whose cleanup.policy includes delete. Returns the
        detached segments; the caller deletes them after file.delete.delay.ms."""
        deleted: list[LogSegment] = []
        for tp, partition_log in self.logs.items():
            if partition_log.config.delete:
                hw = high_watermarks(tp) if high_watermarks else None
                deleted += partition_log.delete_old_segments(now_ms, high_watermark=hw)
        return deleted

    def shutdown(self) -> None:
        """Flush and close every log, write the checkpoints, mark the clean shutdown."""
        for partition_log in self.logs.values():
            partition_log.flush()
        self.checkpoint()
        for partition_log in self.logs.values():
            partition_log.close()
        for log_dir in self.log_dirs:
            (log_dir / CLEAN_SHUTDOWN_FILE).touch()
            fsync_dir(log_dir)
        log.info("logs flushed and closed; clean shutdown marked")


_CHECKPOINT_WRITES = threading.Lock()  # a writer thread and the shutdown's own write share temp files


def _write_all(files: list[tuple[Path, dict[TopicPartition, int]]]) -> None:
    with _CHECKPOINT_WRITES:
        for path, offsets in files:
            write_offsets(path, offsets)

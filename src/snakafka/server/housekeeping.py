"""The broker's periodic log work: retention, flushes, checkpoints, compaction and the
delayed removal of detached files, each a task that runs a job every so often.

Kafka runs these on its KafkaScheduler (log-retention, log-flusher,
recovery-point-checkpoint, highwatermark-checkpoint, the cleaner threads); here they are
asyncio tasks, and everything that touches the disk at length (fsyncs, file removal,
checkpoint writes, segment rewrites) runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from snakafka.clock import Clock
from snakafka.config.broker import BrokerConfig
from snakafka.log.cleaner import LogCleaner
from snakafka.log.log_manager import LogManager
from snakafka.replication.replica_manager import ReplicaManager

log = logging.getLogger(__name__)


async def every(interval_ms: int | Callable[[], int], job: Callable[[], Awaitable[Any]]) -> None:
    """Run `job` every `interval_ms` (a callable: read before each sleep, for a dynamic
    config); a failed run is logged and the next one runs on time."""
    while True:
        await asyncio.sleep(max(interval_ms() if callable(interval_ms) else interval_ms, 10) / 1000)
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background job %s failed", getattr(job, "__name__", job))


class Housekeeping:
    """The log jobs of one broker. `config` is read through a callable: dynamic broker
    configs (log.cleaner.backoff.ms, say) change it while the broker runs."""

    def __init__(self, config: Callable[[], BrokerConfig], clock: Clock, log_manager: LogManager,
                 replica_manager: ReplicaManager, cleaner: LogCleaner) -> None:
        self.config, self.clock = config, clock
        self.log_manager, self.replica_manager, self.cleaner = log_manager, replica_manager, cleaner
        # (due time ms, file removal): segments and partition directories already
        # detached from their logs, removed after log.segment.delete.delay.ms
        self._pending_deletes: list[tuple[int, Callable[[], None]]] = []

    def start(self) -> list[asyncio.Task[None]]:
        config = self.config()
        tasks = [
            asyncio.create_task(every(config.log_retention_check_interval_ms, self._retention), name="retention"),
            asyncio.create_task(every(min(config.log_flush_scheduler_interval_ms, 1000), self._flush), name="flush"),
            asyncio.create_task(every(config.log_flush_offset_checkpoint_interval_ms, self._checkpoint),
                                name="checkpoint"),
            asyncio.create_task(every(min(max(config.log_segment_delete_delay_ms, 100), 1000), self._delete_due_files),
                                name="file-deleter"),
            asyncio.create_task(  # Kafka's highwatermark-checkpoint task
                every(config.replica_high_watermark_checkpoint_interval_ms, self._checkpoint_high_watermarks),
                name="hw-checkpoint"),
        ]
        if config.log_cleaner_enable:
            tasks.append(asyncio.create_task(every(lambda: self.config().log_cleaner_backoff_ms, self._clean),
                                             name="log-cleaner"))
        return tasks

    def delete_later(self, removal: list[Any] | Callable[[], None]) -> None:
        """Remove detached segments (a list) or run a removal after
        log.segment.delete.delay.ms, off the loop: in-flight fetches that still send from
        them finish first."""
        if isinstance(removal, list):
            if not removal:
                return
            segments = removal

            def delete_segments() -> None:
                for segment in segments:
                    segment.delete()

            removal = delete_segments
        self._pending_deletes.append((self.clock.time_ms() + self.config().log_segment_delete_delay_ms, removal))

    def write_high_watermarks(self) -> None:
        """The clean shutdown's high watermark checkpoint; a failure (a full disk) is logged
        and the shutdown goes on: the next start falls back to the recovery points."""
        try:
            self.replica_manager.checkpoint_high_watermarks()
        except OSError:
            log.exception("broker %d: writing the high watermark checkpoint at shutdown", self.config().broker_id)

    async def _retention(self) -> None:
        """Retention detaches expired segments at once (renamed *.deleted); their files
        are removed later (delete_later)."""
        self.delete_later(self.log_manager.cleanup(self.clock.time_ms()))

    async def _delete_due_files(self) -> None:
        now = self.clock.time_ms()
        due = [removal for when, removal in self._pending_deletes if when <= now]
        if due:
            self._pending_deletes = [(w, r) for w, r in self._pending_deletes if w > now]
            await asyncio.to_thread(lambda: [removal() for removal in due])

    async def _clean(self) -> None:
        """Compaction: plan on the loop, rewrite segments in a thread, swap on the loop."""
        now = self.clock.time_ms()
        replaced = await self.cleaner.run_once(self.log_manager.all_logs(), now, upper_bound=self._high_watermark)
        self.delete_later(replaced)  # old segments, renamed .deleted: removed later, like retention's

    def _high_watermark(self, partition_log: Any) -> int | None:
        part = self.replica_manager.partitions.get((partition_log.topic, partition_log.partition))
        return part.high_watermark if part is not None else None

    async def _flush(self) -> None:
        """flush.ms and segment rolls: the fsyncs run in a thread, off the event loop."""
        started = self.log_manager.begin_due_flushes(self.clock.time_ms())
        if started:
            def run_all() -> None:
                for _, task in started:
                    task.run()

            await asyncio.to_thread(run_all)
            for partition_log, task in started:
                partition_log.complete_flush(task)

    async def _checkpoint(self) -> None:
        await asyncio.to_thread(self.log_manager.checkpoint_writer())

    async def _checkpoint_high_watermarks(self) -> None:
        await asyncio.to_thread(self.log_manager.high_watermarks_writer(self.replica_manager.high_watermarks()))

"""Routes appends and fetches to the partitions this broker holds.

It creates and drops Partition objects as metadata changes, appends produce data on the
leader (answering acks=0/1/-1), serves fetches from leaders (long poll on max_wait_ms /
min_bytes, response and partition byte limits), and wakes waiting fetches on appends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from snakafka.cluster.metadata_cache import MetadataCache
from snakafka.log.log_config import LogConfig
from snakafka.log.log_manager import LogManager
from snakafka.log.partition_log import FileSlice, OffsetOutOfRangeError
from snakafka.protocol.batch import BatchError
from snakafka.protocol.errors import ErrorCode, KafkaError
from snakafka.replication.partition import LeaderAppend, Partition
from snakafka.replication.purgatory import Watchers, wait_until

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


@dataclass(slots=True)
class ProduceResult:
    error: ErrorCode = ErrorCode.none
    base_offset: int = -1
    log_append_time: int = -1
    log_start_offset: int = -1
    message: str | None = None


@dataclass(slots=True)
class FetchRequestPartition:
    topic: str
    partition: int
    fetch_offset: int
    max_bytes: int
    current_leader_epoch: int = -1


@dataclass(slots=True)
class FetchResult:
    topic: str
    partition: int
    error: ErrorCode = ErrorCode.none
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1
    records: FileSlice | None = None
    aborted: list[tuple[int, int]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return 0 if self.records is None else self.records.size


class ReplicaManager:
    def __init__(
        self,
        broker_id: int,
        log_manager: LogManager,
        cache: MetadataCache,
        config_for: Callable[[str], LogConfig],
    ) -> None:
        self.broker_id = broker_id
        self.log_manager = log_manager
        self.cache = cache
        self.config_for = config_for
        self.partitions: dict[TopicPartition, Partition] = {}
        self.fetch_watchers = Watchers()

    # -- metadata -------------------------------------------------------------------

    def apply_metadata(self) -> list[Callable[[], None]]:
        """Make local partitions match the metadata cache. Logs of partitions no longer
        here are detached at once (directory renamed `-delete`); the returned callables
        remove their files, for the caller to run later and off the loop."""
        wanted: set[TopicPartition] = set()
        for name, topic in self.cache.topics.items():
            config = self.config_for(name)
            for p, state in topic.partitions.items():
                if self.broker_id not in state.replicas:
                    continue
                tp = (name, p)
                wanted.add(tp)
                part = self.partitions.get(tp)
                if part is None:
                    log_ = self.log_manager.get_or_create_log(name, p, config)
                    part = Partition(name, p, self.broker_id, log_, state)
                    part.update_state(state)
                    self.partitions[tp] = part
                else:
                    if part.log.config != config:
                        part.log.update_config(config)
                    if part.state != state:
                        part.update_state(state)
        removals = []
        for tp in [tp for tp in self.partitions if tp not in wanted]:
            del self.partitions[tp]
            removals.append(self.log_manager.detach_log(*tp))
            self.fetch_watchers.wake(tp)
        return removals

    def get_partition(self, topic: str, partition: int) -> Partition:
        part = self.partitions.get((topic, partition))
        if part is None:
            if self.cache.partition(topic, partition) is not None:
                raise KafkaError(ErrorCode.not_leader_or_follower)
            raise KafkaError(ErrorCode.unknown_topic_or_partition)
        return part

    def leader_partition(self, topic: str, partition: int, leader_epoch: int | None = None) -> Partition:
        part = self.get_partition(topic, partition)
        part.check_leader(leader_epoch)
        return part

    # -- produce --------------------------------------------------------------------

    def append_records(self, acks: int, entries: dict[TopicPartition, bytes]) -> dict[TopicPartition, ProduceResult]:
        """Append on leaders. Synchronous: the data reaches the OS before this returns,
        and with an ISR of one, acks=-1 is satisfied at once."""
        results: dict[TopicPartition, ProduceResult] = {}
        for tp, data in entries.items():
            try:
                part = self.leader_partition(*tp)
                info: LeaderAppend = part.append_as_leader(data, acks)
            except KafkaError as exc:
                results[tp] = ProduceResult(error=exc.code, message=exc.message)
                continue
            except BatchError as exc:
                log.info("rejected produce to %s-%d: %s", tp[0], tp[1], exc)
                results[tp] = ProduceResult(error=ErrorCode(exc.error_code), message=str(exc))
                continue
            results[tp] = ProduceResult(
                base_offset=info.first_offset,
                log_append_time=info.log_append_time,
                log_start_offset=info.log_start_offset,
            )
            if not info.duplicate:
                self.fetch_watchers.wake(tp)
        return results

    # -- fetch ----------------------------------------------------------------------

    def read_once(
        self, requests: list[FetchRequestPartition], max_bytes: int, *, committed_only: bool, replica_id: int = -1
    ) -> tuple[list[FetchResult], int, bool]:
        """One pass over the partitions: (results, bytes, any error)."""
        results: list[FetchResult] = []
        total = 0
        errored = False
        for req in requests:
            res = FetchResult(req.topic, req.partition)
            results.append(res)
            try:
                part = self.leader_partition(req.topic, req.partition, req.current_leader_epoch)
                log_ = part.log
                res.high_watermark = part.high_watermark
                res.last_stable_offset = part.high_watermark
                res.log_start_offset = log_.log_start_offset
                limit = min(req.max_bytes, max_bytes - total)
                if limit <= 0 and total > 0:
                    continue
                read = part.read(req.fetch_offset, max(limit, 0), committed_only=committed_only, min_one_batch=total == 0)
                res.records = read.slice
                total += res.size
            except KafkaError as exc:
                res.error = exc.code
                errored = True
            except OffsetOutOfRangeError:
                res.error = ErrorCode.offset_out_of_range  # Kafka answers the partition, not the connection
                errored = True
        return results, total, errored

    async def fetch(
        self,
        requests: list[FetchRequestPartition],
        *,
        max_wait_ms: int,
        min_bytes: int,
        max_bytes: int,
        committed_only: bool = True,
    ) -> list[FetchResult]:
        deadline = time.monotonic() + max_wait_ms / 1000
        keys = [(r.topic, r.partition) for r in requests]
        while True:
            results, total, errored = self.read_once(requests, max_bytes, committed_only=committed_only)
            remaining = deadline - time.monotonic()
            if total >= min_bytes or errored or remaining <= 0 or not requests:
                return results
            waiter = self.fetch_watchers.watch(keys)
            try:
                woken = await wait_until(waiter, remaining)
            finally:
                self.fetch_watchers.unwatch(keys, waiter)
            if not woken:
                return self.read_once(requests, max_bytes, committed_only=committed_only)[0]

    async def close(self) -> None:
        self.fetch_watchers.wake_all()
        await asyncio.sleep(0)

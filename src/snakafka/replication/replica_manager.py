"""Routes appends and fetches to the partitions this broker holds.

It creates and drops Partition objects as metadata changes, appends produce data on the
leader (answering acks=0/1/-1; acks=-1 waits for the high watermark), serves fetches from
leaders (long poll on max_wait_ms / min_bytes, response and partition byte limits), and
wakes waiting fetches on appends. Fetches from followers (replica_id >= 0) move the
high watermark and the ISR (Kafka's ZooKeeper-mode design: the leader writes its ISR
changes to the metadata store with a compare-and-set); the partitions this broker
follows are fetched by the ReplicaFetcherManager (fetcher.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from snakafka.cluster.metadata_cache import MetadataCache
from snakafka.cluster.model import NO_LEADER
from snakafka.cluster.store.base import MetadataStore
from snakafka.log.log_config import LogConfig
from snakafka.log.log_manager import LogManager
from snakafka.log.partition_log import FileSlice, OffsetOutOfRangeError
from snakafka.protocol.batch import BatchError
from snakafka.protocol.control import TxnMarker, encode_marker_batch
from snakafka.protocol.errors import ErrorCode, KafkaError
from snakafka.replication.delayed import (
    DelayedFetch,
    DelayedProduce,
    FetchParams,
    data_key,
    hw_key,
    log_start_key,
)
from snakafka.replication.fetch_session import DEFAULT_SLOTS, FetchSessionCache
from snakafka.replication.fetcher import FetcherConfig, ReplicaFetcherManager
from snakafka.replication.partition import LeaderAppend, Partition, PendingIsrChange
from snakafka.replication.purgatory import DelayedOperationPurgatory
from snakafka.replication.stats import BrokerTopicStats
from snakafka.replication.throttle import ReplicationQuota
from snakafka.scheduler import LoopScheduler, Scheduler

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


@dataclass(slots=True)
class ProduceResult:
    error: ErrorCode = ErrorCode.none
    base_offset: int = -1
    log_append_time: int = -1
    log_start_offset: int = -1
    message: str | None = None
    last_offset: int = -1
    record_errors: tuple[tuple[int, str], ...] = ()  # (batch index, message): Produce v8+ record_errors


@dataclass(slots=True)
class FetchRequestPartition:
    topic: str
    partition: int
    fetch_offset: int
    max_bytes: int
    current_leader_epoch: int = -1
    last_fetched_epoch: int = -1  # a follower's (Fetch v12+): checked for divergence
    log_start_offset: int = -1  # a follower's own (Fetch v5+): DeleteRecords waits on it


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
    diverging_epoch: tuple[int, int] | None = None  # (epoch, end offset) for a diverged follower

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
        *,
        store: MetadataStore | None = None,
        fetcher_config: FetcherConfig | None = None,
        lag_time_max_ms: int = 30000,
        time_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        scheduler: Scheduler | None = None,
        fetch_session_slots: int = DEFAULT_SLOTS,
    ) -> None:
        self.broker_id = broker_id
        self.log_manager = log_manager
        self.cache = cache
        self.config_for = config_for
        self.store = store
        self.lag_time_max_ms = lag_time_max_ms
        self.time_ms = time_ms
        self.partitions: dict[TopicPartition, Partition] = {}
        self._topic_ids: dict[str, uuid.UUID] = {}  # as of the last apply: a recreated topic starts afresh
        # Waiting requests expire on the scheduler's clock (a ManualScheduler in tests).
        self.scheduler: Scheduler = scheduler or LoopScheduler()
        self.produce_purgatory: DelayedOperationPurgatory[dict[TopicPartition, ErrorCode]] = \
            DelayedOperationPurgatory("Produce", self.scheduler)
        self.fetch_purgatory: DelayedOperationPurgatory[list[FetchResult]] = \
            DelayedOperationPurgatory("Fetch", self.scheduler)
        # DeleteRecords waiting for the followers' log start offsets (delete_records.py).
        self.delete_records_purgatory: DelayedOperationPurgatory[dict[TopicPartition, int]] = \
            DelayedOperationPurgatory("DeleteRecords", self.scheduler)
        self.fetch_sessions = FetchSessionCache(fetch_session_slots)  # KIP-227, for followers and consumers
        # Each follower's log start offset as its last fetch reported it, per partition led
        # here: DeleteRecords completes once every live replica's is past its offset.
        self.follower_log_starts: dict[TopicPartition, dict[int, int]] = {}
        self.leader_quota: ReplicationQuota | None = None  # replication throttle of what followers fetch here
        self.fetchers = ReplicaFetcherManager(
            fetcher_config or FetcherConfig(broker_id, "PLAINTEXT"), self.partitions.get,
            lambda broker: self.cache.brokers.get(broker))  # the cache replaces its dicts on refresh
        self._background: set[asyncio.Task[None]] = set()
        self.topic_stats = BrokerTopicStats()  # read by the metrics collector at scrape time

    # -- metadata -------------------------------------------------------------------

    def apply_metadata(self) -> list[Callable[[], None]]:
        """Make local partitions match the metadata cache. Logs of partitions no longer
        here are detached at once (directory renamed `-delete`); the returned callables
        remove their files, for the caller to run later and off the loop."""
        wanted: set[TopicPartition] = set()
        follow: dict[TopicPartition, tuple[int, int]] = {}
        now = self.time_ms()
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
                    part = Partition(name, p, self.broker_id, log_, state,
                                     self.log_manager.checkpointed_high_watermark(name, p))
                    part.update_state(state, now)
                    self.partitions[tp] = part
                else:
                    if part.log.config != config:
                        part.log.update_config(config)
                    if part.state != state and part.is_older(state) and self._topic_ids.get(name) == topic.topic_id:
                        log.debug("broker %d: %s-%d: ignoring an older partition state %s (holding %s)",
                                  self.broker_id, name, p, state, part.state)
                        state = part.state
                    elif part.state != state:
                        part.update_state(state, now)
                        self._wake(tp)  # the ISR or leadership moved: waiting acks re-check
                if state.leader != self.broker_id and state.leader != NO_LEADER:
                    follow[tp] = (state.leader, state.leader_epoch)
        self._topic_ids = {name: topic.topic_id for name, topic in self.cache.topics.items()}
        self.fetchers.update({tp: target for tp, target in follow.items() if target[0] in self.cache.brokers})
        removals = []
        for tp in [tp for tp in self.partitions if tp not in wanted]:
            del self.partitions[tp]
            if tp[0] not in self.cache.topics:
                self.topic_stats.forget_topic(tp[0])
            removals.append(self.log_manager.detach_log(*tp))
            self._wake(tp)
        return removals

    def high_watermarks(self) -> dict[TopicPartition, int]:
        """Each local partition's high watermark, for the replication-offset-checkpoint
        (Kafka's checkpointHighWatermarks writes leaders' and followers' alike)."""
        return {tp: part.high_watermark for tp, part in self.partitions.items()}

    def checkpoint_high_watermarks(self) -> None:
        """Write every log dir's replication-offset-checkpoint (periodically and at a
        clean shutdown)."""
        self.log_manager.checkpoint_high_watermarks(self.high_watermarks())

    def _wake(self, tp: TopicPartition) -> None:
        """Leadership, the ISR or the partition itself changed: every waiting request on
        it re-checks (acks=all answers first, then fetches)."""
        self._hw_moved(tp)
        self.fetch_purgatory.check_and_complete(data_key(tp))
        self.delete_records_purgatory.check_and_complete(log_start_key(tp))

    def _hw_moved(self, tp: TopicPartition) -> None:
        key = hw_key(tp)
        self.produce_purgatory.check_and_complete(key)
        self.fetch_purgatory.check_and_complete(key)

    def _appended(self, tp: TopicPartition, hw_before: int, part: Partition) -> None:
        """After an append on the leader: followers' fetches see new data; with an ISR
        of one the high watermark moved too."""
        self.fetch_purgatory.check_and_complete(data_key(tp))
        if part.high_watermark != hw_before:
            self._hw_moved(tp)

    def deadline(self, timeout_ms: int) -> int:
        """The scheduler-clock deadline of a request waiting `timeout_ms`."""
        return self.scheduler.clock.monotonic_ms() + max(timeout_ms, 0)

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
                hw_before = part.high_watermark
                info: LeaderAppend = part.append_as_leader(data, acks)
            except KafkaError as exc:
                results[tp] = ProduceResult(error=exc.code, message=exc.message)
                continue
            except BatchError as exc:
                log.info("rejected produce to %s-%d: %s", tp[0], tp[1], exc)
                results[tp] = ProduceResult(error=ErrorCode(exc.error_code), message=str(exc),
                                            record_errors=exc.record_errors)
                continue
            results[tp] = ProduceResult(
                base_offset=info.first_offset,
                log_append_time=info.log_append_time,
                log_start_offset=info.log_start_offset,
                last_offset=info.last_offset,
            )
            if not info.duplicate:
                self._appended(tp, hw_before, part)
                stats = self.topic_stats
                stats.bytes_in[tp[0]] += len(data)
                stats.messages_in[tp[0]] += info.last_offset - info.first_offset + 1
        return results

    def append_and_delay(self, acks: int, entries: dict[TopicPartition, bytes], timeout_ms: int
                         ) -> tuple[dict[TopicPartition, ProduceResult], DelayedProduce | None]:
        """Append now (synchronously, in the caller's order); for acks=-1 also the
        DelayedProduce that completes once every appended partition's high watermark
        passes its records (None if nothing waits). `finish_produce` merges its answer."""
        results = self.append_records(acks, entries)
        if acks != -1:
            return results, None
        required = {tp: r.last_offset + 1 for tp, r in results.items() if r.error == ErrorCode.none}
        if not required:
            return results, None
        op = DelayedProduce(self.deadline(timeout_ms), required, self.partitions.get)
        self.produce_purgatory.try_complete_else_watch(op, op.keys)
        return results, op

    def finish_produce(self, results: dict[TopicPartition, ProduceResult], errors: dict[TopicPartition, ErrorCode]
                       ) -> dict[TopicPartition, ProduceResult]:
        for tp, error in errors.items():
            if error == ErrorCode.request_timed_out:
                log.info("broker %d: %s-%d: acks=all write timed out waiting for the ISR (hw %s)", self.broker_id,
                         tp[0], tp[1], getattr(self.partitions.get(tp), "high_watermark", None))
            if error != ErrorCode.none:
                results[tp] = ProduceResult(error=error)
        return results

    async def append_and_wait(
        self, acks: int, entries: dict[TopicPartition, bytes], timeout_ms: int
    ) -> dict[TopicPartition, ProduceResult]:
        """Append, then for acks=-1 wait (up to timeout_ms) until every appended
        partition's high watermark passes its last offset (Kafka's DelayedProduce)."""
        results, op = self.append_and_delay(acks, entries, timeout_ms)
        if op is None:
            return results
        return self.finish_produce(results, await op.wait())

    async def write_txn_markers(self, marker: TxnMarker, partitions: list[tuple[str, int]], timeout_ms: int
                                ) -> dict[tuple[str, int], ErrorCode]:
        """Append one control batch (COMMIT or ABORT end-transaction marker of
        marker.producer_id at marker.producer_epoch, with marker.coordinator_epoch) to each
        partition this broker leads, then wait like acks=-1 (high watermark past the
        marker) up to timeout_ms. Per partition: ErrorCode.none, or NOT_LEADER_OR_FOLLOWER /
        UNKNOWN_TOPIC_OR_PARTITION / INVALID_PRODUCER_EPOCH / TRANSACTION_COORDINATOR_FENCED /
        NOT_ENOUGH_REPLICAS / REQUEST_TIMED_OUT. Fetches waiting on these partitions are
        woken: a marker moves the last stable offset that READ_COMMITTED consumers wait on."""
        data = encode_marker_batch(marker, self.time_ms())
        errors: dict[TopicPartition, ErrorCode] = {}
        required: dict[TopicPartition, int] = {}
        kind = "COMMIT" if marker.commit else "ABORT"
        for tp in dict.fromkeys(partitions):
            try:
                part = self.leader_partition(*tp)
                hw_before = part.high_watermark
                info = part.append_as_leader(data, -1, allow_control=True)
            except KafkaError as exc:
                log.info("broker %d: %s-%d: %s marker for producer %d epoch %d refused: %s", self.broker_id, tp[0],
                         tp[1], kind, marker.producer_id, marker.producer_epoch, exc.message or exc.code.name)
                errors[tp] = exc.code
                continue
            except BatchError as exc:
                errors[tp] = ErrorCode(exc.error_code)
                continue
            log.debug("broker %d: %s-%d: %s marker for producer %d at offset %d", self.broker_id, tp[0], tp[1], kind,
                      marker.producer_id, info.first_offset)
            self._appended(tp, hw_before, part)
            required[tp] = info.last_offset + 1
        if required:
            op = DelayedProduce(self.deadline(timeout_ms), required, self.partitions.get)
            self.produce_purgatory.try_complete_else_watch(op, op.keys)
            errors.update(await op.wait())
        return errors

    # -- fetch ----------------------------------------------------------------------

    def read_once(
        self, requests: list[FetchRequestPartition], max_bytes: int, *, committed_only: bool, replica_id: int = -1,
        read_committed: bool = False,
    ) -> tuple[list[FetchResult], int, bool]:
        """One pass over the partitions: (results, bytes, any error or divergence).
        A follower's read (replica_id >= 0) goes up to the log end; where the follower
        is was recorded when its fetch arrived (`record_follower_fetch`), not here, so
        reading again (a long poll's answer) changes nothing. A READ_COMMITTED read stops
        at the last stable offset and lists the aborted transactions overlapping the
        data returned."""
        results: list[FetchResult] = []
        total = 0
        errored = False
        for req in requests:
            res = FetchResult(req.topic, req.partition)
            results.append(res)
            try:
                part = self.leader_partition(req.topic, req.partition, req.current_leader_epoch)
                log_ = part.log
                res.log_start_offset = log_.log_start_offset
                if replica_id >= 0:
                    if replica_id not in part.state.replicas:
                        raise KafkaError(ErrorCode.not_leader_or_follower)
                    if req.last_fetched_epoch >= 0 and self._diverged(part, req, res):
                        errored = True
                        continue
                res.high_watermark = part.high_watermark
                res.last_stable_offset = part.last_stable_offset
                limit = min(req.max_bytes, max_bytes - total)
                if limit <= 0 and total > 0:
                    continue
                quota = self.leader_quota if replica_id >= 0 else None
                if quota is not None and quota.holds_back(req.topic, req.partition, replica_id in part.state.isr,
                                                          time.monotonic()):
                    continue  # throttled: this follower gets no data this time
                if req.fetch_offset == (part.high_watermark if committed_only else log_.log_end_offset):
                    continue  # at the end of what it may read (most partitions of a session): nothing to read
                read = part.read(req.fetch_offset, max(limit, 0), committed_only=committed_only, min_one_batch=total == 0,
                                 read_committed=read_committed)
                res.records = read.slice
                total += res.size
                if quota is not None and res.size and quota.throttled(req.topic, req.partition):
                    quota.record(res.size, time.monotonic())
                if read_committed and read.slice is not None:
                    res.aborted = [(a.producer_id, a.first_offset)
                                   for a in log_.aborted_transactions(req.fetch_offset, read.upper_bound)]
            except KafkaError as exc:
                res.error = exc.code
                errored = True
            except OffsetOutOfRangeError:
                res.error = ErrorCode.offset_out_of_range  # Kafka answers the partition, not the connection
                errored = True
        return results, total, errored

    def _diverged(self, part: Partition, req: FetchRequestPartition, res: FetchResult) -> bool:
        """Kafka's Partition.fetchRecords check: the follower's last epoch ends earlier
        here than where it fetches from, or this leader never had it: answer where the
        histories part (no records). A leader with no epoch at or below it answers
        OFFSET_OUT_OF_RANGE, and the follower falls back to its high watermark."""
        epoch, end = part.log.end_offset_for_epoch(req.last_fetched_epoch)
        if epoch < 0 or end < 0:
            raise OffsetOutOfRangeError(f"no leader epoch at or below {req.last_fetched_epoch}")
        if epoch < req.last_fetched_epoch or end < req.fetch_offset:
            res.diverging_epoch = (epoch, end)
            res.high_watermark = part.high_watermark
            res.last_stable_offset = part.last_stable_offset
            return True
        return False

    def record_follower_fetch(self, requests: list[FetchRequestPartition], replica_id: int) -> None:
        """A follower's fetch arrived: record, once, where it is in each partition it
        asks for (Kafka's updateFollowerFetchState), which may move the high watermark
        (answering acks=all produces) and grow the ISR. Partitions it may not fetch, or
        whose history diverged from this leader's, are skipped: the read answers them."""
        now_ms = self.time_ms()
        for req in requests:
            part = self.partitions.get((req.topic, req.partition))
            if part is None or replica_id not in part.state.replicas:
                continue
            try:
                part.check_leader(req.current_leader_epoch)
                if req.last_fetched_epoch >= 0:
                    epoch, end = part.log.end_offset_for_epoch(req.last_fetched_epoch)
                    if epoch < req.last_fetched_epoch or end < req.fetch_offset:
                        continue
            except KafkaError:
                continue
            if part.log.log_start_offset <= req.fetch_offset <= part.log.log_end_offset:
                self._follower_fetched(part, replica_id, req.fetch_offset, now_ms)
            starts = self.follower_log_starts.setdefault((req.topic, req.partition), {})
            if req.log_start_offset >= 0 and starts.get(replica_id) != req.log_start_offset:
                starts[replica_id] = req.log_start_offset
                self.delete_records_purgatory.check_and_complete(log_start_key((req.topic, req.partition)))

    def _follower_fetched(self, part: Partition, replica_id: int, fetch_offset: int, now_ms: int) -> None:
        moved, expand = part.on_follower_fetch(replica_id, fetch_offset, now_ms)
        if moved:
            self._hw_moved((part.topic, part.partition))
        if expand is not None:
            log.info("broker %d: %s-%d: follower %d caught up (offset %d, hw %d): expanding isr %s -> %s",
                     self.broker_id, part.topic, part.partition, replica_id, fetch_offset, part.high_watermark,
                     list(part.state.isr), list(expand))
            self._start_isr_change(part, expand)

    # -- ISR changes ----------------------------------------------------------------

    def _start_isr_change(self, part: Partition, isr: tuple[int, ...]) -> None:
        if self.store is None:
            return
        change = part.propose_isr(isr)  # decided on the state the partition holds now
        task = asyncio.create_task(self._alter_isr(part, change), name=f"alter-isr-{part.topic}-{part.partition}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _alter_isr(self, part: Partition, change: PendingIsrChange) -> None:
        """Write the new ISR (same leader and epoch) with a compare-and-set on the state it
        was decided on; a lost race leaves the decision to the next fetch or shrink check,
        made against the state the store's watch brings."""
        assert self.store is not None
        isr = list(change.proposed.isr)
        try:
            ok = await self.store.alter_isr(part.topic, part.partition, change.decided_on, change.proposed)
        except Exception:
            log.exception("broker %d: %s-%d: ISR update to %s failed", self.broker_id, part.topic, part.partition, isr)
            ok = False
        part.isr_change_done(change, ok, self.time_ms())
        tp = (part.topic, part.partition)
        if not ok:
            log.info("broker %d: %s-%d: ISR update to %s (decided on partition epoch %d) lost a race with another "
                     "writer; re-deciding on new metadata", self.broker_id, part.topic, part.partition, isr,
                     change.decided_on.partition_epoch)
        else:
            log.info("broker %d: %s-%d: isr now %s (partition epoch %d)", self.broker_id, part.topic, part.partition,
                     isr, change.proposed.partition_epoch)
            if len(change.proposed.isr) < len(change.decided_on.isr):
                self.topic_stats.isr_shrinks += 1
            elif len(change.proposed.isr) > len(change.decided_on.isr):
                self.topic_stats.isr_expands += 1
        self._wake(tp)  # the high watermark rule's ISR changed, or the maximal ISR shrank back

    async def shrink_isrs(self) -> None:
        """Drop followers that have not caught up within replica.lag.time.max.ms (run every
        half of it, as Kafka's isr-expiration task)."""
        now = self.time_ms()
        for part in list(self.partitions.values()):
            isr = part.isr_to_shrink(now, self.lag_time_max_ms)
            if isr is not None:
                log.info("broker %d: %s-%d: shrinking isr %s -> %s (followers behind for over %d ms)", self.broker_id,
                         part.topic, part.partition, list(part.state.isr), list(isr), self.lag_time_max_ms)
                self._start_isr_change(part, isr)

    async def fetch(
        self,
        requests: list[FetchRequestPartition],
        *,
        max_wait_ms: int,
        min_bytes: int,
        max_bytes: int,
        committed_only: bool = True,
        replica_id: int = -1,
        read_committed: bool = False,
    ) -> list[FetchResult]:
        """Kafka's fetchMessages: record a follower's position (once), read, and if
        there is less than min_bytes and no error, park a DelayedFetch until there is
        enough, a partition changes under it, or max_wait_ms passes."""
        results, op = self.fetch_or_delay(requests, max_wait_ms=max_wait_ms, min_bytes=min_bytes, max_bytes=max_bytes,
                                          committed_only=committed_only, replica_id=replica_id,
                                          read_committed=read_committed)
        if op is None:
            return results
        return self.fetch_completed(replica_id, await op.wait())

    def fetch_or_delay(
        self,
        requests: list[FetchRequestPartition],
        *,
        max_wait_ms: int,
        min_bytes: int,
        max_bytes: int,
        committed_only: bool = True,
        replica_id: int = -1,
        read_committed: bool = False,
    ) -> tuple[list[FetchResult], DelayedFetch | None]:
        """`fetch` without the wait: the results now, or the DelayedFetch parked in the
        purgatory (its result, through `fetch_completed`, is the answer). The connection
        then writes the answer from the completion itself (in the append or the follower
        fetch that completes it), without a task waking up first."""
        if replica_id >= 0:
            self.record_follower_fetch(requests, replica_id)

        def read() -> list[FetchResult]:
            return self.read_once(requests, max_bytes, committed_only=committed_only, replica_id=replica_id,
                                  read_committed=read_committed)[0]

        results, total, errored = self.read_once(requests, max_bytes, committed_only=committed_only,
                                                 replica_id=replica_id, read_committed=read_committed)
        if total >= min_bytes or errored or max_wait_ms <= 0 or not requests:
            return self._count_bytes_out(replica_id, results), None
        params = FetchParams(replica_id, min_bytes, max_bytes, committed_only, read_committed)
        op = DelayedFetch(self.deadline(max_wait_ms), requests, params, self.partitions.get, read)
        keys: list[Hashable] = op.keys
        if self.fetch_purgatory.try_complete_else_watch(op, keys):
            return self.fetch_completed(replica_id, op.result or []), None
        return [], op

    def fetch_completed(self, replica_id: int, results: list[FetchResult]) -> list[FetchResult]:
        """The answer of a DelayedFetch that completed (its bytes counted)."""
        return self._count_bytes_out(replica_id, results)

    def _count_bytes_out(self, replica_id: int, results: list[FetchResult]) -> list[FetchResult]:
        """Kafka's BytesOut: what consumers are sent (followers: ReplicationBytesOut)."""
        if replica_id < 0:
            bytes_out = self.topic_stats.bytes_out
            for r in results:
                if r.records is not None:
                    bytes_out[r.topic] += r.records.size
        return results

    async def close(self) -> None:
        await self.fetchers.close()
        for task in list(self._background):
            task.cancel()
        self.produce_purgatory.complete_all()
        self.fetch_purgatory.complete_all()
        await asyncio.sleep(0)

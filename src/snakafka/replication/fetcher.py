"""The follower side of replication: fetch from partition leaders, append what they have.

As Kafka's ReplicaFetcherManager, one fetcher task per leader broker serves every
partition this broker follows under that leader. Each loops on Fetch v12 (hand-written codec: protocol/replica_fetch.py) with this
broker's id as replica_id from the local log end offset, and appends the leader's batches
verbatim (offsets and leader epochs kept). Logs that diverged from the leader's (this
broker led once and wrote records nobody else got) are truncated where the leader's
diverging_epoch answer says (KIP-595 style, as Kafka 2.7+ does): a broker does not
truncate when it becomes follower, the first fetch finds out.

Everything runs on the broker's event loop; a fetch response is checked against the
current assignment before it is applied, since leadership may have moved during the wait.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from snakafka.client.connection import BrokerConnection
from snakafka.client.security import PLAINTEXT, ClientSecurity
from snakafka.cluster.model import BrokerInfo
from snakafka.log.partition_log import UnexpectedAppendOffsetError
from snakafka.protocol import replica_fetch
from snakafka.protocol.batch import BatchError, whole_batches_size
from snakafka.protocol.partitioner import java_string_hash, kafka_abs
from snakafka.protocol.replica_fetch import (
    PartitionData,
    PartitionFetch,
    ReplicaFetchRequest,
)
from snakafka.replication.fetch_session import INITIAL_EPOCH, next_epoch
from snakafka.replication.isr import truncation_after_divergence
from snakafka.replication.throttle import ReplicationQuota

if TYPE_CHECKING:
    from snakafka.replication.partition import Partition

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]
_SESSION_ERRORS = frozenset({ErrorCode.fetch_session_id_not_found.value, ErrorCode.invalid_fetch_session_epoch.value})
_RETRIABLE = frozenset({ErrorCode.not_leader_or_follower, ErrorCode.fenced_leader_epoch,
                        ErrorCode.unknown_leader_epoch, ErrorCode.unknown_topic_or_partition})


@dataclass(frozen=True, slots=True)
class FetcherConfig:
    """The replica.* settings of a follower's fetches (Kafka's names and defaults)."""

    broker_id: int
    listener: str  # inter.broker.listener.name, else the first listener
    max_wait_ms: int = 500  # replica.fetch.wait.max.ms
    min_bytes: int = 1  # replica.fetch.min.bytes
    max_bytes: int = 10 << 20  # replica.fetch.response.max.bytes
    partition_max_bytes: int = 1 << 20  # replica.fetch.max.bytes
    backoff_ms: int = 1000  # replica.fetch.backoff.ms
    num_fetchers: int = 1  # num.replica.fetchers: fetcher tasks (connections) per leader broker
    security: ClientSecurity = PLAINTEXT  # the inter-broker listener's TLS / SASL client settings


def fetcher_id(topic: str, partition: int, num_fetchers: int) -> int:
    """Kafka's AbstractFetcherManager.getFetcherId: Utils.abs(31 * topic.hashCode + partition)
    % num.replica.fetchers, in Java's 32-bit int arithmetic (Utils.abs(MIN_VALUE) is 0)."""
    h = (31 * java_string_hash(topic) + partition) & 0xFFFFFFFF
    return kafka_abs(h - (1 << 32) if h >= 1 << 31 else h) % max(num_fetchers, 1)


@dataclass(slots=True)
class _Fetcher:
    """One fetcher task of one leader broker and the partitions it fetches from that
    leader (tp -> leader epoch); a leader has up to num.replica.fetchers of them."""

    leader: int
    fetcher_id: int = 0
    partitions: dict[TopicPartition, int] = field(default_factory=dict)
    delayed_until: dict[TopicPartition, float] = field(default_factory=dict)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    rotation: int = 0  # where the next request starts in `partitions`
    task: asyncio.Task[None] | None = None
    # The fetch session (KIP-227) held with the leader: its id (0: none yet), the epoch of
    # the next request, and what the leader's session holds of each partition.
    session_id: int = 0
    session_epoch: int = INITIAL_EPOCH
    session_partitions: dict[TopicPartition, PartitionFetch] = field(default_factory=dict)

    def reset_session(self) -> None:
        self.session_id, self.session_epoch, self.session_partitions = 0, INITIAL_EPOCH, {}


@dataclass(slots=True)
class _Plan:
    """One fetch to send: the request, the leader epoch of every partition the answer may
    hold, and the partitions the leader's session holds once it is answered."""

    request: ReplicaFetchRequest
    sent: dict[TopicPartition, int]
    partitions: dict[TopicPartition, PartitionFetch]


THROTTLE_RECHECK_S = 0.1  # how soon a partition held back by the replication throttle is retried


class ReplicaFetcherManager:
    def __init__(self, config: FetcherConfig, partitions: Callable[[TopicPartition], Partition | None],
                 broker: Callable[[int], BrokerInfo | None]) -> None:
        self.config = config
        self._partition = partitions
        self._broker = broker
        self._fetchers: dict[tuple[int, int], _Fetcher] = {}  # (leader, fetcher id) -> its task
        self.quota: ReplicationQuota | None = None  # follower-side replication throttle

    @property
    def assignments(self) -> dict[TopicPartition, int]:
        """tp -> the leader fetched from (for tests and logging)."""
        return {tp: f.leader for f in self._fetchers.values() for tp in f.partitions}

    def update(self, wanted: dict[TopicPartition, tuple[int, int]]) -> None:
        """Make the fetchers match `wanted` (tp -> (leader, leader epoch)): start, stop,
        move partitions. Called after every metadata change."""
        for key, fetcher in list(self._fetchers.items()):
            for tp in list(fetcher.partitions):
                target = wanted.get(tp)
                if target is None or (target[0], self._fetcher_id(tp)) != key:
                    del fetcher.partitions[tp]
                    fetcher.delayed_until.pop(tp, None)
        for tp, (leader_id, epoch) in wanted.items():
            key = (leader_id, self._fetcher_id(tp))
            if key not in self._fetchers:
                self._fetchers[key] = _Fetcher(leader_id, key[1])
            fetcher = self._fetchers[key]
            if fetcher.partitions.get(tp) != epoch:
                if tp not in fetcher.partitions:
                    log.info("broker %d: following %s-%d, leader %d (epoch %d)", self.config.broker_id, tp[0], tp[1],
                             leader_id, epoch)
                fetcher.partitions[tp] = epoch
                fetcher.delayed_until.pop(tp, None)  # new metadata: retry at once
            fetcher.wakeup.set()
        for key, fetcher in list(self._fetchers.items()):
            if not fetcher.partitions:
                del self._fetchers[key]
                if fetcher.task is not None:
                    fetcher.task.cancel()
            elif fetcher.task is None or fetcher.task.done():  # a fetcher that died is restarted
                fetcher.task = asyncio.create_task(self._run(fetcher),
                                                   name=f"replica-fetcher-{fetcher.fetcher_id}-{fetcher.leader}")
                fetcher.task.add_done_callback(self._report_death)

    def _fetcher_id(self, tp: TopicPartition) -> int:
        return fetcher_id(tp[0], tp[1], self.config.num_fetchers)

    @property
    def fetcher_ids(self) -> dict[TopicPartition, tuple[int, int]]:
        """tp -> (leader, fetcher id) of the task fetching it (for tests and logging)."""
        return {tp: key for key, f in self._fetchers.items() for tp in f.partitions}

    def _report_death(self, task: asyncio.Task[None]) -> None:
        """Never let a fetcher die silently: its followers would fall out of the ISR with
        nothing in the log to say why. The next metadata update starts a new one."""
        if not task.cancelled() and task.exception() is not None:
            log.error("broker %d: %s died", self.config.broker_id, task.get_name(), exc_info=task.exception())

    async def close(self) -> None:
        tasks = [f.task for f in self._fetchers.values() if f.task is not None]
        self._fetchers.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("broker %d: replica fetcher failed while stopping", self.config.broker_id)

    # -- one fetcher --------------------------------------------------------------------

    async def _run(self, fetcher: _Fetcher) -> None:
        conn: BrokerConnection | None = None
        backoff = self.config.backoff_ms / 1000
        try:
            while True:
                plan = self._request(fetcher)
                if plan is None:
                    fetcher.wakeup.clear()
                    delays = [t for tp, t in fetcher.delayed_until.items() if tp in fetcher.partitions]
                    timeout = max(min(delays) - time.monotonic(), 0.01) if delays else None
                    try:
                        await asyncio.wait_for(fetcher.wakeup.wait(), timeout)
                    except TimeoutError:
                        pass
                    continue
                try:
                    if conn is None:
                        conn = await self._connect(fetcher.leader, fetcher.fetcher_id)
                    response = await conn.send_encoded(functools.partial(_encode, plan.request), _decode,
                                                       timeout=self.config.max_wait_ms / 1000 + 30)
                except Exception as exc:  # connection refused, reset, timed out: all retried
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        # Cancelled while a connect failed: some awaits then raise the failure
                        # instead of CancelledError. Stopping wins over retrying.
                        raise asyncio.CancelledError from exc
                    log.info("broker %d: fetch from leader %d failed (%s); retrying in %d ms", self.config.broker_id,
                             fetcher.leader, exc or type(exc).__name__, self.config.backoff_ms)
                    fetcher.reset_session()
                    if conn is not None:
                        await conn.close()
                        conn = None
                    await asyncio.sleep(backoff)
                    continue
                if response.error_code in _SESSION_ERRORS:
                    log.info("broker %d: fetch session %d with leader %d: %s; starting a new one",
                             self.config.broker_id, fetcher.session_id, fetcher.leader,
                             ErrorCode(response.error_code).name)
                    fetcher.reset_session()
                    continue
                if response.error_code != ErrorCode.none.value:
                    log.info("broker %d: fetch from leader %d: %s", self.config.broker_id, fetcher.leader,
                             ErrorCode(response.error_code).name)
                    await asyncio.sleep(backoff)
                    continue
                self._session_answered(fetcher, plan, response.session_id)
                removals = self._apply(fetcher, plan.sent, response)
                for segment in removals:
                    await asyncio.to_thread(segment.delete)
        finally:
            if conn is not None:
                await conn.close()

    async def _connect(self, leader: int, fetcher_id: int = 0) -> BrokerConnection:
        info = self._broker(leader)
        endpoint = info.endpoint(self.config.listener) if info is not None else None
        if endpoint is None:
            raise ConnectionError(f"no {self.config.listener} endpoint known for broker {leader}")
        conn = BrokerConnection(endpoint.host, endpoint.port, client_id=f"broker-{self.config.broker_id}-fetcher-{fetcher_id}",
                                security=self.config.security)
        return await conn.connect(timeout=10.0)

    def _request(self, fetcher: _Fetcher) -> _Plan | None:
        """The next Fetch of this fetcher (None if every partition waits out a backoff).
        Within a fetch session it is incremental: only partitions whose fetch position
        (or leader epoch, log start) changed since the leader's session last saw them,
        plus those to forget; the first request of a session lists them all."""
        now = time.monotonic()
        current: dict[TopicPartition, PartitionFetch] = {}
        sent: dict[TopicPartition, int] = {}
        # Start one partition further each full request (as fetch sessions rotate): the
        # response's byte limit then never keeps starving the same partitions at the end.
        order = list(fetcher.partitions.items())
        if order and fetcher.session_id == 0:
            start = fetcher.rotation % len(order)
            order = order[start:] + order[:start]
            fetcher.rotation += 1
        delayed, quota, known = fetcher.delayed_until, self.quota, fetcher.session_partitions
        max_bytes = self.config.partition_max_bytes
        for tp, epoch in order:
            if delayed and delayed.get(tp, 0) > now:
                continue
            part = self._partition(tp)
            if part is None or part.is_leader:
                continue
            if quota is not None and quota.holds_back(tp[0], tp[1], self.config.broker_id in part.state.isr, now):
                delayed[tp] = now + THROTTLE_RECHECK_S  # asked for again once under the limit
                continue
            log_ = part.log
            latest = log_.leader_epoch_cache.latest_epoch
            last_fetched = -1 if latest is None else latest
            end, start_offset = log_.log_end_offset, log_.log_start_offset
            # Most partitions of a session stand still between two fetches: keep the entry
            # the leader's session holds (same object: the incremental request leaves it out).
            old = known.get(tp)
            if (old is not None and old.fetch_offset == end and old.current_leader_epoch == epoch
                    and old.last_fetched_epoch == last_fetched and old.log_start_offset == start_offset
                    and old.partition_max_bytes == max_bytes):
                current[tp] = old
            else:
                current[tp] = PartitionFetch(tp[1], epoch, end, last_fetched, start_offset, max_bytes)
            sent[tp] = epoch
        if not sent:
            return None
        config = self.config
        if fetcher.session_id == 0:
            listed, forgotten = current, []
        else:
            listed = {tp: pf for tp, pf in current.items() if known.get(tp) is not pf}
            forgotten = [tp for tp in known if tp not in current]
        by_topic: dict[str, list[PartitionFetch]] = {}
        for tp, pf in listed.items():
            by_topic.setdefault(tp[0], []).append(pf)
        gone: dict[str, list[int]] = {}
        for topic, partition in forgotten:
            gone.setdefault(topic, []).append(partition)
        request = ReplicaFetchRequest(config.broker_id, config.max_wait_ms, config.min_bytes, config.max_bytes,
                                      list(by_topic.items()), session_id=fetcher.session_id,
                                      session_epoch=fetcher.session_epoch, forgotten=list(gone.items()))
        return _Plan(request, sent, current)

    @staticmethod
    def _session_answered(fetcher: _Fetcher, plan: _Plan, session_id: int) -> None:
        """The leader answered: its session (if it gave one) now holds the plan's partitions."""
        if session_id == 0:
            fetcher.reset_session()  # none given (cache full): the next request asks again
            return
        fetcher.session_id = session_id
        fetcher.session_epoch = next_epoch(plan.request.session_epoch)
        fetcher.session_partitions = plan.partitions

    def _apply(self, fetcher: _Fetcher, sent: dict[TopicPartition, int],
               response: replica_fetch.FetchResponse) -> list[Any]:
        """Apply a fetch response; returns segments detached by truncation (to delete)."""
        removals: list[Any] = []
        for topic, partitions in response.responses:
            for p in partitions:
                tp = (topic, p.partition_index)
                epoch = sent.get(tp)
                part = self._partition(tp)
                # Leadership may have moved while the fetch was in flight: drop stale answers.
                if (epoch is None or fetcher.partitions.get(tp) != epoch or part is None or part.is_leader
                        or part.state.leader_epoch != epoch):
                    continue
                try:
                    removals += self._apply_partition(fetcher, tp, part, p)
                except UnexpectedAppendOffsetError as exc:
                    log.warning("broker %d: %s-%d: %s; fetching again", self.config.broker_id, tp[0], tp[1], exc)
                except (BatchError, OSError) as exc:
                    # A batch this replica cannot take (or a disk error): retry this partition
                    # after the backoff, keep the others going.
                    log.error("broker %d: %s-%d: cannot append the leader's data (%s); retrying in %d ms",
                              self.config.broker_id, tp[0], tp[1], exc, self.config.backoff_ms)
                    fetcher.delayed_until[tp] = time.monotonic() + self.config.backoff_ms / 1000
        return removals

    def _apply_partition(self, fetcher: _Fetcher, tp: TopicPartition, part: Partition, p: PartitionData) -> list[Any]:
        broker_id = self.config.broker_id
        log_ = part.log
        error = ErrorCode(p.error_code)
        if error in _RETRIABLE:
            log.info("broker %d: %s-%d: leader %d answered %s; waiting %d ms for new metadata", broker_id, tp[0], tp[1],
                     fetcher.leader, error.name, self.config.backoff_ms)
            fetcher.delayed_until[tp] = time.monotonic() + self.config.backoff_ms / 1000
            return []
        if error == ErrorCode.offset_out_of_range:
            leader_start = p.log_start_offset
            if leader_start > log_.log_end_offset:
                log.info("broker %d: %s-%d: leader's log starts at %d, beyond ours (%d): starting over there",
                         broker_id, tp[0], tp[1], leader_start, log_.log_end_offset)
                removed = log_.truncate_fully_and_start_at(leader_start)
            else:
                target = min(part.high_watermark, log_.log_end_offset)
                log.info("broker %d: %s-%d: offset %d out of range at leader %d: truncating to %d", broker_id, tp[0],
                         tp[1], log_.log_end_offset, fetcher.leader, target)
                removed = log_.truncate_to(max(target, log_.log_start_offset))
            part.follower_high_watermark(part.high_watermark)
            return removed
        if error != ErrorCode.none:
            log.warning("broker %d: %s-%d: fetch error %s from leader %d", broker_id, tp[0], tp[1], error.name,
                        fetcher.leader)
            fetcher.delayed_until[tp] = time.monotonic() + self.config.backoff_ms / 1000
            return []
        diverging = p.diverging_epoch
        if diverging is not None and diverging[0] >= 0:  # Kafka's FetchResponse.isDivergingEpoch
            epoch, end_offset = diverging
            truncation = truncation_after_divergence(
                epoch, end_offset, log_.end_offset_for_epoch(epoch), log_.log_end_offset, part.high_watermark)
            log.info("broker %d: %s-%d diverges from leader %d after epoch %d offset %d: truncating from %d to %d%s",
                     broker_id, tp[0], tp[1], fetcher.leader, epoch, end_offset,
                     log_.log_end_offset, truncation.offset, "" if truncation.complete else " (then asking again)")
            removed = log_.truncate_to(max(truncation.offset, 0))
            part.follower_high_watermark(part.high_watermark)
            return removed
        records = p.records
        if records:
            data = bytes(records)
            whole = whole_batches_size(data)  # drop a trailing partial batch: fetched again next time
            if self.quota is not None and self.quota.throttled(*tp):
                self.quota.record(whole, time.monotonic())
            if whole:
                part.append_as_follower(data if whole == len(data) else data[:whole])
        part.follower_high_watermark(p.high_watermark)
        # The leader's log start offset moved (DeleteRecords, retention): follow it up to our
        # high watermark, as Kafka's follower does (maybeIncrementLogStartOffset).
        target = min(p.log_start_offset, part.high_watermark, log_.log_end_offset)
        if target > log_.log_start_offset:
            return log_.delete_records_before(target)
        return []


def _encode(request: ReplicaFetchRequest, correlation_id: int, client_id: str) -> bytes:
    return replica_fetch.encode_request(correlation_id, client_id, request)


def _decode(frame: bytes) -> tuple[int, replica_fetch.FetchResponse]:
    response = replica_fetch.decode_response(frame)
    return response.correlation_id, response

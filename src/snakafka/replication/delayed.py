"""The two kinds of waiting request (Kafka's DelayedProduce and DelayedFetch).

Both watch partitions by key: `data_key(tp)` is checked when a partition's log end moves
(an append), `hw_key(tp)` when its high watermark moves; `ReplicaManager` checks both when
a partition's leadership or ISR changes. Their `try_complete` only reads partition state:
a follower's fetch position is recorded once, when its fetch arrives, never here.

- DelayedProduce (acks=all): complete once every partition's high watermark has passed
  the records appended (or it stopped being leader); watches the high-watermark keys.
- DelayedFetch: complete once min_bytes can be read or a partition errors (leadership
  moved, log truncated below the fetch offset). A consumer's fetch watches the
  high-watermark keys (it reads below the high watermark); a follower's watches the data
  keys only (it reads up to the log end). As in Kafka (DelayedFetch, FetchIsolation.LOG_END),
  a high watermark move alone does not answer a follower: it learns the high watermark
  from its next answer, with the next records or after replica.fetch.wait.max.ms. Waking
  it there would cost every acks=all write one more fetch answer and request per follower,
  on the CPU the next write needs.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from snakafka.log.partition_log import OffsetOutOfRangeError
from snakafka.protocol.errors import ErrorCode
from snakafka.replication.purgatory import DelayedOperation

if TYPE_CHECKING:
    from snakafka.replication.partition import Partition
    from snakafka.replication.replica_manager import FetchRequestPartition, FetchResult

TopicPartition = tuple[str, int]
PartitionLookup = Callable[[TopicPartition], "Partition | None"]


def data_key(tp: TopicPartition) -> Hashable:
    """Checked when the partition's log end offset moves."""
    return ("data", tp[0], tp[1])


def hw_key(tp: TopicPartition) -> Hashable:
    """Checked when the partition's high watermark moves."""
    return ("hw", tp[0], tp[1])


def log_start_key(tp: TopicPartition) -> Hashable:
    """Checked when a follower reports a new log start offset (DeleteRecords waits on it)."""
    return ("log_start", tp[0], tp[1])


def _tp_of_hw_key(key: Hashable) -> TopicPartition | None:
    if isinstance(key, tuple) and len(key) == 3 and key[0] == "hw":
        return (key[1], key[2])
    return None


def acks_status(part: Partition | None, required_offset: int) -> ErrorCode | None:
    """Kafka's checkEnoughReplicasReachOffset: the answer of an acks=all write that needs
    the high watermark at `required_offset`, or None while it must still wait."""
    if part is None or not part.is_leader:
        return ErrorCode.not_leader_or_follower
    if part.high_watermark < required_offset:
        return None
    if len(part.state.isr) < part.log.config.min_insync_replicas:
        return ErrorCode.not_enough_replicas_after_append
    return ErrorCode.none


class DelayedProduce(DelayedOperation[dict[TopicPartition, ErrorCode]]):
    """acks=all: waits until each partition's high watermark reaches its required offset
    (the offset after the records appended); answers an error code per partition."""

    def __init__(self, deadline_ms: int, required: dict[TopicPartition, int], partition: PartitionLookup) -> None:
        super().__init__(deadline_ms)
        self.required = required
        self._partition = partition

    @property
    def keys(self) -> list[Hashable]:
        return [hw_key(tp) for tp in self.required]

    def try_complete(self) -> bool:
        return all(acks_status(self._partition(tp), offset) is not None for tp, offset in self.required.items())

    def blocks_later(self, key: Hashable) -> bool:
        """Produces are watched in append order, so on one partition a later one needs a
        higher high watermark: if this one still waits for it there, so do they. (A
        retried idempotent batch, answered with its first offsets, waits for a lower one
        and may then wait until the ops before it complete.)"""
        tp = _tp_of_hw_key(key)
        if tp is None:
            return False
        offset = self.required.get(tp)
        return offset is not None and acks_status(self._partition(tp), offset) is None

    def on_complete(self, expired: bool) -> dict[TopicPartition, ErrorCode]:
        results: dict[TopicPartition, ErrorCode] = {}
        for tp, offset in self.required.items():
            status = acks_status(self._partition(tp), offset)
            results[tp] = ErrorCode.request_timed_out if status is None else status
        return results


@dataclass(frozen=True, slots=True)
class FetchParams:
    """What a fetch asked for, beyond its partitions."""

    replica_id: int  # >= 0: a follower
    min_bytes: int
    max_bytes: int
    committed_only: bool
    read_committed: bool

    @property
    def is_follower(self) -> bool:
        return self.replica_id >= 0




class DelayedFetch(DelayedOperation[list["FetchResult"]]):
    """A long-poll fetch; answered by `read` (a side-effect-free read of the partitions)."""

    def __init__(self, deadline_ms: int, requests: Sequence[FetchRequestPartition], params: FetchParams,
                 partition: PartitionLookup, read: Callable[[], list[FetchResult]]) -> None:
        super().__init__(deadline_ms)
        self.requests = requests
        self.params = params
        self._partition = partition
        self._read = read
        # Each partition's leader epoch when the fetch parked (None: unknown then).
        self._parked: list[int | None] = []
        for req in requests:
            part = partition((req.topic, req.partition))
            self._parked.append(None if part is None else part.leader_epoch)

    @property
    def keys(self) -> list[Hashable]:
        tps = [(r.topic, r.partition) for r in self.requests]
        return [data_key(tp) if self.params.is_follower else hw_key(tp) for tp in tps]

    def try_complete(self) -> bool:
        params = self.params
        accumulated = 0
        for req, parked in zip(self.requests, self._parked, strict=True):
            part = self._partition((req.topic, req.partition))
            if part is None or parked is None or not part.is_leader or part.leader_epoch != parked:
                return True  # answered with the partition's error
            hw = part.high_watermark
            if params.is_follower:
                end = part.log.log_end_offset
            elif params.read_committed:
                first = part.log.first_unstable_offset
                end = hw if first is None else min(first, hw)
            else:
                end = hw
            if end < req.fetch_offset:
                return True  # truncated below the fetch offset: answered with its error
            if end > req.fetch_offset:
                if params.min_bytes <= 1:
                    return True
                accumulated += self._readable_bytes(part, req, end)
                if accumulated >= params.min_bytes:
                    return True
        return False

    @staticmethod
    def _readable_bytes(part: Partition, req: FetchRequestPartition, end: int) -> int:
        try:
            read = part.log.read(req.fetch_offset, req.max_bytes, max_offset=end, min_one_batch=True)
        except OffsetOutOfRangeError:  # let the answer say so
            return 1 << 31
        return 0 if read.slice is None else read.slice.size

    def on_complete(self, expired: bool) -> list[FetchResult]:
        return self._read()

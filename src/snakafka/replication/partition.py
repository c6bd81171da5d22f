"""One partition replica on this broker: its log plus its replication state.

The leader owns the high watermark: the offset below which every in-sync replica has
the data, and the limit of what consumers may read. With an ISR of one (a single broker,
or replication factor 1) the high watermark follows the log end offset at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from snakafka.cluster.model import PartitionState
from snakafka.log.partition_log import PartitionLog, ReadResult
from snakafka.log.producer_state import ProducerStateError, ProducerStateManager
from snakafka.protocol.batch import NO_PRODUCER_ID, iter_batches, read_header
from snakafka.protocol.errors import ErrorCode, KafkaError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LeaderAppend:
    """Where an append landed (for a retried idempotent batch: where it landed first)."""

    first_offset: int
    log_append_time: int
    log_start_offset: int
    duplicate: bool = False


@dataclass(slots=True)
class ReplicaProgress:
    """What the leader knows of a follower: its log end offset and when it was caught up."""

    log_end_offset: int = 0
    last_caught_up_ms: int = 0


class Partition:
    def __init__(self, topic: str, partition: int, broker_id: int, log_: PartitionLog, state: PartitionState) -> None:
        self.topic = topic
        self.partition = partition
        self.broker_id = broker_id
        self.log = log_
        self.state = state
        self.high_watermark = log_.log_end_offset if state.isr == (broker_id,) else min(
            log_.log_end_offset, getattr(log_, "recovery_point", 0)
        )
        self.followers: dict[int, ReplicaProgress] = {}
        self.producer_state = ProducerStateManager()
        self._load_producer_state()

    def __repr__(self) -> str:
        return f"Partition({self.topic}-{self.partition}, epoch={self.state.leader_epoch})"

    @property
    def is_leader(self) -> bool:
        return self.state.leader == self.broker_id

    @property
    def leader_epoch(self) -> int:
        return self.state.leader_epoch

    def become_leader(self, state: PartitionState) -> None:
        self.state = state
        self.followers = {b: ReplicaProgress() for b in state.replicas if b != self.broker_id}
        self._maybe_advance_hw()

    def update_state(self, state: PartitionState) -> None:
        if state.leader == self.broker_id:
            self.become_leader(state)
        else:
            self.state = state

    def check_leader(self, leader_epoch: int | None = None) -> None:
        if not self.is_leader:
            raise KafkaError(ErrorCode.not_leader_or_follower)
        if leader_epoch is not None and leader_epoch >= 0:
            if leader_epoch < self.state.leader_epoch:
                raise KafkaError(ErrorCode.fenced_leader_epoch)
            if leader_epoch > self.state.leader_epoch:
                raise KafkaError(ErrorCode.unknown_leader_epoch)

    def append_as_leader(self, data: bytes, required_acks: int) -> LeaderAppend:
        self.check_leader()
        if required_acks == -1 and len(self.state.isr) < self.log.config.min_insync_replicas:
            raise KafkaError(
                ErrorCode.not_enough_replicas,
                f"The size of the current ISR {set(self.state.isr)} is insufficient to satisfy "
                f"the min.isr requirement of {self.log.config.min_insync_replicas}",
            )
        idempotent = len(data) >= 61 and read_header(data).producer_id != NO_PRODUCER_ID
        if idempotent:
            duplicate = self._check_producer(data)
            if duplicate is not None:
                return duplicate
        info = self.log.append(data, leader_epoch=self.state.leader_epoch)
        if idempotent:
            offset = info.first_offset
            for _, header in iter_batches(data):
                self.producer_state.update(header, offset)
                offset += header.last_offset_delta + 1
        self._maybe_advance_hw()
        return LeaderAppend(info.first_offset, info.log_append_time, info.log_start_offset)

    def _check_producer(self, data: bytes) -> LeaderAppend | None:
        """Sequence checks of idempotent batches; a retried batch gets its first answer."""
        try:
            duplicates = [self.producer_state.check(header) for _, header in iter_batches(data)]
        except ProducerStateError as exc:
            raise KafkaError(ErrorCode(exc.error_code), str(exc)) from exc
        if duplicates and all(d is not None for d in duplicates):
            first = duplicates[0]
            assert first is not None
            log.info("%s: duplicate batch from an idempotent producer, answered with offset %d", self, first.first_offset)
            return LeaderAppend(first.first_offset, -1, self.log.log_start_offset, duplicate=True)
        return None

    def _load_producer_state(self) -> None:
        """Rebuild idempotence state from batch headers (never record contents).

        Only the last two segments are scanned: a retry can only repeat one of a
        producer's last five batches, which sit at the end of the log, and a full scan
        would make start-up time grow with the size of the log."""
        recent = self.log.segments[-2:]
        offset = max(self.log.log_start_offset, recent[0].base_offset)
        end = self.log.log_end_offset
        while offset < end:
            result = self.log.read(offset, 4 << 20, min_one_batch=True)
            if result.slice is None:
                break
            data = result.slice.read_bytes()
            advanced = False
            for _, header in iter_batches(data):
                if header.next_offset > offset:
                    self.producer_state.update(header, header.base_offset)
                    offset = header.next_offset
                    advanced = True
            if not advanced:
                break

    def _maybe_advance_hw(self) -> bool:
        """The high watermark is the smallest log end offset across the ISR."""
        leo = self.log.log_end_offset
        new_hw = leo
        for replica in self.state.isr:
            if replica != self.broker_id:
                new_hw = min(new_hw, self.followers.get(replica, ReplicaProgress()).log_end_offset)
        if new_hw > self.high_watermark:
            self.high_watermark = new_hw
            return True
        return False

    def read(self, fetch_offset: int, max_bytes: int, *, committed_only: bool, min_one_batch: bool) -> ReadResult:
        max_offset = self.high_watermark if committed_only else None
        return self.log.read(fetch_offset, max_bytes, max_offset=max_offset, min_one_batch=min_one_batch)

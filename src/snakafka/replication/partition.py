"""One partition replica on this broker: its log plus its replication state.

The leader owns the high watermark: the offset below which every in-sync replica has
the data, and the limit of what consumers may read. With an ISR of one (a single broker,
or replication factor 1) the high watermark follows the log end offset at once; with
followers it moves as their fetches report their log end offsets (isr.py has the rules).
A follower keeps the leader's high watermark (capped at its own log end) so that it
starts from it if it becomes leader. Across a restart the high watermark comes from the
log dir's replication-offset-checkpoint (initial_high_watermark has the rule).

The last stable offset (KIP-98) is the high watermark, or lower while a transaction is
open: the first offset of the earliest open transaction. READ_COMMITTED consumers read
below it. The log's producer state tracks open transactions on leaders and followers
alike (followers replay the leader's batches and markers), so a new leader knows its LSO.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from snakafka.cluster.model import PartitionState
from snakafka.log.partition_log import PartitionLog, ReadResult
from snakafka.log.producer_state import ProducerStateError, ProducerStateManager
from snakafka.protocol.batch import NO_PRODUCER_ID, iter_batches, read_header
from snakafka.protocol.errors import ErrorCode, KafkaError
from snakafka.replication.isr import (
    FollowerState,
    high_watermark,
    may_join_isr,
    out_of_sync,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PendingIsrChange:
    """A leader's ISR change on its way to the metadata store. It is written with a
    compare-and-set on `decided_on`, the state it was decided on, so a change decided on
    a state that has since moved fails instead of undoing the newer one."""

    decided_on: PartitionState
    proposed: PartitionState


@dataclass(frozen=True, slots=True)
class LeaderAppend:
    """Where an append landed (for a retried idempotent batch: where it landed first)."""

    first_offset: int
    log_append_time: int
    log_start_offset: int
    duplicate: bool = False
    last_offset: int = -1  # acks=all waits until the high watermark passes it


def initial_high_watermark(*, log_start_offset: int, log_end_offset: int, recovery_point: int,
                           checkpointed: int | None, alone_in_isr: bool) -> int:
    """The high watermark of a partition replica when it is created (at start-up, or when
    this broker is given the partition). Alone in the ISR, it is the log end: nobody else
    must have the data. Otherwise it is the checkpointed one (replication-offset-checkpoint,
    Kafka's Partition.updateHighWatermark), so a restarted leader serves exactly what was
    committed before; without a checkpoint entry (a new log, an unreadable file, a log
    from before the file existed) it falls back to what is known to be on disk, the
    recovery point. Either way it lies within [log start, log end], as UnifiedLog keeps it."""
    if alone_in_isr:
        return log_end_offset
    hw = min(recovery_point, log_end_offset) if checkpointed is None else checkpointed
    return max(log_start_offset, min(hw, log_end_offset))


class Partition:
    def __init__(self, topic: str, partition: int, broker_id: int, log_: PartitionLog, state: PartitionState,
                 checkpointed_high_watermark: int | None = None) -> None:
        self.topic = topic
        self.partition = partition
        self.broker_id = broker_id
        self.log = log_
        self.state = state
        self.high_watermark = initial_high_watermark(
            log_start_offset=log_.log_start_offset, log_end_offset=log_.log_end_offset,
            recovery_point=log_.recovery_point, checkpointed=checkpointed_high_watermark,
            alone_in_isr=state.isr == (broker_id,))
        if checkpointed_high_watermark is not None and checkpointed_high_watermark != self.high_watermark:
            log.info("broker %d: %s-%d: checkpointed high watermark %d taken as %d (log %d..%d)", broker_id, topic,
                     partition, checkpointed_high_watermark, self.high_watermark, log_.log_start_offset,
                     log_.log_end_offset)
        self.followers: dict[int, FollowerState] = {}
        # Where this broker's leadership epoch began (Kafka's leaderEpochStartOffsetOpt): a
        # follower joins the ISR only once it has everything written before it.
        self.leader_epoch_start_offset = -1
        self._led_epoch = -1  # the leader epoch become_leader last started (-1: not leading)
        # One ISR write to the store at a time; only its own end clears it (isr_change_done).
        self.pending_isr: PendingIsrChange | None = None

    def __repr__(self) -> str:
        return f"Partition({self.topic}-{self.partition}, epoch={self.state.leader_epoch})"

    @property
    def is_leader(self) -> bool:
        return self.state.leader == self.broker_id

    @property
    def leader_epoch(self) -> int:
        return self.state.leader_epoch

    @property
    def producer_state(self) -> ProducerStateManager:
        """The log's producer state (idempotence and open transactions)."""
        return self.log.producer_state

    @property
    def last_stable_offset(self) -> int:
        """min(first offset of the earliest transaction open or not yet replicated, high
        watermark): derived whenever asked, so it follows appends, markers and high
        watermark moves on leaders and followers alike."""
        return self.log.last_stable_offset(self.high_watermark)

    def become_leader(self, state: PartitionState, now_ms: int = 0) -> None:
        """Take (or keep) leadership. A new leader epoch starts at the log end offset in
        the leader epoch cache (Kafka's maybeAssignEpochStartOffset) and every follower
        gets a fresh state with one lag period of grace; an ISR-only change under the same
        epoch keeps what the leader knows of its followers."""
        new_epoch = self._led_epoch != state.leader_epoch
        self.state = state
        if new_epoch:
            self._led_epoch = state.leader_epoch
            self.log.leader_epoch_cache.assign(state.leader_epoch, self.log.log_end_offset)
            self.leader_epoch_start_offset = self.log.log_end_offset
            self.followers = {b: FollowerState.new(now_ms) for b in state.replicas if b != self.broker_id}
            log.info("broker %d: %s-%d leader for epoch %d from offset %d, isr %s", self.broker_id, self.topic,
                     self.partition, state.leader_epoch, self.leader_epoch_start_offset, list(state.isr))
        else:
            for b in state.replicas:
                if b != self.broker_id and b not in self.followers:
                    self.followers[b] = FollowerState.new(now_ms)
        self._maybe_advance_hw()

    def update_state(self, state: PartitionState, now_ms: int = 0) -> None:
        if state.leader == self.broker_id:
            self.become_leader(state, now_ms)
        else:
            self.state = state
            self.followers = {}
            self._led_epoch = -1

    def is_older(self, state: PartitionState) -> bool:
        """Whether `state` is older than the one held: a refresh that read the store before
        a newer write (the leader's own ISR change, applied at once) must not undo it.
        Versions only grow (the znode version; the leader epoch with it)."""
        return state.partition_epoch < self.state.partition_epoch or state.leader_epoch < self.state.leader_epoch

    # -- ISR changes (the leader's) ------------------------------------------------------

    def propose_isr(self, isr: tuple[int, ...]) -> PendingIsrChange:
        """Start an ISR change decided on the current state (the caller writes it)."""
        assert self.pending_isr is None, "one ISR change at a time"
        state = self.state
        change = PendingIsrChange(state, PartitionState(state.replicas, state.leader, state.leader_epoch, isr,
                                                        state.partition_epoch + 1))
        self.pending_isr = change
        return change

    def isr_change_done(self, change: PendingIsrChange, written: bool, now_ms: int) -> bool:
        """The write of `change` ended. If it was written and nothing newer arrived meanwhile,
        the new ISR applies now, before the store's watch brings it back (the high watermark
        rule uses it at once). Returns whether it applied."""
        if self.pending_isr is change:
            self.pending_isr = None
        if written and self.state == change.decided_on:
            self.update_state(change.proposed, now_ms)
            return True
        self._maybe_advance_hw()  # the maximal ISR may have shrunk back (a follower's next fetch need not move)
        return False

    @property
    def maximal_isr(self) -> tuple[int, ...]:
        """The ISR the high watermark waits for (Kafka's maximalIsr): while an expansion is
        in flight the joining replica counts already, and while a shrink is in flight the
        leaving one still does, so nothing is committed that a replica of either ISR lacks."""
        pending = self.pending_isr
        if pending is None:
            return self.state.isr
        return (*self.state.isr, *(b for b in pending.proposed.isr if b not in self.state.isr))

    # -- the leader's view of its followers ------------------------------------------

    def on_follower_fetch(self, replica: int, fetch_offset: int, now_ms: int) -> tuple[bool, tuple[int, ...] | None]:
        """Record a follower's fetch. Returns (high watermark moved, the ISR to propose
        if the follower may join it now, else None)."""
        follower = self.followers.get(replica)
        if follower is None:
            follower = self.followers[replica] = FollowerState.new(now_ms)
        previous = follower.log_end_offset
        follower.on_fetch(fetch_offset, self.log.log_end_offset, now_ms)
        # The high watermark moves with a follower's log end (or the leader's, or the ISR,
        # which recompute it themselves): a fetch from where the last one was cannot move
        # it, and most partitions of a follower's fetch session are such.
        moved = previous != fetch_offset and self._maybe_advance_hw()
        expand = None
        if (replica not in self.state.isr and self.pending_isr is None
                and may_join_isr(follower, self.high_watermark, self.leader_epoch_start_offset)):
            expand = (*self.state.isr, replica)
        return moved, expand

    def isr_to_shrink(self, now_ms: int, lag_time_max_ms: int) -> tuple[int, ...] | None:
        """The ISR without the followers that have not caught up for too long, or None."""
        if not self.is_leader or self.pending_isr is not None:
            return None
        lagging = out_of_sync(self.broker_id, self.state.isr, self.followers, now_ms, lag_time_max_ms)
        if not lagging:
            return None
        return tuple(r for r in self.state.isr if r not in lagging)

    def follower_high_watermark(self, leader_high_watermark: int) -> None:
        """A follower's high watermark: the leader's, capped at what this replica holds."""
        if leader_high_watermark >= 0:
            self.high_watermark = min(leader_high_watermark, self.log.log_end_offset)
            self.log.producer_state.on_high_watermark(self.high_watermark)  # replicated markers make txns stable

    def append_as_follower(self, data: bytes) -> None:
        """Append the leader's batches verbatim; the log keeps its producer state current
        (idempotence and open transactions) so that this replica deduplicates retries and
        knows its last stable offset if it becomes leader."""
        self.log.append_as_follower(data)

    def check_leader(self, leader_epoch: int | None = None) -> None:
        if not self.is_leader:
            raise KafkaError(ErrorCode.not_leader_or_follower)
        if leader_epoch is not None and leader_epoch >= 0:
            if leader_epoch < self.state.leader_epoch:
                raise KafkaError(ErrorCode.fenced_leader_epoch)
            if leader_epoch > self.state.leader_epoch:
                raise KafkaError(ErrorCode.unknown_leader_epoch)

    def append_as_leader(self, data: bytes, required_acks: int, *, allow_control: bool = False) -> LeaderAppend:
        """Append on the leader. Only the transaction coordinator's marker path passes
        `allow_control`: clients may not write control batches (INVALID_RECORD, as Kafka's
        LogValidator answers)."""
        self.check_leader()
        if not allow_control and any(h.is_control for _, h in iter_batches(data)):
            raise KafkaError(ErrorCode.invalid_record, "Clients are not allowed to write control records")
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
        try:
            info = self.log.append(data, leader_epoch=self.state.leader_epoch)  # also feeds the producer state
        except ProducerStateError as exc:
            raise KafkaError(ErrorCode(exc.error_code), str(exc)) from exc
        self._maybe_advance_hw()
        return LeaderAppend(info.first_offset, info.log_append_time, info.log_start_offset,
                            last_offset=info.last_offset)

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
            last = duplicates[-1]
            assert last is not None
            return LeaderAppend(first.first_offset, -1, self.log.log_start_offset, duplicate=True,
                                last_offset=last.last_offset)
        return None

    def _maybe_advance_hw(self) -> bool:
        """The high watermark is the smallest log end offset across the ISR (isr.py)."""
        if not self.is_leader:
            return False
        new_hw = high_watermark(self.high_watermark, self.broker_id, self.log.log_end_offset, self.maximal_isr,
                                self.followers)
        if new_hw > self.high_watermark:
            self.high_watermark = new_hw
            self.log.producer_state.on_high_watermark(new_hw)  # replicated markers make txns stable
            return True
        return False

    def read(self, fetch_offset: int, max_bytes: int, *, committed_only: bool, min_one_batch: bool,
             read_committed: bool = False) -> ReadResult:
        """Consumers read below the high watermark (`committed_only`), READ_COMMITTED
        ones below the last stable offset; followers up to the log end."""
        if read_committed:
            max_offset: int | None = self.last_stable_offset
        else:
            max_offset = self.high_watermark if committed_only else None
        return self.log.read(fetch_offset, max_bytes, max_offset=max_offset, min_one_batch=min_one_batch)

"""DeleteRecords on the leader: advance a partition's log start offset, then wait until
every live replica has done the same (Kafka's Partition.deleteRecordsOnLeader and
DelayedDeleteRecords).

The leader moves its own log start offset at once (segments wholly below it are detached,
for the caller to delete later). Followers learn the new offset from the log_start_offset
of their next fetch response and follow it (fetcher.py); their following fetch reports
their own log start offset, which the replica manager records per follower. The request
completes when the low watermark, the smallest log start offset of the leader and of its
live followers that reported one, reaches the requested offset, or fails with
REQUEST_TIMED_OUT after the request's timeout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from snakafka.protocol.errors import ErrorCode, KafkaError
from snakafka.replication.delayed import log_start_key
from snakafka.replication.purgatory import DelayedOperation
from snakafka.replication.replica_manager import ReplicaManager, TopicPartition

HIGH_WATERMARK = -1  # DeleteRecords' offset -1: delete up to the high watermark


@dataclass(slots=True)
class DeleteRecordsResult:
    error: ErrorCode = ErrorCode.none
    low_watermark: int = -1
    message: str | None = None
    removed: list[Any] = field(default_factory=list)  # detached segments, to delete later


def low_watermark(rm: ReplicaManager, tp: TopicPartition) -> int:
    """Kafka's Partition.lowWatermarkIfLeader: the smallest log start offset among the
    leader and its followers on live brokers that have reported one."""
    part = rm.partitions[tp]
    starts = rm.follower_log_starts.get(tp, {})
    offsets = [offset for broker, offset in starts.items()
               if broker in part.state.replicas and broker != rm.broker_id and broker in rm.cache.brokers]
    return min([part.log.log_start_offset, *offsets])


def _delete_on_leader(rm: ReplicaManager, tp: TopicPartition, offset: int) -> DeleteRecordsResult:
    part = rm.leader_partition(*tp)
    if "delete" not in part.log.config.cleanup_policy:
        raise KafkaError(ErrorCode.policy_violation,
                         f"Records of partition {tp[0]}-{tp[1]} can not be deleted due to the configured policy")
    hw = part.high_watermark
    target = hw if offset == HIGH_WATERMARK else offset
    if target < 0 or target > hw:
        raise KafkaError(ErrorCode.offset_out_of_range,
                         f"Cannot increment the log start offset to {target} of partition {tp[0]}-{tp[1]} "
                         f"since it is larger than the high watermark {hw}")
    removed = part.log.delete_records_before(target) if target > part.log.log_start_offset else []
    return DeleteRecordsResult(low_watermark=target, removed=removed)


class DelayedDeleteRecords(DelayedOperation[dict[TopicPartition, int]]):
    """Kafka's DelayedDeleteRecords: complete once each partition's low watermark reached
    its offset or the partition is no longer led here; answers each partition's low
    watermark (-1: leadership moved). Watches the partitions' log-start keys, which the
    replica manager checks when a follower reports a new log start offset or leadership
    changes."""

    def __init__(self, deadline_ms: int, rm: ReplicaManager, required: dict[TopicPartition, int]) -> None:
        super().__init__(deadline_ms)
        self.rm = rm
        self.required = required

    def _status(self, tp: TopicPartition) -> int | None:
        """The low watermark once done, -1 if no longer leader, None while waiting."""
        part = self.rm.partitions.get(tp)
        if part is None or not part.is_leader:
            return -1
        low = low_watermark(self.rm, tp)
        return low if low >= self.required[tp] else None

    def try_complete(self) -> bool:
        return all(self._status(tp) is not None for tp in self.required)

    def on_complete(self, expired: bool) -> dict[TopicPartition, int]:
        return {tp: status for tp in self.required if (status := self._status(tp)) is not None}


async def delete_records(rm: ReplicaManager, offsets: dict[TopicPartition, int], timeout_ms: int
                         ) -> dict[TopicPartition, DeleteRecordsResult]:
    """Delete the records below each partition's offset (-1: its high watermark) on this
    leader and wait for the live followers (see the module doc)."""
    results: dict[TopicPartition, DeleteRecordsResult] = {}
    required: dict[TopicPartition, int] = {}
    for tp, offset in offsets.items():
        try:
            results[tp] = _delete_on_leader(rm, tp, offset)
            required[tp] = results[tp].low_watermark
        except KafkaError as exc:
            results[tp] = DeleteRecordsResult(exc.code, message=exc.message)
    if not required:
        return results
    op = DelayedDeleteRecords(rm.deadline(timeout_ms), rm, required)
    rm.delete_records_purgatory.try_complete_else_watch(op, [log_start_key(tp) for tp in required])
    done = await op.wait()
    for tp in required:
        status = done.get(tp)
        if status is None:
            results[tp].error = ErrorCode.request_timed_out
            results[tp].low_watermark = low_watermark(rm, tp) if tp in rm.partitions else -1
        elif status < 0:
            results[tp].error = ErrorCode.not_leader_or_follower
        else:
            results[tp].low_watermark = status
    return results

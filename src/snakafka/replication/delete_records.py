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

import time
from dataclasses import dataclass, field
from typing import Any

from snakafka.protocol.errors import ErrorCode, KafkaError
from snakafka.replication.purgatory import wait_until
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
    deadline = time.monotonic() + max(timeout_ms, 0) / 1000
    while required:
        for tp in list(required):
            part = rm.partitions.get(tp)
            if part is None or not part.is_leader:
                results[tp].error = ErrorCode.not_leader_or_follower
                del required[tp]
                continue
            results[tp].low_watermark = low_watermark(rm, tp)
            if results[tp].low_watermark >= required[tp]:
                del required[tp]
        remaining = deadline - time.monotonic()
        if not required:
            break
        if remaining <= 0:
            for tp in required:
                results[tp].error = ErrorCode.request_timed_out
            break
        keys = list(required)
        waiter = rm.ack_watchers.watch(keys)
        try:
            await wait_until(waiter, remaining)
        finally:
            rm.ack_watchers.unwatch(keys, waiter)
    return results

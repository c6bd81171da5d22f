"""Admin requests on partition replicas of this broker: DeleteRecords (advance the log
start offset, on the leader, waiting for the followers: replication/delete_records.py),
DescribeLogDirs (the log dirs and the size of each partition's log in them) and
DescribeProducers (the idempotent and transactional producers a leader tracks), as web
UIs, balancers and kafka-delete-records.sh / kafka-log-dirs.sh /
kafka-transactions.sh describe-producers call them. Each broker answers for itself:
clients send DeleteRecords and DescribeProducers to partition leaders and
DescribeLogDirs to every broker they want to know about.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from kio.static.primitive import i32, i64

from snakafka.protocol.errors import ErrorCode, KafkaError
from snakafka.replication.delete_records import delete_records
from snakafka.server.context import ZERO, RequestContext, build


async def handle_delete_records(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    offsets = {(t.name, int(p.partition_index)): int(p.offset) for t in request.topics for p in t.partitions}
    timeout_ms = int(request.timeout.total_seconds() * 1000)
    results = await delete_records(ctx.broker.replica_manager, offsets, timeout_ms)
    removed = [segment for r in results.values() for segment in r.removed]
    if removed:
        ctx.broker.delete_later(removed)
    topics: dict[str, list[Any]] = {}
    for (topic, p), r in results.items():
        topics.setdefault(topic, []).append(build(schema.DeleteRecordsPartitionResult, partition_index=i32(p),
                                                  low_watermark=i64(r.low_watermark), error_code=r.error))
    return build(schema.DeleteRecordsResponse, throttle_time=ZERO, topics=tuple(
        build(schema.DeleteRecordsTopicResult, name=name, partitions=tuple(parts)) for name, parts in topics.items()))


async def handle_describe_log_dirs(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    broker = ctx.broker
    rm = broker.replica_manager
    wanted = None if request.topics is None else {
        (t.topic, int(p)) for t in request.topics for p in t.partitions}
    by_dir: dict[Path, dict[str, list[Any]]] = {Path(d): {} for d in broker.config.log_dirs}
    for (topic, p), part in sorted(rm.partitions.items()):
        if wanted is not None and (topic, p) not in wanted:
            continue
        log_dir = rm.log_manager.log_dir_of(topic, p)
        if log_dir is None:
            continue
        log_ = part.log
        lag = max(part.high_watermark - log_.log_end_offset, 0)  # Kafka's getLogEndOffsetLag for a current log
        by_dir.setdefault(log_dir, {}).setdefault(topic, []).append(build(
            schema.DescribeLogDirsPartition, partition_index=i32(p), partition_size=i64(log_.size_in_bytes),
            offset_lag=i64(lag), is_future_key=False))
    results = []
    for log_dir, topics in by_dir.items():
        try:
            usage = shutil.disk_usage(log_dir)
            total, usable = usage.total, usage.free
        except OSError:
            total = usable = -1
        results.append(build(
            schema.DescribeLogDirsResult, error_code=ErrorCode.none, log_dir=str(log_dir.absolute()),
            topics=tuple(build(schema.DescribeLogDirsTopic, name=name, partitions=tuple(parts))
                         for name, parts in topics.items()),
            total_bytes=i64(total), usable_bytes=i64(usable)))
    return build(schema.DescribeLogDirsResponse, throttle_time=ZERO, error_code=ErrorCode.none, results=tuple(results))


async def handle_describe_producers(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    rm = ctx.broker.replica_manager
    topics = []
    for t in request.topics:
        partitions = []
        for p in t.partition_indexes:
            error, message, active = ErrorCode.none, None, []
            try:
                part = rm.leader_partition(t.name, int(p))
            except KafkaError as exc:
                error, message = exc.code, exc.message
            else:
                for producer_id, entry in sorted(part.producer_state.producers.items()):
                    active.append(build(
                        schema.ProducerState, producer_id=i64(producer_id), producer_epoch=i32(entry.epoch),
                        last_sequence=i32(entry.last_seq), last_timestamp=i64(entry.last_timestamp),
                        coordinator_epoch=i32(entry.coordinator_epoch),
                        current_txn_start_offset=i64(-1 if entry.current_txn_first_offset is None
                                                     else entry.current_txn_first_offset)))
            partitions.append(build(schema.PartitionResponse, partition_index=i32(p), error_code=error,
                                    error_message=message, active_producers=tuple(active)))
        topics.append(build(schema.TopicResponse, name=t.name, partitions=tuple(partitions)))
    return build(schema.DescribeProducersResponse, throttle_time=ZERO, topics=tuple(topics))

"""How the group coordinator persists: an append-only log of (key, value) records per
__consumer_offsets partition, injected so the coordinator never sees the replica manager.

`snakafka.coordinator.internal_topic_log.InternalTopicLog` is the broker's implementation;
tests use an in-memory one. Contract:

* append(partition, records) returns once the records are durable (acks=all) and raises
  KafkaError (snakafka.protocol.errors) with the produce error code when they are not.
  Records of successive append calls on one partition land in call order.
* read(partition) yields every record of the partition in log order, for loading:
  (key, value) pairs, and for a log with transactional offsets (TxnOffsetsLog) also
  TxnRecord / TxnMarkerRecord entries (snakafka.coordinator.internal_topic_log).

A value of None is a tombstone. The error a failed write turns into depends on the API,
as Kafka's GroupMetadataManager maps it (storeGroup / storeOffsets).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from snakafka.coordinator.internal_topic_log import LogEntry
from snakafka.protocol.errors import ErrorCode

Record = tuple[bytes, bytes | None]


class OffsetsLog(Protocol):
    async def append(self, partition: int, records: list[Record]) -> None: ...

    def read(self, partition: int) -> Iterable[Record | LogEntry]: ...


@runtime_checkable
class TxnOffsetsLog(Protocol):
    """An OffsetsLog that also writes transactional batches (TxnOffsetCommit): the
    records of `append_txn` belong to the producer's transaction, and read() yields them
    as TxnRecord and the producer's markers as TxnMarkerRecord."""

    async def append_txn(self, partition: int, records: list[Record], producer_id: int,
                         producer_epoch: int) -> None: ...


_UNAVAILABLE = frozenset({
    ErrorCode.unknown_topic_or_partition,
    ErrorCode.not_enough_replicas,
    ErrorCode.not_enough_replicas_after_append,
})
_MOVED = frozenset({ErrorCode.not_leader_or_follower, ErrorCode.kafka_storage_error})
_TOO_LARGE = frozenset({ErrorCode.record_list_too_large, ErrorCode.message_too_large, ErrorCode.invalid_fetch_size})


def group_write_error(code: ErrorCode) -> ErrorCode:
    """The error for JoinGroup/SyncGroup when a group record could not be written."""
    if code in _UNAVAILABLE or code == ErrorCode.request_timed_out:
        return ErrorCode.coordinator_not_available
    if code in _MOVED:
        return ErrorCode.not_coordinator
    if code in _TOO_LARGE:
        return ErrorCode.unknown_server_error
    return code


def offset_write_error(code: ErrorCode) -> ErrorCode:
    """The error for OffsetCommit when offset records could not be written."""
    if code in _UNAVAILABLE:
        return ErrorCode.coordinator_not_available
    if code in _MOVED:
        return ErrorCode.not_coordinator
    if code in _TOO_LARGE:
        return ErrorCode.invalid_commit_offset_size
    return code

"""Coordinators' records written through the replica manager, like any client's data.

Group offsets (__consumer_offsets) and, later, transaction state (__transaction_state)
are appended as ordinary record batches with acks=-1 and read back at load time. As in
Kafka, a write completes only once the partition's high watermark passes it (every ISR
member has it), so a committed offset survives the loss of the coordinator's broker;
after offsets.commit.timeout.ms (Kafka's default, 5 s) it fails with REQUEST_TIMED_OUT,
which the group coordinator maps to Kafka's commit error codes. This is the one place
coordinators touch the log: everything above sees (key, value) pairs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from snakafka.protocol.errors import ErrorCode, KafkaError
from snakafka.protocol.records import (
    NewRecord,
    decode_records,
    encode_batch,
    parse_control_record,
)
from snakafka.replication.replica_manager import ReplicaManager

log = logging.getLogger(__name__)

_READ_CHUNK = 1 << 20
COMMIT_TIMEOUT_MS = 5000  # Kafka's offsets.commit.timeout.ms default


@dataclass(frozen=True, slots=True)
class TxnRecord:
    """A record of a transactional batch (TxnOffsetCommit): it counts only once the
    producer's COMMIT marker follows it, and never if an ABORT does."""

    producer_id: int
    key: bytes
    value: bytes | None


@dataclass(frozen=True, slots=True)
class TxnMarkerRecord:
    """A transaction marker (control batch) of a producer: COMMIT or ABORT."""

    producer_id: int
    commit: bool


# What read() yields: a plain (key, value) record, or the transactional pieces above.
LogEntry = tuple[bytes, bytes | None] | TxnRecord | TxnMarkerRecord


class InternalTopicLog:
    """Append and replay (key, value) records on the partitions of one internal topic."""

    def __init__(self, topic: str, replica_manager: ReplicaManager, time_ms: object) -> None:
        self.topic = topic
        self.replica_manager = replica_manager
        self._time_ms = time_ms

    async def append(self, partition: int, records: list[tuple[bytes, bytes | None]], *,
                     producer_id: int = -1, producer_epoch: int = -1) -> None:
        """Returns once the records are committed (acks=-1: below the high watermark);
        raises KafkaError otherwise. With a producer id the batch is transactional, of
        that producer and epoch (TxnOffsetCommit's offsets, as Kafka's
        GroupMetadataManager.storeOffsets writes them): readers apply it only once the
        producer's COMMIT marker is in the partition. Its sequence is left unset: the
        coordinator, not the client, writes it, so there is nothing to deduplicate."""
        if not records:
            return
        now = self._time_ms()  # type: ignore[operator]
        batch = encode_batch([NewRecord(key=k, value=v, timestamp=now) for k, v in records],
                             producer_id=producer_id, producer_epoch=producer_epoch,
                             transactional=producer_id >= 0)
        results = await self.replica_manager.append_and_wait(-1, {(self.topic, partition): batch}, COMMIT_TIMEOUT_MS)
        result = results[(self.topic, partition)]
        if result.error != ErrorCode.none:
            raise KafkaError(result.error, result.message)
        await asyncio.sleep(0)

    async def append_txn(self, partition: int, records: list[tuple[bytes, bytes | None]], producer_id: int,
                         producer_epoch: int) -> None:
        """append() as a transactional batch of the producer (TxnOffsetsLog)."""
        await self.append(partition, records, producer_id=producer_id, producer_epoch=producer_epoch)

    def read(self, partition: int) -> Iterator[LogEntry]:
        """Every record of the partition from its log start, in offset order: plain
        records as (key, value), records of transactional batches as TxnRecord, and
        transaction markers as TxnMarkerRecord."""
        part = self.replica_manager.get_partition(self.topic, partition)
        log_ = part.log
        offset = log_.log_start_offset
        while offset < log_.log_end_offset:
            result = log_.read(offset, _READ_CHUNK, min_one_batch=True)
            if result.slice is None:
                break
            data = result.slice.read_bytes()
            advanced = False
            for header, records in decode_records(data):
                if header.next_offset <= offset:
                    continue
                if header.is_control:
                    for record in records:
                        if record.offset >= offset:
                            try:
                                commit, _ = parse_control_record(record)
                            except ValueError:
                                continue
                            yield TxnMarkerRecord(header.producer_id, commit)
                else:
                    for record in records:
                        if record.offset >= offset and record.key is not None:
                            if header.is_transactional:
                                yield TxnRecord(header.producer_id, record.key, record.value)
                            else:
                                yield record.key, record.value
                offset = header.next_offset
                advanced = True
            if not advanced:
                raise KafkaError(ErrorCode.corrupt_message, f"cannot read {self.topic}-{partition} at offset {offset}")

"""Coordinators' records written through the replica manager, like any client's data.

Group offsets (__consumer_offsets) and, later, transaction state (__transaction_state)
are appended as ordinary record batches with acks=-1 and read back at load time. This is
the one place coordinators touch the log: everything above sees (key, value) pairs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

from snakafka.protocol.errors import ErrorCode, KafkaError
from snakafka.protocol.records import NewRecord, decode_records, encode_batch
from snakafka.replication.replica_manager import ReplicaManager

log = logging.getLogger(__name__)

_READ_CHUNK = 1 << 20


class InternalTopicLog:
    """Append and replay (key, value) records on the partitions of one internal topic."""

    def __init__(self, topic: str, replica_manager: ReplicaManager, time_ms: object) -> None:
        self.topic = topic
        self.replica_manager = replica_manager
        self._time_ms = time_ms

    async def append(self, partition: int, records: list[tuple[bytes, bytes | None]]) -> None:
        """Returns once the records are in the log (acks=-1); raises KafkaError otherwise."""
        if not records:
            return
        now = self._time_ms()  # type: ignore[operator]
        batch = encode_batch([NewRecord(key=k, value=v, timestamp=now) for k, v in records])
        result = self.replica_manager.append_records(-1, {(self.topic, partition): batch})[(self.topic, partition)]
        if result.error != ErrorCode.none:
            raise KafkaError(result.error, result.message)
        await asyncio.sleep(0)

    def read(self, partition: int) -> Iterator[tuple[bytes, bytes | None]]:
        """Every record of the partition from its log start, in offset order."""
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
                if not header.is_control:
                    for record in records:
                        if record.offset >= offset and record.key is not None:
                            yield record.key, record.value
                offset = header.next_offset
                advanced = True
            if not advanced:
                raise KafkaError(ErrorCode.corrupt_message, f"cannot read {self.topic}-{partition} at offset {offset}")

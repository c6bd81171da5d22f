"""Record batches for tests, built by kafka-python's batch builder: a real client's
encoder, so the broker is tested on the bytes clients actually send."""

from __future__ import annotations

from kafka.record.default_records import DefaultRecordBatchBuilder


def make_batch(count: int = 1, *, timestamp: int = 1_000, value_size: int = 10, compression: int = 0) -> bytes:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=compression, is_transactional=False,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1, batch_size=1 << 30)
    for i in range(count):
        builder.append(i, timestamp=timestamp + i, key=b"k%d" % i, value=bytes([i % 251]) * value_size, headers=[])
    return bytes(builder.build())

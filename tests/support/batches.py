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


# -- hand-built batches, malformed on purpose --------------------------------------------
# The encoders above (kafka-python's, snakafka's own) only write well-formed batches; the
# validation tests need every field under their control, so these write the bytes out.


def raw_record(offset_delta: int, timestamp_delta: int = 0, key: bytes | None = b"k", value: bytes | None = b"v",
               headers: tuple[tuple[bytes, bytes | None], ...] = (), *, length_adjust: int = 0) -> bytes:
    """One magic-2 record; `length_adjust` makes its declared length lie by that much."""
    from snakafka.protocol.records import write_varint

    def field(data: bytes | None) -> bytes:
        return write_varint(-1) if data is None else write_varint(len(data)) + data

    body = b"\x00" + write_varint(timestamp_delta) + write_varint(offset_delta) + field(key) + field(value)
    body += write_varint(len(headers)) + b"".join(field(k) + field(v) for k, v in headers)
    return write_varint(len(body) + length_adjust) + body


def hand_batch(records_section: bytes, *, count: int, last_offset_delta: int | None = None, codec: int = 0,
               base_timestamp: int = 1_000, max_timestamp: int = 1_000, log_append_time: bool = False,
               producer_id: int = -1, base_sequence: int = -1) -> bytes:
    """A batch around `records_section` (compressed with `codec` here), header fields as
    given (last_offset_delta defaults to count - 1), with a correct CRC-32C."""
    import struct

    from crc32c import crc32c

    from snakafka.protocol.batch import ATTRIBUTES_OFFSET, CRC_OFFSET
    from snakafka.protocol.compression import compress

    payload = compress(codec, records_section) if codec else records_section
    attributes = codec | (0x08 if log_append_time else 0)
    lod = count - 1 if last_offset_delta is None else last_offset_delta
    header = bytearray(struct.pack(">qiibIhiqqqhii", 0, 49 + len(payload), -1, 2, 0, attributes, lod, base_timestamp,
                                   max_timestamp, producer_id, -1 if producer_id < 0 else 0, base_sequence, count))
    struct.pack_into(">I", header, CRC_OFFSET, crc32c(payload, crc32c(bytes(header[ATTRIBUTES_OFFSET:]))))
    return bytes(header) + payload

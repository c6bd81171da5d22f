"""Topic-level compression.type: re-encode incoming batches in the topic's codec.

With compression.type=producer (the default) batches are stored as sent and nothing
here runs. With a codec named, Kafka's LogValidator recompresses batches that arrive in
another codec; so do we. It is the one append path that decodes records, and only for
topics that ask for it.
"""

from __future__ import annotations

from snakafka.protocol.batch import BatchHeader, iter_batches
from snakafka.protocol.records import NewRecord, decode_batch, encode_batch

CODECS = {"uncompressed": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def target_codec(compression_type: str) -> int | None:
    """The codec batches must be stored in, or None to keep the producer's."""
    return CODECS.get(compression_type)


def recompress(data: bytes | bytearray | memoryview, codec: int) -> bytes | bytearray | memoryview:
    """`data` with every batch not already in `codec` re-encoded in it (records, offset
    deltas, timestamps, headers and producer fields unchanged). Control batches stay."""
    batches = list(iter_batches(data))
    if all(h.compression == codec or h.is_control for _, h in batches):
        return data
    out = bytearray()
    for pos, header in batches:
        if header.compression == codec or header.is_control:
            out += data[pos : pos + header.size]
            continue
        out += _reencode(data, pos, header, codec)
    return bytes(out)


def _reencode(data: bytes | bytearray | memoryview, pos: int, header: BatchHeader, codec: int) -> bytes:
    _, records = decode_batch(data, pos)
    new = [
        NewRecord(key=r.key, value=r.value, headers=r.headers, timestamp=r.timestamp, offset_delta=r.offset - header.base_offset)
        for r in records
    ]
    return encode_batch(
        new,
        base_offset=header.base_offset,
        compression=codec,
        base_timestamp=header.base_timestamp,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        transactional=header.is_transactional,
        partition_leader_epoch=header.partition_leader_epoch,
        last_offset_delta=header.last_offset_delta,
    )

"""The default partitioner of Kafka's Java client (and librdkafka's murmur2_random) for
keyed records: murmur2 of the key bytes, made positive, modulo the partition count.

Same key, same partition, whichever client wrote it: that is what lets a Java
producer, confluent-kafka with partitioner=murmur2_random, kafka-python and our
console producer share a keyed topic. Pure functions, no I/O.
"""

from __future__ import annotations

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """MurmurHash2 as org.apache.kafka.common.utils.Utils.murmur2 computes it, as an
    unsigned 32-bit value (Java's int has the same bits; kafka-python returns this too)."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    end4 = length & ~3
    for i in range(0, end4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length & 3
    if rest == 3:
        h ^= data[end4 + 2] << 16
    if rest >= 2:
        h ^= data[end4 + 1] << 8
    if rest >= 1:
        h ^= data[end4]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def to_positive(h: int) -> int:
    """Java's Utils.toPositive: clear the sign bit (not abs(), which fails for MIN_VALUE)."""
    return h & 0x7FFFFFFF


def partition_for_key(key: bytes, partitions: int) -> int:
    """The partition the Java client's default partitioner gives a record with `key`."""
    if partitions <= 0:
        raise ValueError(f"a topic has at least one partition, not {partitions}")
    return to_positive(murmur2(key)) % partitions

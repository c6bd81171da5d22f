"""The default partitioner of Kafka's Java client (and librdkafka's murmur2_random) for
keyed records: murmur2 of the key bytes, made positive, modulo the partition count.

Same key, same partition, whichever client wrote it: that is what lets a Java
producer, confluent-kafka with partitioner=murmur2_random, kafka-python and our
console producer share a keyed topic. Pure functions, no I/O.
"""

from __future__ import annotations

import struct

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


def java_string_hash(s: str) -> int:
    """Java's String.hashCode: h = 31*h + c over UTF-16 code units, as a signed int32."""
    units = s.encode("utf-16-be")
    h = 0
    for c in struct.unpack(f">{len(units) // 2}H", units):
        h = (31 * h + c) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def kafka_abs(n: int) -> int:
    """Kafka's Utils.abs: Math.abs, except Integer.MIN_VALUE (which has no positive
    int32) maps to 0. Not the `n & 0x7fffffff` of Utils.toPositive, which gives a
    different answer for every other negative number."""
    return 0 if n == -(1 << 31) else abs(n)

"""protocol/partitioner.py: Kafka's murmur2 key partitioner, checked against Java's own
test vectors and against kafka-python's implementation (the librdkafka check, which
needs a broker to report partitions, is in tests/integration/test_console_cli.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from snakafka.protocol.partitioner import murmur2, partition_for_key, to_positive

# org.apache.kafka.common.utils.UtilsTest#testMurmur2 (Java ints, signed)
JAVA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def _signed(h: int) -> int:
    return h - (1 << 32) if h >= 1 << 31 else h


@pytest.mark.parametrize(("data", "expected"), JAVA_VECTORS.items())
def test_java_vectors(data: bytes, expected: int) -> None:
    assert _signed(murmur2(data)) == expected


@given(st.binary(max_size=200))
def test_matches_kafka_python(data: bytes) -> None:
    assert murmur2(data) == kafka_python_murmur2(data)


@given(st.binary(max_size=64), st.integers(1, 10_000))
def test_partition_in_range_and_java_formula(key: bytes, partitions: int) -> None:
    p = partition_for_key(key, partitions)
    assert 0 <= p < partitions
    assert p == (kafka_python_murmur2(key) & 0x7FFFFFFF) % partitions


def test_to_positive_is_not_abs() -> None:
    # Java's Integer.MIN_VALUE: abs() would stay negative, toPositive gives 0
    assert to_positive(0x80000000) == 0
    assert to_positive(0xFFFFFFFF) == 0x7FFFFFFF


def test_no_partitions_is_an_error() -> None:
    with pytest.raises(ValueError):
        partition_for_key(b"k", 0)

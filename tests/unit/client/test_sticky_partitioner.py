"""client/producer.py's StickyPartitioner: keyed records by murmur2, keyless ones on one
partition per batch, moving round-robin."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from snakafka.client.producer import StickyPartitioner
from snakafka.protocol.partitioner import partition_for_key


@given(st.lists(st.binary(max_size=20), max_size=30), st.integers(1, 50))
def test_keyed_records_follow_murmur2(keys: list[bytes], partitions: int) -> None:
    p = StickyPartitioner()
    assert [p.choose(k, partitions) for k in keys] == [partition_for_key(k, partitions) for k in keys]


@given(st.integers(1, 20), st.integers(1, 60))
def test_keyless_records_stick_then_visit_every_partition(partitions: int, batches: int) -> None:
    p = StickyPartitioner()
    seen = []
    for _ in range(batches):
        first = p.choose(None, partitions)
        assert p.choose(None, partitions) == first, "sticky within a batch"
        seen.append(first)
        p.batch_completed(first, partitions)
    # round robin: consecutive batches go to consecutive partitions
    assert all((b - a) % partitions == 1 % partitions for a, b in itertools.pairwise(seen))
    if batches >= partitions:
        assert set(seen) == set(range(partitions))

"""client/assignor.py: the range assignor (Kafka's RangeAssignor)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from snakafka.client.assignor import range_assign


def test_kafka_documented_example() -> None:
    # RangeAssignor's javadoc: C0 and C1 subscribe to t0 and t1, 3 partitions each
    subs = {"C0": ["t0", "t1"], "C1": ["t0", "t1"]}
    assert range_assign(subs, {"t0": 3, "t1": 3}) == {"C0": {"t0": [0, 1], "t1": [0, 1]}, "C1": {"t0": [2], "t1": [2]}}


def test_members_only_get_topics_they_subscribe_to() -> None:
    subs = {"a": ["x"], "b": ["x", "y"], "c": []}
    assert range_assign(subs, {"x": 4, "y": 2}) == {"a": {"x": [0, 1]}, "b": {"x": [2, 3], "y": [0, 1]}, "c": {}}


def test_unknown_topic_is_not_assigned() -> None:
    assert range_assign({"a": ["gone"]}, {}) == {"a": {}}


@given(st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=8, unique=True), st.integers(0, 40))
def test_one_topic_is_covered_disjointly_and_balanced(members: list[str], partitions: int) -> None:
    plan = range_assign({m: ["t"] for m in members}, {"t": partitions})
    got = [plan[m].get("t", []) for m in sorted(members)]
    flat = [p for parts in got for p in parts]
    assert flat == list(range(partitions)), "consecutive ranges, in member order, covering every partition once"
    sizes = [len(parts) for parts in got]
    assert max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes, reverse=True), "the first members get the extra partitions"

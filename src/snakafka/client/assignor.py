"""The "range" partition assignor, as the group leader runs it (Kafka's RangeAssignor).

Per topic, the members subscribed to it, sorted by member id, get consecutive ranges of
partitions: with N partitions and M members, each gets N // M and the first N % M one
more. Pure, so that every member of a group computes the same thing from the same input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

RANGE = "range"


def range_assign(subscriptions: Mapping[str, Sequence[str]],
                 partitions: Mapping[str, int]) -> dict[str, dict[str, list[int]]]:
    """member id -> topic -> partitions. Every member appears, possibly with nothing;
    topics missing from `partitions` (unknown to the leader) are not assigned."""
    result: dict[str, dict[str, list[int]]] = {m: {} for m in subscriptions}
    topics = sorted({t for ts in subscriptions.values() for t in ts})
    for topic in topics:
        count = partitions.get(topic, 0)
        members = sorted(m for m, ts in subscriptions.items() if topic in ts)
        if count <= 0 or not members:
            continue
        per_member, extra = divmod(count, len(members))
        start = 0
        for i, member in enumerate(members):
            length = per_member + (1 if i < extra else 0)
            if length:
                result[member][topic] = list(range(start, start + length))
            start += length
    return result

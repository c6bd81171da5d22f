"""Replica assignment: spread partitions and their leaders evenly over brokers.

Kafka's rack-unaware algorithm (AdminUtils.assignReplicasToBrokers): the first replica
of partition p goes to broker (start + p) % n, followers follow at a shift that grows
every n partitions, so leaders and followers are both balanced.
"""

from __future__ import annotations

import random


class AssignmentError(Exception):
    pass


def assign_replicas(
    broker_ids: list[int],
    num_partitions: int,
    replication_factor: int,
    *,
    first_partition: int = 0,
    start_index: int | None = None,
    rng: random.Random | None = None,
) -> dict[int, tuple[int, ...]]:
    if num_partitions <= 0:
        raise AssignmentError("Number of partitions must be larger than 0.")
    if replication_factor <= 0:
        raise AssignmentError("Replication factor must be larger than 0.")
    brokers = sorted(broker_ids)
    n = len(brokers)
    if replication_factor > n:
        raise AssignmentError(
            f"Replication factor: {replication_factor} larger than available brokers: {n}."
        )
    rng = rng or random.Random()
    start = rng.randrange(n) if start_index is None else start_index
    next_shift = rng.randrange(n) if start_index is None else start_index
    result: dict[int, tuple[int, ...]] = {}
    current = first_partition
    for i in range(num_partitions):
        p = first_partition + i
        if current > 0 and current % n == 0:
            next_shift += 1
        first = (current + start) % n
        replicas = [brokers[first]]
        for j in range(replication_factor - 1):
            shift = 1 + (next_shift + j) % (n - 1)
            replicas.append(brokers[(first + shift) % n])
        result[p] = tuple(replicas)
        current += 1
    return result

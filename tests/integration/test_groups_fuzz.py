"""Fuzz-style: random joins, leaves, polls and commits from several real consumers.

Invariants after every step: no partition is held by two members that both think they
own it once the group has settled, and no committed offset is ever lost (OffsetFetch
always returns the last value committed for each partition).
"""

from __future__ import annotations

import random
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from snakafka.testing.process import BrokerProcess

from .group_clients import member, produce_numbered, settle
from .helpers import confluent_create_topic

PARTITIONS = 4


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_random_membership_and_commits(broker: BrokerProcess, topic_name: str, seed: int) -> None:
    rng = random.Random(seed)
    confluent_create_topic(broker.bootstrap, topic_name, PARTITIONS)
    produce_numbered(broker.bootstrap, topic_name, 200, PARTITIONS)
    group = f"fuzz-{uuid.uuid4().hex[:8]}"
    members: list[Consumer] = []
    committed: dict[int, int] = {}
    try:
        for _ in range(8):
            action = rng.choice(["join", "join", "leave", "commit", "commit"]) if members else "join"
            if action == "join" and len(members) < 4:
                c = member(broker.bootstrap, group)
                c.subscribe([topic_name])
                members.append(c)
            elif action == "leave" and len(members) > 1:
                members.pop(rng.randrange(len(members))).close()
            elif action == "commit":
                owners = settle(members, set(range(PARTITIONS)))
                i = rng.randrange(len(members))
                mine = sorted(owners[i])
                if mine:
                    part = rng.choice(mine)
                    offset = committed.get(part, 0) + rng.randint(1, 10)
                    members[i].commit(offsets=[TopicPartition(topic_name, part, offset)], asynchronous=False)
                    committed[part] = offset
            settle(members, set(range(PARTITIONS)))
            probe = members[0].committed([TopicPartition(topic_name, q) for q in range(PARTITIONS)], timeout=20)
            assert {tp.partition: tp.offset for tp in probe if tp.offset >= 0} == committed, "a committed offset was lost"
    finally:
        for c in members:
            c.close()

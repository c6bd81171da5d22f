"""What the fault tests read from a cluster's files (snakafka.testing.evidence): a
replica's batches from its segment files, and leader claims from broker log lines."""

from __future__ import annotations

from pathlib import Path

from support.batches import make_batch

from snakafka.protocol.batch import (
    read_header,
    set_base_offset,
    set_partition_leader_epoch,
)
from snakafka.testing.evidence import leader_claims, replica_batches
from snakafka.testing.invariants import LeaderClaim


def stored(base_offset: int, epoch: int, count: int) -> bytes:
    data = bytearray(make_batch(count))
    set_base_offset(data, 0, base_offset)
    set_partition_leader_epoch(data, 0, epoch)
    return bytes(data)


def test_batches_come_from_every_segment_in_offset_order(tmp_path: Path) -> None:
    directory = tmp_path / "t-0"
    directory.mkdir()
    first = stored(0, 0, 2) + stored(2, 1, 3)
    second = stored(5, 1, 1)
    (directory / f"{5:020d}.log").write_bytes(second + stored(6, 2, 2)[:30])  # a torn tail is left out
    (directory / f"{0:020d}.log").write_bytes(first)
    (directory / f"{9:020d}.log.deleted").write_bytes(stored(9, 3, 1))  # not a live segment
    batches = replica_batches(tmp_path, "t", 0)
    assert [(b.base_offset, b.last_offset, b.leader_epoch) for b in batches] == [(0, 1, 0), (2, 4, 1), (5, 5, 1)]
    assert batches[0].crc == read_header(first).crc
    assert replica_batches(tmp_path, "t", 1) == []


def test_leader_claims_are_read_from_become_leader_lines(tmp_path: Path) -> None:
    log = tmp_path / "broker-1.log"
    log.write_text(
        "2026-12-03 08:00:00,000 INFO snakafka.replication.partition: broker 1: my-topic-2 leader for epoch 7 "
        "from offset 42, isr [1, 2]\n"
        "2026-12-03 08:00:00,001 INFO snakafka.replication.partition: broker 1: other-0 leader for epoch 1 "
        "from offset 0, isr [1]\n"
        "unrelated line\n")
    assert leader_claims(log, "my-topic") == [LeaderClaim(2, 7, 1)]
    assert leader_claims(tmp_path / "missing.log", "my-topic") == []

"""What the invariant checker (invariants.py) needs from a cluster's files: each replica's
batches, read from its segment files with the log's own file naming and batch parsing,
and which broker started leading which leader epoch, from the brokers' log lines.

Reading the files of a running broker is fine: a batch being appended is cut short and
dropped, as a fetch response's trailing partial batch is.
"""

from __future__ import annotations

import re
from pathlib import Path

from snakafka.log.files import LOG_SUFFIX, parse_segment_file, partition_dir_name
from snakafka.protocol.batch import BatchError, validate_batch
from snakafka.testing.invariants import LeaderClaim, StoredBatch

# Partition.become_leader's log line: "broker 1: topic-0 leader for epoch 3 from offset 42, isr [1, 2]"
_LEADER_LINE = re.compile(r"broker (?P<broker>\d+): (?P<topic>.+)-(?P<partition>\d+) leader for epoch "
                          r"(?P<epoch>\d+) from offset")


def replica_batches(log_dir: Path, topic: str, partition: int) -> list[StoredBatch]:
    """The batches of one replica, in offset order: every live `.log` segment of
    `<log_dir>/<topic>-<partition>/`, each batch validated (CRC-32C); a torn or corrupt
    tail ends its segment, as log recovery would cut it."""
    directory = log_dir / partition_dir_name(topic, partition)
    if not directory.is_dir():
        return []
    segments = []
    for path in directory.iterdir():
        parsed = parse_segment_file(path.name)
        if parsed is not None and parsed.kind == LOG_SUFFIX and not parsed.state:
            segments.append((parsed.base_offset, path))
    batches: list[StoredBatch] = []
    for _, path in sorted(segments):
        data = path.read_bytes()
        position = 0
        while position < len(data):
            try:
                header = validate_batch(data, position)
            except BatchError:
                break
            batches.append(StoredBatch(header.base_offset, header.last_offset, header.partition_leader_epoch,
                                       header.crc, header.producer_id, header.producer_epoch,
                                       header.base_sequence))
            position += header.size
    return batches


def leader_claims(log_file: Path, topic: str) -> list[LeaderClaim]:
    """Every "leader for epoch" line of `topic` in a broker's log file."""
    if not log_file.exists():
        return []
    claims = []
    with open(log_file, errors="replace") as lines:
        for line in lines:
            if " leader for epoch " not in line:
                continue
            match = _LEADER_LINE.search(line)
            if match is not None and match["topic"] == topic:
                claims.append(LeaderClaim(int(match["partition"]), int(match["epoch"]), int(match["broker"])))
    return claims

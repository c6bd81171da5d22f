"""The safety invariants of a replicated log, checked after a fault test: pure logic over
what the producer was told, what a consumer read back and what each replica stored.

Inputs (gathered by evidence.py, or built by hand in unit tests):
- `acked`: every record the producer got an acknowledgement for (acks=all, idempotent):
  partition, offset, value and `seq`, the order in which the producer sent it;
- `read`: every record a consumer read back afterwards from the start of each partition,
  in the order it got them, with the leader epoch of its batch;
- `replicas`: broker -> partition -> the batches in that replica's segment files (base
  and last offset, leader epoch, CRC: the CRC-32C covers everything in the batch but its
  offset and epoch, so equal CRCs at equal offsets mean the same records);
- `high_watermarks`: partition -> the committed end every replica listed in `complete`
  must hold identically;
- `leader_claims`: (partition, leader epoch, broker) for every time a broker started
  leading a partition (broker log lines say so).

Violations, each a category of `Report`:
- lost: an acknowledged record not read back at its acknowledged offset with its value
  (missing, or another value there: an acknowledged write overwritten);
- duplicated: a value read back at more than one offset where the broker should have
  known better: the copies carry the same producer id, epoch and sequence (a retry the
  broker wrote twice), or the batches are not known;
- resent (reported, not a violation): a value read back at more than one offset whose
  copies were written under different producer ids or epochs. The client sent the record
  again as a new write, which no broker can tell from a new record: librdkafka does so
  after bumping its epoch on an OUT_OF_ORDER_SEQUENCE_NUMBER answer to a later in-flight
  request, re-sending under the new epoch every record not yet acknowledged, on every
  partition, including those whose first attempt was written
  (confluentinc/librdkafka#4953); so does a new producer replacing one that failed;
- reordered: in a partition, acknowledged records whose offsets do not follow the order
  the producer sent them in, or a consumer that saw offsets go backwards;
- diverged: below the high watermark, two replicas holding different batches at the same
  offset, or a replica that should be complete missing one;
- split_brain: one leader epoch of a partition claimed by two brokers, or two different
  batches stored under the same epoch at the same offset (two leaders acknowledging
  writes in one epoch);
- unreadable: a partition the consumer could not read to its high watermark once the
  faults were over (`unreadable`, filled by the caller: then its missing acknowledged
  records also count as lost).
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

UNKNOWN = -1  # the offset of a record acknowledged without one (the client did not report it)


@dataclass(frozen=True, slots=True)
class AckedRecord:
    partition: int
    offset: int  # UNKNOWN: then it must be read back once, anywhere in its partition
    value: bytes
    seq: int  # send order: records of one partition must land in this order (-1: another producer's, unordered)


@dataclass(frozen=True, slots=True)
class ReadRecord:
    partition: int
    offset: int
    value: bytes
    leader_epoch: int = -1


@dataclass(frozen=True, slots=True)
class StoredBatch:
    base_offset: int
    last_offset: int
    leader_epoch: int
    crc: int
    producer_id: int = -1
    producer_epoch: int = -1
    base_sequence: int = -1

    def writer_of(self, offset: int) -> tuple[int, int, int] | None:
        """(producer id, producer epoch, sequence) of the record at `offset`, or None
        when the batch has no idempotent producer."""
        if self.producer_id < 0 or self.base_sequence < 0:
            return None
        return self.producer_id, self.producer_epoch, self.base_sequence + offset - self.base_offset


@dataclass(frozen=True, slots=True)
class LeaderClaim:
    partition: int
    leader_epoch: int
    broker: int


@dataclass
class Report:
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)  # by the client under a new producer id or epoch: not a violation
    reordered: list[str] = field(default_factory=list)
    diverged: list[str] = field(default_factory=list)
    split_brain: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # partitions that could not be read to their end
    acked: int = 0
    read: int = 0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.reordered or self.diverged or self.split_brain
                    or self.unreadable)

    def counts(self) -> dict[str, int]:
        return {"lost": len(self.lost), "duplicated": len(self.duplicated), "reordered": len(self.reordered),
                "diverged": len(self.diverged), "split_brain": len(self.split_brain),
                "unreadable": len(self.unreadable)}

    def summary(self, examples: int = 3) -> str:
        """One line of counts, then a few examples of each violation."""
        lines = [f"acked {self.acked}, read {self.read}: "
                 + ", ".join(f"{k} {v}" for k, v in self.counts().items())]
        if self.resent:
            lines[0] += f" (and {len(self.resent)} re-sent by the client under a new producer epoch)"
        for name in [*self.counts(), "resent"]:
            found: list[str] = getattr(self, name)
            lines += [f"  {name}: {text}" for text in found[:examples]]
        return "\n".join(lines)


def check(
    acked: Iterable[AckedRecord],
    read: Sequence[ReadRecord],
    replicas: Mapping[int, Mapping[int, Sequence[StoredBatch]]] | None = None,
    high_watermarks: Mapping[int, int] | None = None,
    leader_claims: Iterable[LeaderClaim] = (),
    complete: Collection[int] | None = None,
) -> Report:
    """Every invariant at once. `complete` lists the brokers that must hold every batch
    below the high watermark (default: all of `replicas`); the others are compared on
    what they have."""
    acked = list(acked)
    report = Report(acked=len(acked), read=len(read))
    _check_records(acked, read, _Writers(replicas or {}), report)
    _check_replicas(replicas or {}, high_watermarks or {}, complete, report)
    _check_claims(leader_claims, report)
    return report


class _Writers:
    """Who wrote the record at an offset, from the first replica holding its batch."""

    def __init__(self, replicas: Mapping[int, Mapping[int, Sequence[StoredBatch]]]) -> None:
        self._batches: dict[int, list[list[StoredBatch]]] = defaultdict(list)
        for stored in replicas.values():
            for partition, batches in stored.items():
                self._batches[partition].append(sorted(batches, key=lambda b: b.base_offset))

    def of(self, partition: int, offset: int) -> tuple[int, int, int] | None:
        for batches in self._batches.get(partition, ()):
            batch = _covering(batches, [b.base_offset for b in batches], offset)
            if batch is not None:
                return batch.writer_of(offset)
        return None


def _classify_duplicate(partition: int, value: bytes, offsets: list[int], writers: _Writers, report: Report) -> None:
    """A value at several offsets: the broker's fault unless every copy was written
    under its own producer id and epoch (then the client sent it again as a new write)."""
    found = [writers.of(partition, offset) for offset in offsets]
    text = f"partition {partition}: {value!r} at offsets {offsets}"
    known = [w for w in found if w is not None]
    if len(known) == len(found) and len({(pid, epoch) for pid, epoch, _ in known}) == len(known):
        detail = ", ".join(f"producer {pid} epoch {epoch} seq {seq}" for pid, epoch, seq in known)
        report.resent.append(f"{text}, written by {detail}")
    else:
        detail = ", ".join("unknown writer" if w is None else f"producer {w[0]} epoch {w[1]} seq {w[2]}"
                           for w in found)
        report.duplicated.append(f"{text} ({detail})")


def _check_records(acked: list[AckedRecord], read: Sequence[ReadRecord], writers: _Writers, report: Report) -> None:
    at: dict[tuple[int, int], ReadRecord] = {}
    offsets_of: dict[tuple[int, bytes], list[int]] = defaultdict(list)
    last_offset: dict[int, int] = {}
    for got in read:
        key = (got.partition, got.offset)
        if key in at:
            report.duplicated.append(f"offset {got.offset} of partition {got.partition} read twice")
        at[key] = got
        offsets_of[(got.partition, got.value)].append(got.offset)
        previous = last_offset.get(got.partition)
        if previous is not None and got.offset <= previous:
            report.reordered.append(f"partition {got.partition}: offset {got.offset} read after {previous}")
        last_offset[got.partition] = got.offset
    for (partition, value), offsets in offsets_of.items():
        if len(set(offsets)) > 1:
            _classify_duplicate(partition, value, sorted(set(offsets)), writers, report)
    for record in acked:
        where = offsets_of.get((record.partition, record.value))
        if record.offset == UNKNOWN:
            if not where:
                report.lost.append(f"{record.value!r} acknowledged (offset not reported) in partition "
                                   f"{record.partition}: not read back")
            continue
        found = at.get((record.partition, record.offset))
        if found is not None and found.value == record.value:
            continue
        if found is None:
            detail = "nothing there" if not where else f"found at offset(s) {sorted(set(where))} instead"
        else:
            detail = f"{found.value!r} there instead"
        report.lost.append(f"{record.value!r} acknowledged at {record.partition}/{record.offset}: {detail}")
    by_partition: dict[int, list[AckedRecord]] = defaultdict(list)
    for record in acked:
        if record.offset != UNKNOWN and record.seq >= 0:
            by_partition[record.partition].append(record)
    for partition, in_partition in by_partition.items():
        in_partition.sort(key=lambda r: r.offset)
        for before, after in itertools.pairwise(in_partition):
            if after.seq < before.seq:
                report.reordered.append(f"partition {partition}: sent #{after.seq} at offset {after.offset} after "
                                        f"#{before.seq} at offset {before.offset}")


def _check_replicas(replicas: Mapping[int, Mapping[int, Sequence[StoredBatch]]], high_watermarks: Mapping[int, int],
                    complete: Collection[int] | None, report: Report) -> None:
    must_hold = set(replicas) if complete is None else set(complete)
    partitions = {p for stored in replicas.values() for p in stored}
    for partition in sorted(partitions):
        hw = high_watermarks.get(partition)
        if hw is None:
            continue
        below: dict[int, list[StoredBatch]] = {}  # broker -> its batches starting below the hw
        for broker, stored in replicas.items():
            below[broker] = [b for b in stored.get(partition, ()) if b.base_offset < hw]
            _check_contiguous(broker, partition, below[broker], report)
        starts = {broker: [b.base_offset for b in batches] for broker, batches in below.items()}
        for base in sorted({b.base_offset for batches in below.values() for b in batches}):
            versions = {broker: batch for broker, batches in below.items()
                        if (batch := _covering(batches, starts[broker], base)) is not None}
            distinct = set(versions.values())
            if len(distinct) > 1:
                text = ", ".join(f"broker {b}: offsets {v.base_offset}-{v.last_offset} epoch {v.leader_epoch} "
                                 f"crc {v.crc:#x}" for b, v in sorted(versions.items()))
                report.diverged.append(f"partition {partition} offset {base} (hw {hw}): {text}")
                epochs = {v.leader_epoch for v in distinct}
                if len(epochs) < len(distinct):
                    report.split_brain.append(f"partition {partition} offset {base}: different batches under one "
                                              f"leader epoch ({text})")
            for broker in sorted((must_hold & set(below)) - set(versions)):
                report.diverged.append(f"partition {partition}: broker {broker} lacks offset {base} below the "
                                       f"high watermark {hw}")


def _covering(batches: Sequence[StoredBatch], starts: Sequence[int], offset: int) -> StoredBatch | None:
    """The batch holding `offset` in one replica's sorted batches, or None."""
    i = bisect.bisect_right(starts, offset) - 1
    if i >= 0 and batches[i].last_offset >= offset:
        return batches[i]
    return None


def _check_contiguous(broker: int, partition: int, batches: list[StoredBatch], report: Report) -> None:
    """Batches in a replica's files follow each other without overlap."""
    for before, after in itertools.pairwise(batches):
        if after.base_offset <= before.last_offset:
            report.diverged.append(f"partition {partition}: broker {broker} stores overlapping batches "
                                   f"{before.base_offset}-{before.last_offset} and {after.base_offset}-{after.last_offset}")


def _check_claims(claims: Iterable[LeaderClaim], report: Report) -> None:
    leaders: dict[tuple[int, int], set[int]] = defaultdict(set)
    for claim in claims:
        leaders[(claim.partition, claim.leader_epoch)].add(claim.broker)
    for (partition, epoch), brokers in sorted(leaders.items()):
        if len(brokers) > 1:
            report.split_brain.append(f"partition {partition}: leader epoch {epoch} claimed by brokers {sorted(brokers)}")

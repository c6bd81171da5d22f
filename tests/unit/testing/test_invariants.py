"""The fault tests' invariant checker (snakafka.testing.invariants), on hand-built
histories: a clean one passes, and each kind of violation is reported under its name."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from snakafka.testing.invariants import (
    UNKNOWN,
    AckedRecord,
    LeaderClaim,
    ReadRecord,
    StoredBatch,
    check,
)


def history(partitions: int = 2, records: int = 6) -> tuple[list[AckedRecord], list[ReadRecord]]:
    """Records sent round robin, each acknowledged at the next offset of its partition."""
    acked = [AckedRecord(seq % partitions, seq // partitions, b"v-%d" % seq, seq) for seq in range(records)]
    read = [ReadRecord(a.partition, a.offset, a.value) for a in sorted(acked, key=lambda a: (a.partition, a.offset))]
    return acked, read


BATCHES = [StoredBatch(0, 1, 0, 0xA), StoredBatch(2, 2, 0, 0xB), StoredBatch(3, 5, 1, 0xC)]


def test_a_clean_history_passes() -> None:
    acked, read = history()
    replicas = {b: {0: list(BATCHES)} for b in range(3)}
    claims = [LeaderClaim(0, 0, 1), LeaderClaim(0, 1, 2), LeaderClaim(0, 1, 2)]  # a claim may repeat
    report = check(acked, read, replicas, {0: 6}, claims)
    assert report.ok, report.summary()
    assert (report.acked, report.read) == (6, 6)


def test_a_record_missing_or_overwritten_is_lost() -> None:
    acked, read = history()
    missing = [r for r in read if (r.partition, r.offset) != (0, 1)]
    assert check(acked, missing).counts()["lost"] == 1
    overwritten = [ReadRecord(r.partition, r.offset, b"other") if (r.partition, r.offset) == (1, 0) else r
                   for r in read]
    report = check(acked, overwritten)
    assert len(report.lost) == 1 and "b'other' there instead" in report.lost[0]


def test_a_record_moved_to_another_offset_is_lost_and_said_where() -> None:
    acked, read = history(partitions=1, records=3)
    moved = [read[0], ReadRecord(0, 5, read[1].value), ReadRecord(0, 6, read[2].value)]
    report = check(acked, moved)
    assert len(report.lost) == 2 and "found at offset(s) [5] instead" in report.lost[0]


def test_a_value_twice_is_duplicated() -> None:
    acked, read = history(partitions=1, records=3)
    report = check(acked, [*read, ReadRecord(0, 3, read[1].value)])
    assert report.counts() == {"lost": 0, "duplicated": 1, "reordered": 0, "diverged": 0, "split_brain": 0,
                               "unreadable": 0}


def test_records_out_of_send_order_are_reordered() -> None:
    acked = [AckedRecord(0, 0, b"a", 1), AckedRecord(0, 1, b"b", 0)]
    read = [ReadRecord(0, 0, b"a"), ReadRecord(0, 1, b"b")]
    assert check(acked, read).counts()["reordered"] == 1
    backwards = [ReadRecord(0, 1, b"b"), ReadRecord(0, 0, b"a")]
    assert check([], backwards).counts()["reordered"] == 1


def test_an_acknowledgement_without_offset_needs_its_value_once_anywhere() -> None:
    acked = [AckedRecord(0, UNKNOWN, b"x", 0)]
    assert check(acked, [ReadRecord(0, 7, b"x")]).ok
    assert check(acked, [ReadRecord(1, 7, b"x")]).counts()["lost"] == 1


def test_replicas_differing_below_the_high_watermark_diverge() -> None:
    other = [BATCHES[0], StoredBatch(2, 2, 0, 0xBAD), BATCHES[2]]
    report = check([], [], {0: {0: BATCHES}, 1: {0: other}}, {0: 6})
    assert len(report.diverged) == 1 and "offset 2" in report.diverged[0]
    assert len(report.split_brain) == 1  # both batches claim leader epoch 0
    # Above the high watermark replicas may differ (an uncommitted tail).
    assert check([], [], {0: {0: BATCHES}, 1: {0: other}}, {0: 2}).ok


def test_batches_cut_differently_diverge() -> None:
    split = [BATCHES[0], BATCHES[1], StoredBatch(3, 3, 1, 0xD), StoredBatch(4, 5, 1, 0xE)]
    report = check([], [], {0: {0: BATCHES}, 1: {0: split}}, {0: 6})
    assert report.diverged and not report.ok


def test_a_complete_replica_lacking_a_batch_diverges_a_lagging_one_may() -> None:
    short = BATCHES[:2]
    replicas = {0: {0: BATCHES}, 1: {0: short}}
    assert "broker 1 lacks offset 3" in check([], [], replicas, {0: 6}).diverged[0]
    assert check([], [], replicas, {0: 6}, complete=[0]).ok


def test_overlapping_batches_in_one_replica_diverge() -> None:
    overlapping = [StoredBatch(0, 3, 0, 1), StoredBatch(2, 4, 0, 2)]
    assert check([], [], {0: {0: overlapping}}, {0: 5}).diverged


def test_one_epoch_claimed_by_two_brokers_is_split_brain() -> None:
    claims = [LeaderClaim(0, 3, 1), LeaderClaim(0, 3, 2), LeaderClaim(1, 3, 0)]
    report = check([], [], leader_claims=claims)
    assert report.split_brain == ["partition 0: leader epoch 3 claimed by brokers [1, 2]"]


@given(st.lists(st.integers(min_value=0, max_value=2), min_size=1, max_size=40), st.data())
def test_any_single_loss_is_found(partitions_of: list[int], data: st.DataObject) -> None:
    """Records acknowledged at the next offsets of random partitions and read back
    whole pass; dropping any one record from what is read fails as exactly one loss."""
    next_offset = [0, 0, 0]
    acked = []
    for seq, p in enumerate(partitions_of):
        acked.append(AckedRecord(p, next_offset[p], b"v-%d" % seq, seq))
        next_offset[p] += 1
    read = [ReadRecord(a.partition, a.offset, a.value) for a in sorted(acked, key=lambda a: (a.partition, a.offset))]
    assert check(acked, read).ok
    gone = data.draw(st.integers(min_value=0, max_value=len(read) - 1))
    report = check(acked, read[:gone] + read[gone + 1:])
    assert report.counts() == {"lost": 1, "duplicated": 0, "reordered": 0, "diverged": 0, "split_brain": 0,
                               "unreadable": 0}


def test_a_value_written_twice_under_one_producer_epoch_is_the_brokers_duplicate() -> None:
    """Same producer id, epoch and sequence at two offsets: a retry the broker should
    have answered with its first offset."""
    acked, read = history(partitions=1, records=3)
    batches = [StoredBatch(o, o, 0, o, producer_id=7, producer_epoch=0, base_sequence=s)
               for o, s in [(0, 0), (1, 1), (2, 2), (3, 1)]]
    report = check(acked, [*read, ReadRecord(0, 3, read[1].value)], {0: {0: batches}}, {0: 4})
    assert report.counts()["duplicated"] == 1 and not report.resent, report.summary()
    assert "producer 7 epoch 0 seq 1" in report.duplicated[0]


def test_a_value_resent_under_a_new_producer_epoch_is_reported_apart() -> None:
    """The second copy under epoch 1, sequence 0: the client sent it as a new record
    (librdkafka's epoch bump), which no broker can recognise; reported, not a violation."""
    acked, read = history(partitions=1, records=3)
    batches = [StoredBatch(o, o, 0, o, producer_id=7, producer_epoch=e, base_sequence=s)
               for o, e, s in [(0, 0, 0), (1, 0, 1), (2, 0, 2), (3, 1, 0)]]
    report = check(acked, [*read, ReadRecord(0, 3, read[1].value)], {0: {0: batches}}, {0: 4})
    assert report.ok, report.summary()
    assert len(report.resent) == 1 and "epoch 1 seq 0" in report.resent[0]


def test_a_duplicate_whose_batches_are_unknown_stays_a_violation() -> None:
    acked, read = history(partitions=1, records=3)
    batches = [StoredBatch(o, o, 0, o, producer_id=7, producer_epoch=0, base_sequence=o) for o in range(3)]
    report = check(acked, [*read, ReadRecord(0, 3, read[1].value)], {0: {0: batches}}, {0: 3})
    assert report.counts()["duplicated"] == 1 and "unknown writer" in report.duplicated[0]

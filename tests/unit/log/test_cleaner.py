"""Log compaction: what survives a cleaning, offsets, tombstones, races and crashes."""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snakafka.clock import ManualClock
from snakafka.log.cleaner import CleanResult, LogCleaner
from snakafka.log.files import CLEANER_OFFSET_CHECKPOINT
from snakafka.log.log_config import LogConfig
from snakafka.log.partition_log import PartitionLog
from snakafka.protocol.batch import BatchHeader
from snakafka.protocol.records import (
    NewRecord,
    Record,
    decode_records,
    encode_batch,
    encode_control_batch,
)

RETENTION = 10_000
Op = tuple[bytes | None, bytes | None]  # (key, value); value None: a tombstone


def compact_config(**overrides: object) -> LogConfig:
    values: dict[str, object] = {"segment_bytes": 600, "index_interval_bytes": 100, "cleanup_policy": ("compact",),
                                     "delete_retention_ms": RETENTION, "min_cleanable_dirty_ratio": 0.0}
    values.update(overrides)
    return LogConfig(**values)  # type: ignore[arg-type]


def open_compacted(directory: Path, clock: ManualClock, **overrides: object) -> PartitionLog:
    return PartitionLog.open(directory / "t-0", "t", 0, compact_config(**overrides), clock)


def put(plog: PartitionLog, clock: ManualClock, ops: list[Op], compression: int = 0, **batch: object) -> int:
    """Append one batch of `ops` stamped with the clock's time; returns its base offset.
    A compacted topic refuses keyless records from producers, so a batch holding some is
    written the way such records get there: before the topic's cleanup.policy became compact."""
    records = [NewRecord(key, value, timestamp=clock.now) for key, value in ops]
    data = encode_batch(records, compression=compression, **batch)  # type: ignore[arg-type]
    if all(key is not None for key, _ in ops):
        return plog.append(data).first_offset
    compacted = plog.config
    plog.update_config(dataclasses.replace(compacted, cleanup_policy=("delete",)))
    try:
        return plog.append(data).first_offset
    finally:
        plog.update_config(compacted)


def consume(plog: PartitionLog, start: int | None = None) -> tuple[list[Record], list[BatchHeader]]:
    """Records and batch headers from `start` to the end, fetched the way a consumer does."""
    offset = plog.log_start_offset if start is None else start
    records: list[Record] = []
    headers: list[BatchHeader] = []
    while offset < plog.log_end_offset:
        result = plog.read(offset, 1 << 20)
        assert result.slice is not None, f"nothing read at {offset} below {plog.log_end_offset}"
        before = offset
        for header, batch in decode_records(result.slice.read_bytes()):
            if header.next_offset <= offset:
                continue
            headers.append(header)
            records += [r for r in batch if r.offset >= offset]
            offset = header.next_offset
        assert offset > before, "a read must make progress"
    return records, headers


def triples(records: list[Record]) -> list[tuple[int, bytes | None, bytes | None]]:
    return [(r.offset, r.key, r.value) for r in records]


def latest_per_key(appended: list[tuple[int, bytes | None, bytes | None]], below: int,
                   tombstones: bool) -> list[tuple[int, bytes | None, bytes | None]]:
    latest: dict[bytes, tuple[int, bytes | None, bytes | None]] = {}
    for offset, key, value in appended:
        if offset < below and key is not None:
            latest[key] = (offset, key, value)
    return sorted(t for t in latest.values() if tombstones or t[2] is not None)


def fold(triples_: list[tuple[int, bytes | None, bytes | None]]) -> dict[bytes, bytes]:
    view: dict[bytes, bytes] = {}
    for _, key, value in triples_:
        if key is None:
            continue
        if value is None:
            view.pop(key, None)
        else:
            view[key] = value
    return view


def clean(cleaner: LogCleaner, plog: PartitionLog) -> CleanResult | None:
    plan = cleaner.prepare(plog)
    if plan is None:
        return None
    result = cleaner.clean(plan)
    replaced = cleaner.commit(plog, result)
    for segment in replaced:
        assert segment.state == ".deleted"
        segment.delete()
    return result


def segment_files(plog: PartitionLog) -> list[str]:
    return sorted(p.name for p in plog.directory.iterdir())


def check_log(plog: PartitionLog, appended: list[tuple[int, bytes | None, bytes | None]],
              codecs: dict[int, int], clean_end: int, *, tombstones: bool) -> None:
    """The compaction contract, read back through PartitionLog.read."""
    records, headers = consume(plog)
    got = triples(records)
    original = {offset: (key, value) for offset, key, value in appended}
    offsets = [r.offset for r in records]
    assert offsets == sorted(set(offsets)), "offsets must increase"
    for offset, key, value in got:
        assert original[offset] == (key, value), f"record at {offset} changed"
    assert [t for t in got if t[0] < clean_end] == latest_per_key(appended, clean_end, tombstones)
    assert [t for t in got if t[0] >= clean_end] == [t for t in appended if t[0] >= clean_end]
    assert fold(got) == fold(appended)
    for header in headers:
        assert header.base_offset in codecs, "batches keep their base offsets"
        if header.records_count:
            assert header.compression == codecs[header.base_offset], "batches keep their codec"
    # a fetch at any offset starts at the batch holding it or the next kept one
    for offset in range(plog.log_start_offset, plog.log_end_offset):
        result = plog.read(offset, 1)
        assert result.slice is not None
        first = next(decode_records(result.slice.read_bytes()))[0]
        expected = next(h for h in headers if h.last_offset >= offset)
        assert (first.base_offset, first.last_offset) == (expected.base_offset, expected.last_offset)
    for segment in plog.segments[:-1]:
        assert segment.size <= plog.config.segment_bytes


# -- property: random puts and deletes --------------------------------------------------

keys = st.sampled_from([b"a", b"b", b"c", b"d", b"e", b"f", None])
values = st.one_of(st.none(), st.binary(min_size=1, max_size=24))
batches = st.tuples(st.lists(st.tuples(keys, values), min_size=1, max_size=4), st.sampled_from([0, 0, 1, 2, 3, 4]))
workloads = st.lists(batches, min_size=1, max_size=30)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=workloads, second=workloads)
def test_compaction_keeps_the_latest_record_of_each_key(first: list[tuple[list[Op], int]],
                                                        second: list[tuple[list[Op], int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock()
        plog = open_compacted(Path(tmp), clock)
        cleaner = LogCleaner(clock)
        appended: list[tuple[int, bytes | None, bytes | None]] = []
        codecs: dict[int, int] = {}

        def write(workload: list[tuple[list[Op], int]]) -> None:
            for ops, codec in workload:
                base = put(plog, clock, ops, codec)
                codecs[base] = codec
                appended.extend((base + i, k, v) for i, (k, v) in enumerate(ops))
                clock.advance(10)

        write(first)
        active = plog.active_segment
        active_bytes = active.log_path.read_bytes()
        result = clean(cleaner, plog)
        if result is None:
            assert len(plog.segments) == 1 and not cleaner.needs_cleaning(plog)
        else:
            assert result.clean_end == active.base_offset
            assert plog.active_segment is active and active.log_path.read_bytes() == active_bytes
            check_log(plog, appended, codecs, result.clean_end, tombstones=True)
            assert cleaner.dirty_ratio(plog) == 0.0

        write(second)  # cleaning again: the clean part holds one record per key already
        result = clean(cleaner, plog)
        clean_end = plog.active_segment.base_offset
        check_log(plog, appended, codecs, clean_end, tombstones=True)
        assert not cleaner.needs_cleaning(plog)

        clock.advance(RETENTION)  # every kept tombstone's delete horizon has passed
        tombstones_kept = any(v is None for _, _, v in latest_per_key(appended, clean_end, True))
        assert cleaner.needs_cleaning(plog) == tombstones_kept
        clean(cleaner, plog)
        check_log(plog, appended, codecs, clean_end, tombstones=False)
        assert not cleaner.needs_cleaning(plog)

        before = triples(consume(plog)[0])
        plog.close()
        reopened = PartitionLog.open(plog.directory, "t", 0, plog.config, clock, needs_recovery=True)
        assert triples(consume(reopened)[0]) == before
        assert not [n for n in segment_files(reopened) if n.endswith((".cleaned", ".swap", ".deleted"))]
        reopened.close()


# -- tombstones -------------------------------------------------------------------------


def test_tombstone_survives_delete_retention_after_its_first_cleaning(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock)
    cleaner = LogCleaner(clock)
    put(plog, clock, [(b"k", b"v1"), (b"j", b"w")])
    put(plog, clock, [(b"k", None)])
    plog.roll()
    clock.advance(5 * RETENTION)  # old records: the horizon counts from the cleaning, not the record
    t0 = clock.now
    clean(cleaner, plog)
    assert triples(consume(plog)[0]) == [(1, b"j", b"w"), (2, b"k", None)]
    headers = consume(plog)[1]
    stamped = next(h for h in headers if h.base_offset == 2)
    assert stamped.has_delete_horizon and stamped.base_timestamp == t0 + RETENTION
    assert consume(plog)[0][-1].timestamp == t0 - 5 * RETENTION, "record timestamps are unchanged"

    clock.advance(RETENTION - 1)
    assert not cleaner.needs_cleaning(plog)
    clean(cleaner, plog)
    assert (2, b"k", None) in triples(consume(plog)[0])
    clock.advance(1)
    assert cleaner.needs_cleaning(plog)
    clean(cleaner, plog)
    assert triples(consume(plog)[0]) == [(1, b"j", b"w")]
    assert plog.log_end_offset == 3 and consume(plog, 2)[1][-1].last_offset == 2, "the emptied batch keeps its offsets"


def test_superseded_tombstone_goes_at_once(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock)
    put(plog, clock, [(b"k", b"v1"), (b"k", None), (b"k", b"v2")])
    plog.roll()
    clean(LogCleaner(clock), plog)
    assert triples(consume(plog)[0]) == [(2, b"k", b"v2")]


# -- what is cleanable --------------------------------------------------------------------


def test_active_segment_and_young_segments_are_not_cleaned(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock, min_compaction_lag_ms=1_000)
    cleaner = LogCleaner(clock)
    put(plog, clock, [(b"k", b"old")])
    plog.roll()
    clock.advance(2_000)
    put(plog, clock, [(b"k", b"young")])
    plog.roll()
    put(plog, clock, [(b"k", b"active")])
    result = clean(cleaner, plog)
    assert result is not None and result.clean_end == 1, "the young segment bounds the range"
    assert [v for _, _, v in triples(consume(plog)[0])] == [b"old", b"young", b"active"]
    clock.advance(1_000)
    result = clean(cleaner, plog)
    assert result is not None and result.clean_end == 2
    assert [v for _, _, v in triples(consume(plog)[0])] == [b"young", b"active"]


def test_upper_bound_caps_the_range(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock)
    cleaner = LogCleaner(clock)
    for i in range(3):
        put(plog, clock, [(b"k", b"%d" % i)])
        plog.roll()
    plan = cleaner.prepare(plog, upper_bound=2)
    assert plan is not None and plan.clean_end == 2
    plan.close()
    assert cleaner.prepare(plog, upper_bound=0) is None


def test_nothing_to_clean_in_a_log_with_one_segment(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock)
    cleaner = LogCleaner(clock)
    put(plog, clock, [(b"k", b"1"), (b"k", b"2")])
    assert cleaner.prepare(plog) is None
    assert cleaner.dirty_ratio(plog) == 0.0 and not cleaner.needs_cleaning(plog)


def test_dirty_ratio_threshold_and_checkpoint_file(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock, min_cleanable_dirty_ratio=0.5)
    cleaner = LogCleaner(clock)
    for i in range(4):
        put(plog, clock, [(b"k%d" % i, b"x" * 50)])
        plog.roll()
    assert cleaner.dirty_ratio(plog) == 1.0 and cleaner.needs_cleaning(plog)
    clean(cleaner, plog)
    cleaner.write_checkpoints()
    assert (tmp_path / CLEANER_OFFSET_CHECKPOINT).read_text() == "0\n1\nt 0 4\n"
    put(plog, clock, [(b"k0", b"y" * 50)])
    plog.roll()
    fresh = LogCleaner(clock)  # a restarted broker reads the checkpoint
    assert fresh.first_dirty_offset(plog) == 4
    assert 0 < fresh.dirty_ratio(plog) < 0.5 and not fresh.needs_cleaning(plog)
    assert not LogCleaner(clock).needs_cleaning(open_compacted(tmp_path / "other", clock, cleanup_policy=("delete",)))


def test_segments_merge_within_segment_bytes(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock, segment_bytes=1_000)
    for i in range(40):
        put(plog, clock, [(b"k%d" % (i % 3), b"v%d" % i)])
    before = len(plog.segments)
    assert before > 3
    cleaner = LogCleaner(clock)
    clean(cleaner, plog)  # groups are made by input sizes (as Kafka does): nothing merges yet
    assert len(plog.segments) == before
    clean(cleaner, plog)  # now the cleaned segments are small enough to merge
    assert len(plog.segments) == 2
    assert [v for _, _, v in triples(consume(plog)[0])[:3]] == [b"v%d" % i for i in range(plog.segments[1].base_offset - 3,
                                                                                         plog.segments[1].base_offset)]


def test_unchanged_segment_is_left_alone(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock)
    cleaner = LogCleaner(clock)
    put(plog, clock, [(b"a", b"1"), (b"b", b"2")])
    plog.roll()
    first = plog.segments[0]
    result = clean(cleaner, plog)
    assert result is not None and result.replacements == [] and plog.segments[0] is first
    assert not [n for n in segment_files(plog) if n.endswith(".cleaned")]


def test_key_map_budget_cleans_a_prefix(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock)
    cleaner = LogCleaner(clock, dedupe_buffer_size=1)  # one segment's keys per cleaning
    for i in range(3):
        put(plog, clock, [(b"k", b"%d" % i)])
        plog.roll()
    first = clean(cleaner, plog)
    assert first is not None and first.clean_end == 1
    second = clean(cleaner, plog)
    assert second is not None and second.clean_end == 2
    assert triples(consume(plog)[0]) == [(1, b"k", b"1"), (2, b"k", b"2")]


# -- batches and their fields --------------------------------------------------------------


def test_rewritten_batches_keep_codec_offsets_and_producer_fields(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock)
    for codec in (1, 2, 3, 4):
        put(plog, clock, [(b"k", b"x" * 40), (b"keep%d" % codec, b"y" * 40), (b"k", b"z")], codec,
            producer_id=7, producer_epoch=1, base_sequence=10 * codec)
    put(plog, clock, [(b"k", b"last")])
    plog.roll()
    clean(LogCleaner(clock), plog)
    records, headers = consume(plog)
    assert [(h.base_offset, h.last_offset, h.compression, h.records_count) for h in headers] == [
        (0, 2, 1, 1), (3, 5, 2, 1), (6, 8, 3, 1), (9, 11, 4, 1), (12, 12, 0, 1)]
    assert all(h.base_sequence == 10 * (i + 1) and h.producer_id == 7 for i, h in enumerate(headers[:4]))
    assert [r.offset for r in records] == [1, 4, 7, 10, 12]


def test_log_append_time_batches_keep_their_timestamp(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock, message_timestamp_type="LogAppendTime")
    put(plog, clock, [(b"k", b"1"), (b"j", b"1")])
    stamped = clock.now
    clock.advance(100)
    put(plog, clock, [(b"k", b"2")])
    plog.roll()
    clean(LogCleaner(clock), plog)
    records, headers = consume(plog)
    assert headers[0].is_log_append_time and headers[0].max_timestamp == stamped
    assert [(r.offset, r.timestamp) for r in records] == [(1, stamped), (2, stamped + 100)]


def test_records_without_a_key_are_dropped(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock)
    put(plog, clock, [(None, b"x"), (b"k", b"v"), (None, b"y")])
    plog.roll()
    clean(LogCleaner(clock), plog)
    assert triples(consume(plog)[0]) == [(1, b"k", b"v")]


def test_producers_last_batch_survives_as_an_empty_batch(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock)
    put(plog, clock, [(b"k", b"1")], producer_id=5, producer_epoch=0, base_sequence=0)
    put(plog, clock, [(b"k", b"2")], producer_id=5, producer_epoch=0, base_sequence=1)
    put(plog, clock, [(b"k", b"3")])
    put(plog, clock, [(b"j", b"x")])
    plog.roll()
    clean(LogCleaner(clock), plog)
    records, headers = consume(plog)
    assert triples(records) == [(2, b"k", b"3"), (3, b"j", b"x")]
    assert [(h.base_offset, h.records_count, h.producer_id, h.base_sequence) for h in headers] == [
        (1, 0, 5, 1), (2, 1, -1, -1), (3, 1, -1, -1)]


def test_transactions(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock)
    txn = {"producer_epoch": 0, "transactional": True}

    def marker(pid: int, commit: bool) -> None:
        plog.append(encode_control_batch(commit, producer_id=pid, producer_epoch=0, coordinator_epoch=0,
                                         timestamp=clock.now))

    put(plog, clock, [(b"k", b"plain")])  # 0
    put(plog, clock, [(b"k", b"committed")], producer_id=1, base_sequence=0, **txn)  # 1
    put(plog, clock, [(b"k", b"aborted")], producer_id=2, base_sequence=0, **txn)  # 2
    marker(1, True)  # 3
    marker(2, False)  # 4
    put(plog, clock, [(b"k", b"open")], producer_id=3, base_sequence=0, **txn)  # 5
    plog.roll()
    marker(3, True)  # 6: in the active segment, above the cleanable range
    clean(LogCleaner(clock), plog)
    records, headers = consume(plog)
    kept = [(r.offset, r.value) for r in records if r.offset not in (3, 4, 6)]
    assert kept == [(1, b"committed"), (5, b"open")], "aborted data goes, open transactions stay"
    controls = [h.base_offset for h in headers if h.is_control]
    assert controls == [3, 4, 6], "markers are never removed"
    assert 2 not in [h.base_offset for h in headers], "the aborted batch goes whole (its marker is the last batch)"


# -- races and crashes ----------------------------------------------------------------------


def _two_versions(plog: PartitionLog, clock: ManualClock) -> None:
    for i in range(3):
        put(plog, clock, [(b"k", b"%d" % i), (b"j%d" % i, b"x")])
        plog.roll()


def test_crash_between_clean_and_commit_leaves_the_log_as_it_was(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock)
    _two_versions(plog, clock)
    before = triples(consume(plog)[0])
    plan = LogCleaner(clock).prepare(plog)
    assert plan is not None
    result = LogCleaner.clean(plan)
    assert any(n.endswith(".cleaned") for n in segment_files(plog))
    assert triples(consume(plog)[0]) == before
    plog.close()  # the broker dies: the result is never committed
    reopened = PartitionLog.open(plog.directory, "t", 0, plog.config, clock, needs_recovery=True)
    assert triples(consume(reopened)[0]) == before
    assert not any(n.endswith(".cleaned") for n in segment_files(reopened))
    assert result.replacements


def test_discarded_result_removes_its_files(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock)
    _two_versions(plog, clock)
    files = segment_files(plog)
    plan = LogCleaner(clock).prepare(plog)
    assert plan is not None
    LogCleaner.clean(plan).discard()
    assert segment_files(plog) == files


def test_commit_after_retention_raced_discards(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock)
    _two_versions(plog, clock)
    cleaner = LogCleaner(clock)
    plan = cleaner.prepare(plog)
    assert plan is not None
    result = cleaner.clean(plan)
    for segment in plog.delete_records_before(2):
        segment.delete()  # retention deleted a planned segment meanwhile
    before = triples(consume(plog)[0])
    assert cleaner.commit(plog, result) == []
    assert triples(consume(plog)[0]) == before
    assert not any(n.endswith(".cleaned") for n in segment_files(plog))
    assert cleaner.first_dirty_offset(plog) == 2, "nothing recorded as clean"


def test_commit_after_truncation_discards(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock)
    _two_versions(plog, clock)
    cleaner = LogCleaner(clock)
    plan = cleaner.prepare(plog)
    assert plan is not None
    result = cleaner.clean(plan)
    for segment in plog.truncate_to(5):
        segment.delete()
    assert cleaner.commit(plog, result) == []
    assert not any(n.endswith(".cleaned") for n in segment_files(plog))


def test_segments_deleted_during_clean_are_still_read(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock)
    _two_versions(plog, clock)
    cleaner = LogCleaner(clock)
    plan = cleaner.prepare(plog)
    assert plan is not None
    for segment in plog.delete_records_before(2):
        segment.delete()  # closes the segment's own fd: the plan has its own
    result = cleaner.clean(plan)
    assert result.replacements
    assert cleaner.commit(plog, result) == []


def test_run_once_cleans_writes_checkpoints_and_returns_old_segments(tmp_path: Path) -> None:
    clock = ManualClock()
    compacted = open_compacted(tmp_path, clock)
    _two_versions(compacted, clock)
    other = PartitionLog.open(tmp_path / "d-0", "d", 0, LogConfig(segment_bytes=600), clock)
    put(other, clock, [(b"k", b"1"), (b"k", b"2")])
    other.roll()
    cleaner = LogCleaner(clock)
    replaced = asyncio.run(cleaner.run_once([compacted, other], clock.now))
    assert replaced and all(s.state == ".deleted" for s in replaced)
    for segment in replaced:
        segment.delete()
    assert [v for _, k, v in triples(consume(compacted)[0]) if k == b"k"] == [b"2"]
    assert len(consume(other)[0]) == 2, "a delete-policy log is not compacted"
    assert (tmp_path / CLEANER_OFFSET_CHECKPOINT).read_text() == "0\n1\nt 0 6\n"
    assert asyncio.run(cleaner.run_once([compacted, other], clock.now)) == []
    asyncio.run(cleaner.run_once([other], clock.now))  # t-0 is gone: its entry too
    assert (tmp_path / CLEANER_OFFSET_CHECKPOINT).read_text() == "0\n0\n"


def test_run_once_skips_a_failing_log_until_it_rolls(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock)
    _two_versions(plog, clock)
    with open(plog.segments[0].log_path, "r+b") as f:  # corrupt a record: the CRC no longer matches
        f.seek(70)
        f.write(b"\xff")
    cleaner = LogCleaner(clock)
    assert asyncio.run(cleaner.run_once([plog], clock.now)) == []
    assert not cleaner.needs_cleaning(plog)
    assert not any(n.endswith(".cleaned") for n in segment_files(plog))
    put(plog, clock, [(b"z", b"1")])
    plog.roll()
    assert cleaner.needs_cleaning(plog)


def test_a_recreated_log_starts_dirty(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock)
    cleaner = LogCleaner(clock)
    _two_versions(plog, clock)
    clean(cleaner, plog)
    assert cleaner.first_dirty_offset(plog) == 6
    plog.delete()  # the topic is deleted and created again, and grows past the old offset
    again = open_compacted(tmp_path, clock)
    for i in range(8):
        put(again, clock, [(b"k", b"%d" % i)])
        again.roll()
    assert cleaner.first_dirty_offset(again) == 0
    clean(cleaner, again)
    assert triples(consume(again)[0]) == [(7, b"k", b"7")]


def test_cancelled_run_once_leaves_no_cleaned_files(tmp_path: Path) -> None:
    clock = ManualClock()
    plog = open_compacted(tmp_path, clock)
    _two_versions(plog, clock)
    before = triples(consume(plog)[0])

    async def scenario() -> None:
        task = asyncio.create_task(LogCleaner(clock).run_once([plog], clock.now))
        await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        for _ in range(200):  # the thread stops (or finishes and is discarded) on its own
            if not any(n.endswith(".cleaned") for n in segment_files(plog)):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"leftover files: {segment_files(plog)}")

    asyncio.run(scenario())
    assert triples(consume(plog)[0]) == before

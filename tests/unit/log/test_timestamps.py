"""ListOffsets lookups: by timestamp, exact to the record, and MAX_TIMESTAMP."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.batches import make_batch

from snakafka.clock import ManualClock
from snakafka.log.log_config import LogConfig


def test_offset_for_timestamp_is_exact_in_uncompressed_batches(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log()
    log.append(make_batch(5, timestamp=1_000))  # offsets 0-4, timestamps 1000-1004
    log.append(make_batch(5, timestamp=2_000))  # offsets 5-9, timestamps 2000-2004
    assert log.offset_for_timestamp(0) == (0, 1_000)
    assert log.offset_for_timestamp(1_002) == (2, 1_002)
    assert log.offset_for_timestamp(1_005) == (5, 2_000)
    assert log.offset_for_timestamp(2_004) == (9, 2_004)
    assert log.offset_for_timestamp(2_005) is None


def test_offset_for_timestamp_in_compressed_batches(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log()
    log.append(make_batch(5, timestamp=1_000, compression=1))  # gzip
    assert log.offset_for_timestamp(1_003) == (3, 1_003)


def test_log_append_time_batches(open_log, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    log = open_log(LogConfig(message_timestamp_type="LogAppendTime"))
    log.append(make_batch(3))
    clock.advance(100)
    log.append(make_batch(3))
    now = clock.time_ms()
    assert log.offset_for_timestamp(now - 50) == (3, now)
    assert log.max_timestamp_and_offset() == (3, now)


def test_lookups_respect_the_log_start_offset(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log(LogConfig(segment_bytes=1))
    for ts in (1_000, 2_000, 3_000):
        log.append(make_batch(4, timestamp=ts))  # one segment each: 0-3, 4-7, 8-11
    log.delete_records_before(6)
    assert log.offset_for_timestamp(0) == (6, 2_002)
    assert log.offset_for_timestamp(2_001) == (6, 2_002)
    assert log.offset_for_timestamp(2_003) == (7, 2_003)


def test_max_timestamp_and_offset(open_log) -> None:  # type: ignore[no-untyped-def]
    log = open_log(LogConfig(segment_bytes=300))
    assert log.max_timestamp_and_offset() is None
    log.append(make_batch(3, timestamp=5_000))  # 0-2: 5000..5002
    log.append(make_batch(3, timestamp=9_000))  # 3-5: 9000..9002
    log.append(make_batch(3, timestamp=1_000))  # 6-8
    assert log.max_timestamp_and_offset() == (5, 9_002)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(starts=st.lists(st.integers(0, 50), min_size=1, max_size=20), counts=st.data(), probe=st.integers(-1, 80),
       segment_bytes=st.sampled_from([1, 400, 1 << 20]), interval=st.sampled_from([1, 300, 4096]))
def test_lookup_matches_a_scan_of_every_record(tmp_path_factory, starts: list[int], counts: st.DataObject,
                                               probe: int, segment_bytes: int, interval: int) -> None:  # type: ignore[no-untyped-def]
    from snakafka.log.partition_log import PartitionLog

    log = PartitionLog.open(tmp_path_factory.mktemp("ts") / "t-0", "t", 0,
                            LogConfig(segment_bytes=segment_bytes, index_interval_bytes=interval), ManualClock())
    records: list[tuple[int, int]] = []  # (offset, timestamp) of every record
    for start in starts:
        n = counts.draw(st.integers(1, 4))
        info = log.append(make_batch(n, timestamp=start))
        records += [(info.first_offset + i, start + i) for i in range(n)]
    expected = next(((o, t) for o, t in records if t >= probe), None)
    assert log.offset_for_timestamp(probe) == expected
    best = max(t for _, t in records)
    assert log.max_timestamp_and_offset() == next((o, t) for o, t in records if t == best)

"""One segment: appends with sparse index entries, reads by offset, recovery, truncation,
clean reloads, deletion."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.batches import make_batch

from snakafka.log.segment import LogSegment
from snakafka.protocol.batch import iter_batches, read_header, set_base_offset

INTERVAL = 256


def new_segment(directory: Path, base: int = 0, interval: int = INTERVAL) -> LogSegment:
    return LogSegment.create(directory, base, index_interval_bytes=interval, max_index_bytes=1 << 20)


def open_segment(directory: Path, base: int = 0, interval: int = INTERVAL) -> LogSegment:
    return LogSegment(directory, base, index_interval_bytes=interval, max_index_bytes=1 << 20)


def append_batches(segment: LogSegment, counts: list[int], *, value_size: int = 20, ts: int = 1_000) -> list[tuple[int, int]]:
    """Append one batch per count in a single append call; (base, last) of each."""
    data = bytearray()
    out = []
    offset = segment.next_offset
    max_ts, offset_of_max = -1, offset
    for i, count in enumerate(counts):
        batch = bytearray(make_batch(count, value_size=value_size, timestamp=ts + i * 10))
        set_base_offset(batch, 0, offset)
        header = read_header(batch)
        if header.max_timestamp > max_ts:
            max_ts, offset_of_max = header.max_timestamp, offset
        out.append((offset, offset + count - 1))
        offset += count
        data += batch
    segment.append(data, out[0][0], out[-1][1], max_ts, offset_of_max, now_ms=5)
    return out


def batch_bounds(data: bytes) -> list[tuple[int, int]]:
    return [(h.base_offset, h.last_offset) for _, h in iter_batches(data)]


def test_append_indexes_and_reads(tmp_path: Path) -> None:
    segment = new_segment(tmp_path, 100)
    written = []
    for _ in range(10):
        written += append_batches(segment, [3, 1, 4])
    assert segment.next_offset == 100 + 80
    assert len(segment.index) > 3  # 30 batches of ~100+ bytes with a 256-byte interval
    for base, last in written:
        for offset in (base, last):
            sl = segment.read(offset, 1 << 20)
            assert sl is not None
            assert batch_bounds(sl.read_bytes())[0] == (base, last)
    assert segment.read(180, 1 << 20) is None
    assert segment.rolling_base_ms(10**13) == 5
    assert segment.max_timestamp == 1_000 + 20 + 3  # last batch of an append: ts + 20, 4 records


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(appends=st.lists(st.lists(st.integers(1, 5), min_size=1, max_size=4), min_size=1, max_size=12),
       interval=st.sampled_from([1, 100, 500, 4096]), data=st.data())
def test_find_batch_matches_a_scan(tmp_path_factory: pytest.TempPathFactory, appends: list[list[int]], interval: int,
                                   data: st.DataObject) -> None:
    segment = new_segment(tmp_path_factory.mktemp("seg"), 0, interval)
    written = [b for counts in appends for b in append_batches(segment, counts)]
    probe = data.draw(st.integers(0, written[-1][1]))
    found = segment.find_batch(probe)
    assert found is not None
    assert (found[1].base_offset, found[1].last_offset) == next(b for b in written if b[0] <= probe <= b[1])
    # Reloaded from disk (indexes read lazily), the answers are the same.
    segment.close()
    again = open_segment(segment.directory, 0, interval)
    again.load(needs_recovery=False)
    assert again.next_offset == segment.next_offset and again.max_timestamp == segment.max_timestamp
    found_again = again.find_batch(probe)
    assert found_again is not None and found_again[0] == found[0]
    again.close()


def test_read_limits(tmp_path: Path) -> None:
    segment = new_segment(tmp_path)
    written = append_batches(segment, [2, 2, 2, 2])
    sizes = [h.size for _, h in segment.headers()]
    whole = segment.read(0, 1 << 20)
    assert whole is not None and whole.size == sum(sizes)
    first_two = segment.read(0, 1 << 20, max_position=sizes[0] + sizes[1])
    assert first_two is not None and batch_bounds(first_two.read_bytes()) == written[:2]
    tiny = segment.read(2, 10)
    assert tiny is not None and tiny.size == sizes[1]  # min one batch
    cut = segment.read(2, 10, min_one_batch=False)
    assert cut is not None and cut.size == 10  # a partial batch, as Kafka returns
    assert segment.read(2, 0, min_one_batch=False) is None
    assert segment.read(0, 1 << 20, max_position=0) is None


def test_clean_reload_reads_only_the_tail(tmp_path: Path) -> None:
    segment = new_segment(tmp_path, 50)
    append_batches(segment, [1] * 20, ts=7_000)
    max_ts, at = segment.max_timestamp, segment.offset_of_max_timestamp
    segment.close()
    again = open_segment(tmp_path, 50)
    assert again.load(needs_recovery=False) == 0
    assert not again._indexes_loaded
    assert (again.next_offset, again.max_timestamp, again.offset_of_max_timestamp) == (70, max_ts, at)
    assert again.rolling_base_ms(10**13) == 7_000  # estimated from the first batch's timestamp
    append_batches(again, [2])
    assert again.next_offset == 72 and again._indexes_loaded


def test_corrupt_index_is_rebuilt_without_touching_the_log(tmp_path: Path) -> None:
    segment = new_segment(tmp_path)
    written = append_batches(segment, [1] * 30)
    size = segment.size
    segment.close()
    index_path = tmp_path / "00000000000000000000.index"
    raw = bytearray(index_path.read_bytes())
    raw[0:8] = raw[8:16]  # duplicate entry: fails the full check, passes the cheap one
    index_path.write_bytes(bytes(raw))
    again = open_segment(tmp_path)
    again.load(needs_recovery=False)
    found = again.find_batch(17)
    assert found is not None and found[1].base_offset == written[17][0]
    assert again.size == size
    index_path.write_bytes(b"\x00" * 5)  # fails the cheap check: recovery at load
    again.close()
    third = open_segment(tmp_path)
    third.load(needs_recovery=False)
    assert third.size == size and third.next_offset == 30


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(counts=st.lists(st.integers(1, 4), min_size=1, max_size=10), data=st.data())
def test_recover_truncates_a_torn_tail(tmp_path_factory: pytest.TempPathFactory, counts: list[int],
                                       data: st.DataObject) -> None:
    directory = tmp_path_factory.mktemp("torn")
    segment = new_segment(directory, 10, 64)
    written = append_batches(segment, counts)
    ends = [pos + h.size for pos, h in segment.headers()]
    segment.close()
    cut = data.draw(st.integers(0, ends[-1]))
    os.truncate(directory / "00000000000000000010.log", cut)
    again = open_segment(directory, 10, 64)
    kept = sum(1 for end in ends if end <= cut)
    assert again.load(needs_recovery=True) == cut - (ends[kept - 1] if kept else 0)
    assert again.size == (ends[kept - 1] if kept else 0)
    assert again.next_offset == (written[kept - 1][1] + 1 if kept else 10)
    assert [(h.base_offset, h.last_offset) for _, h in again.headers()] == written[:kept]
    again.close()


def test_truncate_to_drops_whole_batches(tmp_path: Path) -> None:
    segment = new_segment(tmp_path, 0, 1)
    append_batches(segment, [3, 3, 3, 3])  # offsets 0-2, 3-5, 6-8, 9-11
    assert segment.truncate_to(7) > 0  # 6-8 straddles 7: it goes whole
    assert segment.next_offset == 6
    assert segment.find_batch(6) is None
    append_batches(segment, [2])
    assert segment.next_offset == 8
    assert [(h.base_offset, h.last_offset) for _, h in segment.headers()] == [(0, 2), (3, 5), (6, 7)]
    assert segment.truncate_to(100) == 0
    assert segment.truncate_to(0) > 0 and segment.size == 0 and segment.next_offset == 0


def test_appends_below_the_end_are_refused(tmp_path: Path) -> None:
    segment = new_segment(tmp_path)
    append_batches(segment, [2])
    batch = make_batch(1)
    with pytest.raises(ValueError):
        segment.append(batch, 1, 1, 0, 1)


def test_deleted_segment_keeps_serving_open_slices(tmp_path: Path) -> None:
    segment = new_segment(tmp_path)
    append_batches(segment, [2, 2])
    sl = segment.read(0, 1 << 20)
    assert sl is not None
    segment.rename_deleted()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "00000000000000000000.index.deleted", "00000000000000000000.log.deleted",
        "00000000000000000000.timeindex.deleted"]
    assert batch_bounds(sl.read_bytes()) == [(0, 1), (2, 3)]
    segment.delete()
    assert list(tmp_path.iterdir()) == []
    assert segment.closed

"""Fetch sessions (KIP-227) as the broker resolves them: a session opens on epoch 0,
continues on the next epochs with incremental requests whose answers hold only changed
partitions, closes on epoch -1; unknown ids and wrong epochs get Kafka's errors; the
cache keeps max.incremental.fetch.session.cache.slots sessions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from snakafka.protocol.errors import ErrorCode
from snakafka.replication.fetch_session import (
    EVICTION_MS,
    FINAL_EPOCH,
    INITIAL_EPOCH,
    FetchSessionCache,
    PartitionAnswer,
    PartitionRequest,
    next_epoch,
)

A, B, C = ("t", 0), ("t", 1), ("u", 0)


def req(offset: int) -> PartitionRequest:
    return PartitionRequest(offset, 1 << 20)


def answer(hw: int, records: bool = False, error: int = 0) -> PartitionAnswer:
    return PartitionAnswer(error, hw, hw, 0, records)


def test_without_a_session_every_partition_is_answered() -> None:
    cache = FetchSessionCache()
    ctx = cache.new_context(0, FINAL_EPOCH, [(A, req(0)), (B, req(5))], [], privileged=False, now_ms=0)
    assert ctx.session_id == 0 and ctx.error == ErrorCode.none and [tp for tp, _ in ctx.partitions] == [A, B]
    assert ctx.keep(A, answer(3)) and ctx.keep(B, answer(3))
    assert not cache.sessions


def test_an_incremental_fetch_reads_the_whole_session_and_answers_what_changed() -> None:
    cache = FetchSessionCache(seed=1)
    full = cache.new_context(0, INITIAL_EPOCH, [(A, req(0)), (B, req(0))], [], privileged=True, now_ms=0)
    sid = full.session_id
    assert sid != 0 and cache.sessions[sid].partitions.keys() == {A, B}
    assert full.keep(A, answer(10)) and full.keep(B, answer(4))  # a full answer: all, remembered

    inc = cache.new_context(sid, 1, [(A, req(10))], [], privileged=True, now_ms=1)  # only A moved
    assert inc.session_id == sid and inc.incremental
    assert dict(inc.partitions) == {A: req(10), B: req(0)}  # B's position from the session
    assert inc.keep(A, answer(10, records=True))  # records
    assert not inc.keep(B, answer(4))  # nothing new for B
    inc2 = cache.new_context(sid, 2, [], [], privileged=True, now_ms=2)
    assert inc2.keep(B, answer(6))  # its high watermark moved
    assert not inc2.keep(A, answer(10))
    assert inc2.keep(A, answer(10, error=ErrorCode.not_leader_or_follower.value))  # errors always go back

    inc3 = cache.new_context(sid, 3, [(C, req(7))], [B], privileged=True, now_ms=3)  # add C, forget B
    assert dict(inc3.partitions) == {A: req(10), C: req(7)}
    assert inc3.keep(C, answer(9)), "a partition new to the session is answered"


def test_unknown_ids_and_wrong_epochs_get_kafkas_errors() -> None:
    cache = FetchSessionCache(seed=2)
    sid = cache.new_context(0, INITIAL_EPOCH, [(A, req(0))], [], privileged=False, now_ms=0).session_id
    assert cache.new_context(sid + 1, 1, [], [], privileged=False, now_ms=0).error == ErrorCode.fetch_session_id_not_found
    assert cache.new_context(sid, 2, [], [], privileged=False, now_ms=0).error == ErrorCode.invalid_fetch_session_epoch
    assert cache.new_context(sid, 1, [], [], privileged=False, now_ms=0).error == ErrorCode.none
    closed = cache.new_context(sid, FINAL_EPOCH, [(A, req(1))], [], privileged=False, now_ms=0)
    assert closed.session_id == 0 and sid not in cache.sessions and dict(closed.partitions) == {A: req(1)}
    assert cache.new_context(sid, 2, [], [], privileged=False, now_ms=0).error == ErrorCode.fetch_session_id_not_found


def test_epoch_zero_with_an_id_replaces_that_session() -> None:
    cache = FetchSessionCache(seed=3)
    old = cache.new_context(0, INITIAL_EPOCH, [(A, req(0))], [], privileged=False, now_ms=0).session_id
    new = cache.new_context(old, INITIAL_EPOCH, [(B, req(0))], [], privileged=False, now_ms=0).session_id
    assert old not in cache.sessions and cache.sessions[new].partitions.keys() == {B}


def test_a_full_cache_gives_no_session_unless_one_is_stale_or_a_follower_displaces_a_consumer() -> None:
    cache = FetchSessionCache(2, seed=4)
    first = cache.new_context(0, INITIAL_EPOCH, [(A, req(0))], [], privileged=False, now_ms=0).session_id
    cache.new_context(0, INITIAL_EPOCH, [(A, req(0))], [], privileged=True, now_ms=10)
    assert cache.new_context(0, INITIAL_EPOCH, [(A, req(0))], [], privileged=False, now_ms=20).session_id == 0
    follower = cache.new_context(0, INITIAL_EPOCH, [(A, req(0))], [], privileged=True, now_ms=20).session_id
    assert follower != 0 and first not in cache.sessions, "a follower takes the consumer's slot"
    assert cache.new_context(0, INITIAL_EPOCH, [(A, req(0))], [], privileged=True, now_ms=30).session_id == 0
    late = 10 + EVICTION_MS + 1  # the oldest follower session is now stale
    assert cache.new_context(0, INITIAL_EPOCH, [(A, req(0))], [], privileged=False, now_ms=late).session_id != 0
    assert FetchSessionCache(0).new_context(0, INITIAL_EPOCH, [(A, req(0))], [], privileged=True,
                                            now_ms=0).session_id == 0


def test_epochs_wrap_to_one() -> None:
    assert next_epoch(1) == 2 and next_epoch(0x7FFFFFFF) == 1


@settings(max_examples=60)
@given(st.lists(st.tuples(st.sampled_from([A, B, C]), st.integers(0, 5), st.booleans()), max_size=25))
def test_a_client_that_applies_only_incremental_answers_knows_every_high_watermark(
        steps: list[tuple[tuple[str, int], int, bool]]) -> None:
    """What the client holds (full answer, then the incremental ones applied on top)
    always equals the broker's latest values: an unchanged partition is never stale."""
    cache = FetchSessionCache(seed=5)
    hw = {A: 0, B: 0, C: 0}
    full = cache.new_context(0, INITIAL_EPOCH, [(tp, req(0)) for tp in hw], [], privileged=False, now_ms=0)
    client = {tp: h for tp, h in hw.items() if full.keep(tp, answer(h))}
    sid, epoch = full.session_id, 1
    for tp, bump, records in steps:
        hw[tp] += bump
        ctx = cache.new_context(sid, epoch, [], [], privileged=False, now_ms=0)
        epoch = next_epoch(epoch)
        for p, _ in ctx.partitions:
            if ctx.keep(p, answer(hw[p], records and p == tp)):
                client[p] = hw[p]
        assert client == hw

"""The leader's append runs LogValidator's record checks: corrected max timestamps reach
the stored header, the time index and offset_for_timestamp; refused batches leave the
log untouched; topic configs decide the timestamp bounds."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.batches import hand_batch, raw_record

from snakafka.clock import ManualClock
from snakafka.log.log_config import LogConfig
from snakafka.log.partition_log import PartitionLog
from snakafka.protocol.batch import iter_batches, validate_batch
from snakafka.protocol.validation import InvalidRecordError, InvalidTimestampError

NOW = 1_700_000_000_000


def section(deltas: list[int]) -> bytes:
    return b"".join(raw_record(i, d) for i, d in enumerate(deltas))


def stored(log: PartitionLog) -> bytes:
    data = log.read(log.log_start_offset, 1 << 20, min_one_batch=True).slice
    assert data is not None
    return data.read_bytes()


@pytest.mark.parametrize("codec", [0, 1, 2, 3, 4])
def test_append_corrects_the_max_timestamp_for_time_lookups(tmp_path: Path, codec: int) -> None:
    log = PartitionLog.open(tmp_path / "t-0", "t", 0, LogConfig(), ManualClock(NOW))
    for _ in range(3):  # offsets 0-3, 4-7, 8-11: timestamps NOW - 10000 + (0, 4000, 2000, 6000)
        info = log.append(hand_batch(section([0, 4_000, 2_000, 6_000]), count=4, codec=codec,
                                     base_timestamp=NOW - 10_000, max_timestamp=-1))
        assert info.max_timestamp == NOW - 4_000
    data = stored(log)
    assert [validate_batch(data, pos).max_timestamp for pos, _ in iter_batches(data)] == [NOW - 4_000] * 3
    assert log.offset_for_timestamp(NOW - 9_000) == (1, NOW - 6_000)
    assert log.offset_for_timestamp(NOW - 5_000) == (3, NOW - 4_000)
    assert log.max_timestamp_and_offset() == (3, NOW - 4_000)


def test_refused_batches_leave_the_log_as_it_was(tmp_path: Path) -> None:
    config = LogConfig(message_timestamp_before_max_ms=60_000)
    log = PartitionLog.open(tmp_path / "t-0", "t", 0, config, ManualClock(NOW))
    good = hand_batch(section([0, 1]), count=2, base_timestamp=NOW, max_timestamp=NOW + 1)
    with pytest.raises(InvalidTimestampError):
        log.append(good + hand_batch(section([0]), count=1, base_timestamp=NOW - 61_000))
    with pytest.raises(InvalidRecordError):
        log.append(good + hand_batch(raw_record(0) + raw_record(2), count=2, base_timestamp=NOW))
    assert log.log_end_offset == 0
    assert log.append(good).last_offset == 1
    # LogAppendTime topics take no bound from the records' own times
    log.update_config(LogConfig(message_timestamp_before_max_ms=0, message_timestamp_type="LogAppendTime"))
    assert log.append(hand_batch(section([0]), count=1, base_timestamp=1)).log_append_time == NOW


def test_timestamp_bounds_from_broker_and_topic_configs() -> None:
    """log.message.timestamp.* on the broker, message.timestamp.* on the topic (which
    wins), and KIP-937's fallback to difference.max.ms after merging."""
    from snakafka.config.broker import BrokerConfig
    from snakafka.config.topic import (
        TopicConfigError,
        log_config_for,
        validate_topic_configs,
    )

    broker = BrokerConfig.load(overrides={"log.message.timestamp.difference.max.ms": "5000",
                                          "log.message.timestamp.after.max.ms": "7"})
    assert (broker.log_config().timestamp_before_max_ms, broker.log_config().timestamp_after_max_ms) == (5_000, 7)
    topic = log_config_for({"message.timestamp.before.max.ms": "100"}, broker)
    assert (topic.timestamp_before_max_ms, topic.timestamp_after_max_ms) == (100, 7)
    policy = topic.validation_policy("t-0")
    assert (policy.before_max_ms, policy.after_max_ms, policy.partition) == (100, 7, "t-0")
    with pytest.raises(TopicConfigError, match="message.timestamp.after.max.ms"):
        validate_topic_configs({"message.timestamp.after.max.ms": "-1"})

"""Per-log settings, named after Kafka's topic configs (segment.bytes -> segment_bytes).

The values a log runs with: a topic's overrides merged over the broker's log.* defaults.
Parsing and validation of the textual configs lives in snakafka.config (broker.py, topic.py); this module only
holds the resolved values, so the log layer depends on nothing above it.
"""

from __future__ import annotations

from dataclasses import dataclass

from snakafka.protocol.validation import ValidationPolicy

LONG_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class LogConfig:
    segment_bytes: int = 1024 * 1024 * 1024
    segment_ms: int = 7 * 24 * 3600 * 1000
    segment_index_bytes: int = 10 * 1024 * 1024
    index_interval_bytes: int = 4096
    retention_ms: int = 7 * 24 * 3600 * 1000  # -1: no time limit
    retention_bytes: int = -1  # -1: no size limit
    max_message_bytes: int = 1024 * 1024 + 12
    message_timestamp_type: str = "CreateTime"  # or "LogAppendTime"
    message_timestamp_before_max_ms: int = LONG_MAX
    message_timestamp_after_max_ms: int = LONG_MAX
    message_timestamp_difference_max_ms: int = LONG_MAX  # deprecated by KIP-937
    cleanup_policy: tuple[str, ...] = ("delete",)  # "delete", "compact" or both
    flush_messages: int = LONG_MAX
    flush_ms: int = LONG_MAX
    delete_retention_ms: int = 24 * 3600 * 1000
    min_cleanable_dirty_ratio: float = 0.5
    min_compaction_lag_ms: int = 0
    file_delete_delay_ms: int = 60_000
    min_insync_replicas: int = 1
    compression_type: str = "producer"

    @property
    def compact(self) -> bool:
        return "compact" in self.cleanup_policy

    @property
    def delete(self) -> bool:
        return "delete" in self.cleanup_policy

    @property
    def timestamp_before_max_ms(self) -> int:
        """The effective lower bound's distance from now: message.timestamp.before.max.ms,
        or while it is at its default, the deprecated difference.max.ms (Kafka's
        LogConfig.getMessageTimestampBeforeMaxMs)."""
        before = self.message_timestamp_before_max_ms
        return before if before != LONG_MAX else self.message_timestamp_difference_max_ms

    @property
    def timestamp_after_max_ms(self) -> int:
        """The upper bound's distance from now, with the same fallback."""
        after = self.message_timestamp_after_max_ms
        return after if after != LONG_MAX else self.message_timestamp_difference_max_ms

    def validation_policy(self, partition: str) -> ValidationPolicy:
        """What produce validation (snakafka.protocol.validation) needs of these settings."""
        return ValidationPolicy(log_append_time=self.message_timestamp_type == "LogAppendTime",
                                before_max_ms=self.timestamp_before_max_ms, after_max_ms=self.timestamp_after_max_ms,
                                compacted=self.compact, partition=partition)

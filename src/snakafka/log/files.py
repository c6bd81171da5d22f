"""Kafka's file names: `<topic>-<partition>` directories holding segments named by their
20-digit base offset (`00000000000000000000.log`, `.index`, `.timeindex`)."""

from __future__ import annotations

from pathlib import Path

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
DELETED_SUFFIX = ".deleted"
DELETE_DIR_SUFFIX = "-delete"
CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown"
RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"
LOG_START_OFFSET_CHECKPOINT = "log-start-offset-checkpoint"


def offset_name(offset: int) -> str:
    return f"{offset:020d}"


def segment_paths(directory: Path, base_offset: int) -> tuple[Path, Path, Path]:
    stem = offset_name(base_offset)
    return (directory / (stem + LOG_SUFFIX), directory / (stem + INDEX_SUFFIX), directory / (stem + TIME_INDEX_SUFFIX))


def partition_dir_name(topic: str, partition: int) -> str:
    return f"{topic}-{partition}"


def parse_partition_dir(name: str) -> tuple[str, int] | None:
    """(topic, partition) of a partition directory name, or None if it is not one."""
    topic, sep, number = name.rpartition("-")
    if not sep or not topic or not number.isdigit() or name.endswith(DELETE_DIR_SUFFIX):
        return None
    return topic, int(number)

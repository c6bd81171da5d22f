"""Fixtures of the log tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from snakafka.clock import ManualClock
from snakafka.log.log_config import LogConfig
from snakafka.log.partition_log import PartitionLog


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def open_log(tmp_path: Path, clock: ManualClock):  # type: ignore[no-untyped-def]
    def _open(config: LogConfig | None = None, **kwargs: object) -> PartitionLog:
        return PartitionLog.open(tmp_path / "t-0", "t", 0, config or LogConfig(), clock, **kwargs)  # type: ignore[arg-type]

    return _open

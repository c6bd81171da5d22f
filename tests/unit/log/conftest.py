"""Fixtures and helpers of the log tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from snakafka.clock import ManualClock
from snakafka.log.log_config import LogConfig
from snakafka.log.partition_log import PartitionLog

OpenLog = Callable[..., PartitionLog]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def open_log(tmp_path: Path, clock: ManualClock) -> OpenLog:
    def _open(config: LogConfig | None = None, **kwargs: Any) -> PartitionLog:
        return PartitionLog.open(tmp_path / "t-0", "t", 0, config or LogConfig(), clock, **kwargs)

    return _open

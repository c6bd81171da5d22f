from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from snakafka.testing.process import BrokerProcess


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One broker subprocess shared by a test session (tests use unique topic names)."""
    data = tmp_path_factory.mktemp("broker") / "data"
    proc = BrokerProcess(data, overrides={"group.initial.rebalance.delay.ms": "0"})
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def fresh_broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    """A broker of the test's own, for restarts and kill -9."""
    proc = BrokerProcess(tmp_path / "data", overrides={"group.initial.rebalance.delay.ms": "0"})
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    safe = re.sub(r"[^a-zA-Z0-9._-]", "-", request.node.name[:40])
    return f"t-{safe}-{uuid.uuid4().hex[:6]}"

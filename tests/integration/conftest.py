from __future__ import annotations

from collections.abc import Iterator

import pytest

from snakafka.testing.process import BrokerProcess


@pytest.fixture(scope="session")
def noauto_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """A second shared broker with auto.create.topics.enable=false: a deleted (or never
    created) topic must stay absent however clients ask for it."""
    data = tmp_path_factory.mktemp("noauto") / "data"
    proc = BrokerProcess(data, overrides={"auto.create.topics.enable": "false", "group.initial.rebalance.delay.ms": "0"})
    proc.start()
    yield proc
    proc.stop()

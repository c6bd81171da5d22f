from __future__ import annotations

from collections.abc import Iterator

import pytest

from integration.secure_broker import SecureBroker, secure_broker
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


@pytest.fixture(scope="session")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """An embedded broker with PLAINTEXT, SSL, MTLS, SASL_PLAINTEXT and SASL_SSL listeners
    (see secure_broker.py), shared by the security tests."""
    with secure_broker(tmp_path_factory.mktemp("secure")) as broker:
        yield broker

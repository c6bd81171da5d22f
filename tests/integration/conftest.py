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
def acl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """A shared broker with Kafka's AclAuthorizer and allow.everyone.if.no.acl.found=true:
    resources without ACLs are open, so each ACL test restricts names of its own."""
    data = tmp_path_factory.mktemp("acl-broker") / "data"
    proc = BrokerProcess(data, overrides={"authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
                                          "allow.everyone.if.no.acl.found": "true", "super.users": "User:admin",
                                          "group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "4"})
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """An embedded broker with PLAINTEXT, SSL, MTLS, SASL_PLAINTEXT and SASL_SSL listeners
    (see secure_broker.py), shared by the security tests."""
    with secure_broker(tmp_path_factory.mktemp("secure")) as broker:
        yield broker

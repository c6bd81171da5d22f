"""pytest fixtures for a snakafka broker, registered through the `pytest11` entry point:
installing snakafka is enough to use them.

- `snakafka_broker`: one `EmbeddedBroker` for the whole session (a free port on
  127.0.0.1, data in a temporary directory, group.initial.rebalance.delay.ms=0), started
  by the first test that asks for it and stopped at the end of the session. Tests share
  it: give each its own topic and group names.
- `snakafka_bootstrap`: its `bootstrap.servers` string.
- `snakafka_topic`: a new topic on that broker for each test (its name, unique), deleted
  after the test. One partition unless the test says otherwise with
  `@pytest.mark.snakafka_topic(partitions=3, configs={"cleanup.policy": "compact"})`.
- `snakafka_cluster`: a `LocalCluster` for the session: a real ZooKeeper and three
  broker processes (ids 0-2, `default.replication.factor=3`, groups rebalance at once);
  `snakafka_cluster.bootstrap` lists all three. Skipped, with the reason, where ZooKeeper
  (Debian's `zookeeper` package) is not installed.

For other settings, or a broker per test, use EmbeddedBroker in a fixture of your own.
The broker module is imported when a fixture first runs, never at plugin load.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from snakafka.server.broker import Broker
    from snakafka.testing.cluster import LocalCluster
    from snakafka.testing.embedded import EmbeddedBroker

CLUSTER_OVERRIDES = {"default.replication.factor": "3", "group.initial.rebalance.delay.ms": "0"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "snakafka_topic(partitions=1, configs=None): "
                                       "the partitions and topic configs of the test's snakafka_topic")


@pytest.fixture(scope="session")
def snakafka_broker() -> Iterator[EmbeddedBroker]:
    """A snakafka broker in this process, shared by the session."""
    from snakafka.testing.embedded import EmbeddedBroker

    with EmbeddedBroker() as broker:
        yield broker


@pytest.fixture(scope="session")
def snakafka_bootstrap(snakafka_broker: EmbeddedBroker) -> str:
    """`bootstrap.servers` of the session's snakafka broker ("127.0.0.1:<port>")."""
    return snakafka_broker.bootstrap


@pytest.fixture
def snakafka_topic(snakafka_broker: EmbeddedBroker, request: pytest.FixtureRequest) -> Iterator[str]:
    """A topic of this test's own on the session broker (name from the test's, plus a
    random suffix), created with its partitions led before the test runs, deleted after."""
    from snakafka.cluster.controller import NewTopic

    marker = request.node.get_closest_marker("snakafka_topic")
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    partitions = int(options.pop("partitions", 1))
    configs = {k: str(v) for k, v in (options.pop("configs", None) or {}).items()}
    if options:
        raise pytest.UsageError(f"snakafka_topic marker: unknown options {sorted(options)}")
    name = f"{re.sub(r'[^a-zA-Z0-9._-]', '-', request.node.name)[:180]}-{uuid.uuid4().hex[:8]}"

    async def create(broker: Broker) -> None:
        await broker.controller.create_topic(NewTopic(name, num_partitions=partitions, configs=configs))

    async def delete(broker: Broker) -> None:
        if name in broker.cache.topics:
            await broker.controller.delete_topic(name)

    snakafka_broker.call(create)
    yield name
    if snakafka_broker.running:
        snakafka_broker.call(delete)


@pytest.fixture(scope="session")
def snakafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Three snakafka brokers and a ZooKeeper, in child processes, for the session."""
    from snakafka.testing.cluster import LocalCluster
    from snakafka.testing.zookeeper import missing_zookeeper

    reason = missing_zookeeper()
    if reason is not None:
        pytest.skip(f"snakafka_cluster needs ZooKeeper: {reason}")
    cluster = LocalCluster(tmp_path_factory.mktemp("snakafka-cluster"), brokers=3, overrides=dict(CLUSTER_OVERRIDES))
    with cluster:
        yield cluster

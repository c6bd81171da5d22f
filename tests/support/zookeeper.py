"""The test suite's ZooKeeper servers: the ones snakafka.testing ships (the `snakafka
local-cluster` command runs the same code), one standalone or an ensemble."""

from __future__ import annotations

from snakafka.testing.zookeeper import (
    ZooKeeperEnsemble,
    ZooKeeperServer,
    free_port,
    missing_zookeeper,
    zookeeper_available,
)

__all__ = ["ZooKeeperEnsemble", "ZooKeeperServer", "free_port", "missing_zookeeper", "zookeeper_available"]

"""The test suite's ZooKeeper server: the one snakafka.testing ships (the `snakafka
local-cluster` command runs the same code)."""

from __future__ import annotations

from snakafka.testing.zookeeper import (
    ZooKeeperServer,
    free_port,
    missing_zookeeper,
    zookeeper_available,
)

__all__ = ["ZooKeeperServer", "free_port", "missing_zookeeper", "zookeeper_available"]

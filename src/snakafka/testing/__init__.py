"""Brokers for test suites: `EmbeddedBroker` (in this process, on its own thread),
`BrokerProcess` (a child process: isolation, kill -9), `ZooKeeperServer` and
`LocalCluster` (ZooKeeper plus brokers in child processes), plus the pytest plugin's fixtures
(`pytest_plugin`, registered through the `pytest11` entry point).

The names load on first use, so the plugin's import (in every pytest session of an
environment with snakafka installed) costs next to nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from snakafka.testing.cluster import LocalCluster
    from snakafka.testing.embedded import EmbeddedBroker, EmbeddedBrokerError
    from snakafka.testing.process import BrokerProcess
    from snakafka.testing.zookeeper import ZooKeeperServer

__all__ = ["BrokerProcess", "EmbeddedBroker", "EmbeddedBrokerError", "LocalCluster", "ZooKeeperServer"]

_MODULES = {"BrokerProcess": "process", "EmbeddedBroker": "embedded", "EmbeddedBrokerError": "embedded",
            "LocalCluster": "cluster", "ZooKeeperServer": "zookeeper"}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

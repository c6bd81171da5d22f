"""Brokers for test suites: `EmbeddedBroker` (in this process, on its own thread) and
`BrokerProcess` (a child process: isolation, kill -9), plus the pytest plugin's fixtures
(`pytest_plugin`, registered through the `pytest11` entry point).

The names load on first use, so the plugin's import (in every pytest session of an
environment with snakafka installed) costs next to nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from snakafka.testing.embedded import EmbeddedBroker, EmbeddedBrokerError
    from snakafka.testing.process import BrokerProcess

__all__ = ["BrokerProcess", "EmbeddedBroker", "EmbeddedBrokerError"]

_MODULES = {"BrokerProcess": "process", "EmbeddedBroker": "embedded", "EmbeddedBrokerError": "embedded"}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

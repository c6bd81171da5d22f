"""pytest fixtures for a snakafka broker, registered through the `pytest11` entry point:
installing snakafka is enough to use them.

- `snakafka_broker`: one `EmbeddedBroker` for the whole session (a free port on
  127.0.0.1, data in a temporary directory, group.initial.rebalance.delay.ms=0), started
  by the first test that asks for it and stopped at the end of the session. Tests share
  it: give each its own topic and group names.
- `snakafka_bootstrap`: its `bootstrap.servers` string.

For other settings, or a broker per test, use EmbeddedBroker in a fixture of your own.
The broker module is imported when a fixture first runs, never at plugin load.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from snakafka.testing.embedded import EmbeddedBroker


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

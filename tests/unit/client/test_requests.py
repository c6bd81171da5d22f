"""client/requests.py's bootstrap parsing and client/cluster.py's retry backoff."""

from __future__ import annotations

import pytest

from snakafka.client.cluster import backoff
from snakafka.client.requests import parse_bootstrap


def test_parse_bootstrap() -> None:
    assert parse_bootstrap("a:1, b:9092,") == [("a", 1), ("b", 9092)]
    assert parse_bootstrap(":9092") == [("127.0.0.1", 9092)]
    assert parse_bootstrap("[::1]:9092") == [("::1", 9092)]


@pytest.mark.parametrize("bad", ["", "host", "host:", "host:port", "host:0", "host:70000", ","])
def test_parse_bootstrap_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_bootstrap(bad)


def test_backoff_is_exponential_and_capped() -> None:
    assert [backoff(n) for n in range(1, 7)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert backoff(1, 50, 60) == 0.05 and backoff(3, 50, 60) == 0.06

"""The `snakafka serve` command, with a stand-in broker (no sockets, no disk)."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from snakafka.cli import main
from snakafka.config import BrokerConfig


class FakeBroker:
    """Closes by itself right after start, so `serve` returns without a signal."""

    instances: ClassVar[list[FakeBroker]] = []

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.calls: list[str] = []
        FakeBroker.instances.append(self)

    async def start(self) -> None:
        self.calls.append("start")

    async def wait_closed(self) -> None:
        self.calls.append("wait_closed")

    async def stop(self) -> None:
        self.calls.append("stop")


@pytest.fixture
def fake_broker(monkeypatch: pytest.MonkeyPatch) -> type[FakeBroker]:
    module = types.ModuleType("snakafka.server.broker")
    module.Broker = FakeBroker  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snakafka.server.broker", module)
    FakeBroker.instances.clear()
    return FakeBroker


def test_bad_config_exits_2_with_one_line() -> None:
    result = CliRunner().invoke(main, ["serve", "--override", "num.partitions=abc"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "snakafka: Invalid value abc for configuration num.partitions: Not a number of type INT"
    )
    assert "Traceback" not in result.output + result.stderr


def test_override_needs_key_value() -> None:
    result = CliRunner().invoke(main, ["serve", "--override", "num.partitions"])
    assert result.exit_code == 2 and "expected key=value" in result.stderr


def test_serve_loads_file_and_overrides_and_stops_the_broker(tmp_path: Path, fake_broker: type[FakeBroker]) -> None:
    config_file = tmp_path / "server.properties"
    config_file.write_text("num.partitions=3\nlog.dirs=/from/file\n")
    result = CliRunner().invoke(main, ["serve", str(config_file), "--override", "log.dirs=/from/override",
                                       "--log-level", "warning"])
    assert result.exit_code == 0, result.output + result.stderr
    (broker,) = fake_broker.instances
    assert broker.config.num_partitions == 3
    assert broker.config.log_dirs == [Path("/from/override")]
    assert broker.calls == ["start", "wait_closed", "stop"]


def test_start_failure_exits_1(fake_broker: type[FakeBroker], monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(self: FakeBroker) -> None:
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(FakeBroker, "start", refuse)
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1
    assert "snakafka: cannot start the broker: [Errno 98] Address already in use" in result.stderr

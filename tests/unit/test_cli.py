"""The `snakafka serve` command, with a stand-in broker (no sockets, no disk)."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from snakafka.cli import main
from snakafka.config.broker import BrokerConfig


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


def test_zookeeper_connect_starts_a_cluster_broker(fake_broker: type[FakeBroker]) -> None:
    result = CliRunner().invoke(main, ["serve", "--override", "zookeeper.connect=127.0.0.1:2181/kafka",
                                       "--override", "broker.id=2", "--log-level", "warning"])
    assert result.exit_code == 0, result.output + result.stderr
    (broker,) = fake_broker.instances
    assert broker.config.zookeeper_connect == "127.0.0.1:2181/kafka" and broker.config.broker_id == 2


@pytest.mark.parametrize("zookeeper", [False, True])
def test_generated_broker_id_is_refused_in_one_line(zookeeper: bool, fake_broker: type[FakeBroker]) -> None:
    args = ["serve", "--override", "broker.id=-1"]
    if zookeeper:
        args += ["--override", "zookeeper.connect=127.0.0.1:2181"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and not fake_broker.instances
    reason = "broker id generation is not implemented yet" if zookeeper else "broker id generation needs cluster mode"
    assert result.stderr.strip().splitlines() == [f"snakafka: Invalid value -1 for configuration broker.id: {reason}"
                                                  + ("; set broker.id to a number >= 0" if zookeeper else "")]


def test_duplicate_broker_id_exits_1_with_one_line(fake_broker: type[FakeBroker],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from snakafka.cluster.store.zk_brokers import BrokerIdInUseError

    async def refuse(self: FakeBroker) -> None:
        raise BrokerIdInUseError("Error while creating ephemeral at /brokers/ids/0, node already exists")

    monkeypatch.setattr(FakeBroker, "start", refuse)
    result = CliRunner().invoke(main, ["serve", "--override", "zookeeper.connect=127.0.0.1:2181"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "snakafka: cannot start the broker: Error while creating ephemeral at /brokers/ids/0, node already exists")


def test_local_cluster_without_zookeeper_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from snakafka.testing import zookeeper

    monkeypatch.setattr(zookeeper, "JAR", str(tmp_path / "missing.jar"))
    result = CliRunner().invoke(main, ["local-cluster", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"snakafka: ZooKeeper is not installed ({tmp_path / 'missing.jar'} is missing): install the Debian package zookeeper"
    ]
    assert not (tmp_path / "data").exists()

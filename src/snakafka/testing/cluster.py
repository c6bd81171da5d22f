"""A local snakafka cluster in child processes: a ZooKeeper ensemble (optional: one
server, or 3, 5, 7 electing a leader) and N brokers.

Shared by `snakafka local-cluster` and the cluster tests, so both start, wait for and
stop a cluster the same way. Every process is stopped by its own PID, never by name.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

# kazoo ships no type information.
from kazoo.client import KazooClient  # type: ignore[import-untyped]
from kazoo.exceptions import NoNodeError  # type: ignore[import-untyped]

from snakafka.client.admin import AdminClient
from snakafka.cluster.store.zk_data import parse_controller, split_chroot
from snakafka.cluster.store.zk_users import alter_user_credentials_sync
from snakafka.testing.process import BrokerProcess, free_port, free_ports
from snakafka.testing.secure import LISTENER as SECURE_LISTENER
from snakafka.testing.secure import SecureSetup
from snakafka.testing.zookeeper import ZooKeeperEnsemble, check_ensemble_size

log = logging.getLogger(__name__)


@dataclass
class LocalCluster:
    """`brokers` brokers with ids 0..n-1 sharing `zookeeper_connect` (with its chroot, if
    any); `ports[i]` is broker i's PLAINTEXT port. With no connect string, start() also
    runs a ZooKeeper ensemble of its own of `zookeepers` servers (in `zookeeper_dir`, client
    ports from `zookeeper_port` if set) and gives every broker all of them to connect to."""

    data_dir: Path
    brokers: int = 3
    zookeeper_connect: str | None = None
    zookeeper_dir: Path | None = None
    zookeeper_port: int | None = None
    zookeepers: int = 1
    ports: list[int] = field(default_factory=list)
    overrides: dict[str, str] = field(default_factory=dict)
    broker_overrides: dict[int, dict[str, str]] = field(default_factory=dict)  # per broker id, over `overrides`
    launcher: list[str] | None = None  # BrokerProcess.launcher, if not `python -m snakafka`
    env: dict[str, str] = field(default_factory=dict)
    # With a SecureSetup the brokers' only listener is SASL_SSL on `ports` (also between
    # brokers), and its admin user's SCRAM credentials are in ZooKeeper before they start;
    # with `secure_ports` too, SASL_SSL is there and `ports` stay PLAINTEXT (for tests).
    security: SecureSetup | None = None
    secure_ports: list[int] = field(default_factory=list)
    zookeeper: ZooKeeperEnsemble | None = None
    processes: list[BrokerProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.zookeeper_connect is None:
            check_ensemble_size(self.zookeepers)
        if not self.ports:
            self.ports = free_ports(self.brokers)
        if len(self.ports) != self.brokers:
            raise ValueError(f"{self.brokers} brokers need {self.brokers} ports, got {self.ports}")
        self.processes = [self._broker(i) for i in range(self.brokers)]

    @property
    def bootstrap(self) -> str:
        return ",".join(p.bootstrap for p in self.processes)

    def _broker(self, broker_id: int) -> BrokerProcess:
        process = BrokerProcess(self.data_dir / f"broker-{broker_id}", port=self.ports[broker_id],
                                log_file=self.data_dir / f"broker-{broker_id}.log", env=dict(self.env))
        if self.launcher is not None:
            process.launcher = list(self.launcher)
        return process

    def _broker_overrides(self, broker_id: int) -> dict[str, str]:
        assert self.zookeeper_connect is not None
        secure: dict[str, str] = {}
        if self.security is not None:
            port = self.ports[broker_id]
            listeners = (f"PLAINTEXT://127.0.0.1:{port},{SECURE_LISTENER}://127.0.0.1:{self.secure_ports[broker_id]}"
                         if self.secure_ports else f"{SECURE_LISTENER}://127.0.0.1:{port}")
            secure = {"listeners": listeners, **self.security.broker_overrides()}
        return {"zookeeper.connect": self.zookeeper_connect, "broker.id": str(broker_id), **secure, **self.overrides,
                **self.broker_overrides.get(broker_id, {})}

    def start(self, timeout: float = 60.0) -> Self:
        """Start ZooKeeper (if ours: every server of the ensemble), then every broker side by side; return once all are
        registered in ZooKeeper. Stops what it started if anything fails."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.zookeeper_connect is None:
                self.zookeeper = ZooKeeperEnsemble(self.zookeeper_dir or self.data_dir / "zookeeper",
                                                   size=self.zookeepers, first_port=self.zookeeper_port)
                self.zookeeper.start(timeout=timeout)
                self.zookeeper_connect = self.zookeeper.connect
            if self.security is not None:
                self._write_admin_credentials(self.security)
            for i, process in enumerate(self.processes):
                process.overrides = self._broker_overrides(i)
                process.launch()
            for process in self.processes:
                process.wait_ready(timeout)
            self.wait_registered(set(range(self.brokers)), timeout)
            self.wait_metadata(set(range(self.brokers)), timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def start_broker(self, broker_id: int, timeout: float = 30.0) -> BrokerProcess:
        """(Re)start one broker, same id, port and data dir; wait until it registered."""
        process = self._broker(broker_id)
        process.overrides = self._broker_overrides(broker_id)
        self.processes[broker_id] = process.launch()  # tracked before the wait, so stop() finds it
        process.wait_ready(timeout)
        self.wait_registered({broker_id}, timeout, exact=False)
        return process

    def _write_admin_credentials(self, security: SecureSetup) -> None:
        client, chroot = self._zk()
        try:
            alter_user_credentials_sync(client, security.admin_user, security.scram_credentials(), [], root=chroot)
        finally:
            client.stop()
            client.close()

    def add_broker(self, timeout: float = 30.0) -> int:
        """A new broker (the next id, a free port, its own data dir) joins the running
        cluster, as an operator grows one; returns its id once it registered."""
        broker_id = self.brokers
        self.brokers += 1
        self.ports.append(free_port())
        if self.secure_ports:
            self.secure_ports.append(free_port())
        self.processes.append(self._broker(broker_id))
        self.start_broker(broker_id, timeout)
        self.wait_metadata({broker_id}, timeout)
        return broker_id

    def wait_metadata(self, ids: set[int], timeout: float) -> None:
        """Wait until every running broker's metadata lists `ids` and a controller among
        the brokers it lists. Each broker learns registrations and the controller from its own ZooKeeper
        watches, a moment apart; a client that asks one too early gets controller -1,
        and librdkafka's admin client then waits for a metadata refresh it does not ask
        for (minutes). Only where `ports` are PLAINTEXT (a SASL_SSL-only cluster is not asked)."""
        if self.security is not None and not self.secure_ports:
            return
        running = [i for i, p in enumerate(self.processes) if p.proc is not None and p.proc.poll() is None]
        deadline = time.monotonic() + timeout

        async def knows(port: int) -> bool:
            async with AdminClient([("127.0.0.1", port)]) as admin:
                described = await admin.describe_cluster()
            listed = {b.broker_id for b in described.brokers}
            return ids <= listed and described.controller in listed

        for i in running:
            while not asyncio.run(asyncio.wait_for(knows(self.ports[i]), timeout)):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"broker {i}'s metadata does not list brokers {sorted(ids)} with a "
                                       f"controller after {timeout}s")
                time.sleep(0.05)

    def registered(self) -> set[int]:
        """The broker ids in /brokers/ids right now."""
        return {int(c) for c in self._children("/brokers/ids")}

    def controller(self) -> int:
        """The broker id in /controller right now, -1 if there is no controller."""
        return parse_controller(self._read("/controller"))

    def _zk(self) -> tuple[KazooClient, str]:
        assert self.zookeeper_connect is not None
        hosts, chroot = split_chroot(self.zookeeper_connect)
        client = KazooClient(hosts=hosts, timeout=10.0)
        client.start(timeout=10.0)
        return client, chroot

    def _children(self, path: str) -> list[str]:
        client, chroot = self._zk()
        try:
            return list(client.get_children(f"{chroot}{path}"))
        except NoNodeError:
            return []
        finally:
            client.stop()
            client.close()

    def _read(self, path: str) -> bytes | None:
        client, chroot = self._zk()
        try:
            data, _ = client.get(f"{chroot}{path}")
            return bytes(data)
        except NoNodeError:
            return None
        finally:
            client.stop()
            client.close()

    def wait_registered(self, ids: set[int], timeout: float, *, exact: bool = True) -> None:
        """Wait until `ids` (exactly, or at least) are registered and a controller is elected."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.registered()
            if ((current == ids) if exact else ids <= current) and self.controller() in current:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"brokers {sorted(ids)} not registered with a controller within {timeout}s "
                                   f"(now: {sorted(current)}, controller {self.controller()})")
            time.sleep(0.1)

    def pids(self) -> dict[str, int]:
        """Name -> PID of every process started and still running: broker-<id>, and
        zookeeper (one server) or zookeeper-<myid> (an ensemble's)."""
        result = {f"broker-{i}": p.pid for i, p in enumerate(self.processes) if p.proc is not None}
        if self.zookeeper is not None:
            for server_id, pid in self.zookeeper.pids().items():
                result["zookeeper" if self.zookeeper.size == 1 else f"zookeeper-{server_id}"] = pid
        return result

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM every broker at once (escalating to SIGKILL after `timeout`), then stop
        ZooKeeper if it is ours (every server, each by its PID)."""
        for process in self.processes:
            if process.proc is not None and process.proc.poll() is None:
                process.proc.terminate()
        deadline = time.monotonic() + timeout
        for process in self.processes:
            if process.proc is None:
                continue
            try:  # not process.stop(): a second SIGTERM makes a broker skip its clean shutdown
                process.proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning("broker pid %d ignored SIGTERM for %.0f s; killing it", process.pid, timeout)
                process.kill()
        if self.zookeeper is not None:
            self.zookeeper.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""A real, standalone ZooKeeper server in a child process, for tests and `snakafka
local-cluster`.

Runs Debian's packaged ZooKeeper (the same jar and classpath its zkEnv.sh uses) on a port
of 127.0.0.1 (a free one unless given), with its zoo.cfg, data and logs in a directory of
the caller's, so it never touches a system ZooKeeper. Stopped by its PID only.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from kazoo.client import KazooClient  # type: ignore[import-untyped]
from kazoo.exceptions import KazooException  # type: ignore[import-untyped]
from kazoo.handlers.threading import KazooTimeoutError  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

JAVA = os.environ.get("SNAKAFKA_TEST_JAVA", "/usr/bin/java")
# zkEnv.sh: CLASSPATH="$ZOOCFGDIR:/usr/share/java/zookeeper.jar"; the jar's manifest
# Class-Path brings in its dependencies (netty, jackson, slf4j, jute, ...).
CLASSPATH = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar"
# zkServer.sh runs QuorumPeerMain, which falls back to this class for a standalone config.
MAIN_CLASS = "org.apache.zookeeper.server.ZooKeeperServerMain"


JAR = "/usr/share/java/zookeeper.jar"


def zookeeper_available() -> bool:
    return missing_zookeeper() is None


def missing_zookeeper() -> str | None:
    """Why a ZooKeeper server cannot run here (one line), or None if it can."""
    if not Path(JAR).exists():
        return f"ZooKeeper is not installed ({JAR} is missing): install the Debian package zookeeper"
    if not Path(JAVA).exists():
        return f"java is not installed ({JAVA} is missing): install the Debian package zookeeper (it pulls in java)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ZooKeeperServer:
    """One standalone ZooKeeper process; start() waits until clients can connect."""

    def __init__(self, directory: Path, *, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.data_dir = directory / "data"
        self.config_path = directory / "zoo.cfg"
        self.log_path = directory / "zookeeper.out"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def connect(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            "\n".join(
                [
                    "tickTime=500",
                    f"dataDir={self.data_dir}",
                    f"clientPort={self.port}",
                    "clientPortAddress=127.0.0.1",
                    "admin.enableServer=false",
                    "4lw.commands.whitelist=",
                    "maxClientCnxns=0",
                    # tickTime 500 caps sessions at 10 s by default; allow Kafka's 18 s.
                    "maxSessionTimeout=30000",
                    "",
                ]
            )
        )
        command = [
            JAVA,
            "-Xmx256m",
            "-XX:TieredStopAtLevel=1",
            f"-Dzookeeper.log.dir={self.directory}",
            "-Dzookeeper.root.logger=INFO,CONSOLE",
            "-Dzookeeper.admin.enableServer=false",
            "-Dzookeeper.jmx.log4j.disable=true",
            "-cp",
            CLASSPATH,
            MAIN_CLASS,
            str(self.config_path),
        ]
        with open(self.log_path, "ab") as out:
            self._proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          cwd=self.directory, start_new_session=True)
        log.info("started zookeeper pid %d on %s (logs in %s)", self._proc.pid, self.connect, self.log_path)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        assert self._proc is not None
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"zookeeper exited with {self._proc.returncode}: {self._log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"zookeeper not reachable on {self.connect} after {timeout}s: {self._log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    pass
            except OSError:
                time.sleep(0.1)
                continue
            client = KazooClient(hosts=self.connect, timeout=10.0)
            try:
                client.start(timeout=max(1.0, min(5.0, deadline - time.monotonic())))
                client.get_children("/")
                return
            except (KazooException, KazooTimeoutError, OSError) as exc:  # not serving yet: try again until the deadline
                log.debug("zookeeper on %s not ready yet: %s", self.connect, exc)
                time.sleep(0.1)
            finally:
                client.stop()
                client.close()

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 10.0) -> None:
        """Kill exactly our process: SIGTERM, then SIGKILL if it lingers."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("zookeeper pid %d ignored SIGTERM; killing it", proc.pid)
            proc.kill()
            proc.wait(timeout=timeout)
        log.info("stopped zookeeper pid %d", proc.pid)

    def wipe(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)

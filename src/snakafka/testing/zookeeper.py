"""Real ZooKeeper servers in child processes, for tests and `snakafka local-cluster`: one
standalone server, or an ensemble of N (3, 5, 7: a quorum is a majority) that elects a
leader and survives the loss of a minority, as production ZooKeeper runs.

Runs Debian's packaged ZooKeeper (the same jar and classpath its zkEnv.sh uses) on ports
of 127.0.0.1 (free ones unless given), with each server's zoo.cfg, myid, data and logs in
a directory of the caller's, so it never touches a system ZooKeeper. Every process is
stopped by its own PID only.

The config text is a pure function (`zoo_cfg`) of the server's ports and its ensemble's
`server.N` lines, tested without starting anything.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from kazoo.client import KazooClient  # type: ignore[import-untyped]
from kazoo.exceptions import KazooException  # type: ignore[import-untyped]
from kazoo.handlers.threading import KazooTimeoutError  # type: ignore[import-untyped]

from snakafka.testing.process import free_port, free_ports

log = logging.getLogger(__name__)

JAVA = os.environ.get("SNAKAFKA_TEST_JAVA", "/usr/bin/java")
# zkEnv.sh: CLASSPATH="$ZOOCFGDIR:/usr/share/java/zookeeper.jar"; the jar's manifest
# Class-Path brings in its dependencies (netty, jackson, slf4j, jute, ...).
CLASSPATH = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar"
# zkServer.sh runs QuorumPeerMain; a standalone config goes straight to the class it would
# fall back to.
STANDALONE_MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
QUORUM_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
# Read-only four-letter words: `srvr` tells a server's mode (leader, follower, standalone),
# `cons` the sessions connected to it.
FOUR_LETTER_WORDS = "srvr,mntr,ruok,cons"
# ZooKeeper expires sessions once a tick, so a dead broker's session outlives its timeout by
# up to one tick, and every failover waits for that: a short tick keeps failover close to
# zookeeper.session.timeout.ms. (Sessions may be 2 to 20 ticks long unless min/max say otherwise.)
TICK_TIME_MS = 200

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


# -- configuration (pure) ------------------------------------------------------------------


@dataclass(frozen=True)
class QuorumServer:
    """One `server.N=host:quorumPort:electionPort` line of an ensemble (ZooKeeper's
    QuorumPeer.QuorumServer), plus the client port that server listens on."""

    server_id: int  # its myid, 1..255
    client_port: int
    quorum_port: int  # followers connect to the leader here
    election_port: int  # leader election between servers

    @property
    def line(self) -> str:
        return f"server.{self.server_id}=127.0.0.1:{self.quorum_port}:{self.election_port}"


def check_ensemble_size(size: int) -> None:
    """ValueError (one line) unless `size` is odd and >= 1: an ensemble serves while a
    majority is up, so an even size tolerates no more failures than the odd size below it."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"a ZooKeeper ensemble needs an odd number of servers >= 1 (3, 5, 7: a quorum is a "
                         f"majority), got {size}")


def zoo_cfg(data_dir: Path, client_port: int, quorum: Sequence[QuorumServer] = ()) -> str:
    """The zoo.cfg of one server: standalone with no `quorum`, else a member of the
    ensemble `quorum` (every member's config lists the same server lines).

    Timings suit tests on one machine: 200 ms ticks; a follower must sync within 10 s
    (initLimit) and answer the leader within 2 s (syncLimit), so a dead leader is replaced
    in about a second or two, well within a broker's session timeout."""
    lines = [
        f"tickTime={TICK_TIME_MS}",
        f"dataDir={data_dir}",
        f"clientPort={client_port}",
        "clientPortAddress=127.0.0.1",
        "admin.enableServer=false",
        f"4lw.commands.whitelist={FOUR_LETTER_WORDS}",
        "maxClientCnxns=0",
        # A 200 ms tick caps sessions at 4 s by default; allow Kafka's 18 s.
        "maxSessionTimeout=30000",
    ]
    if quorum:
        ids = [s.server_id for s in quorum]
        if len(set(ids)) != len(ids) or not all(1 <= i <= 255 for i in ids):
            raise ValueError(f"server ids must be distinct and in 1..255, got {ids}")
        ports = [p for s in quorum for p in (s.client_port, s.quorum_port, s.election_port)]
        if len(set(ports)) != len(ports):
            raise ValueError(f"every port of an ensemble must be distinct, got {ports}")
        if client_port not in {s.client_port for s in quorum}:
            raise ValueError(f"client port {client_port} is no member's of the ensemble {ids}")
        lines += [f"initLimit={10_000 // TICK_TIME_MS}", f"syncLimit={2_000 // TICK_TIME_MS}", "reconfigEnabled=false"]
        lines += [s.line for s in sorted(quorum, key=lambda s: s.server_id)]
    return "\n".join(lines) + "\n"


def quorum_servers(size: int, first_client_port: int | None = None) -> tuple[QuorumServer, ...]:
    """Ids 1..size on free ports (client ports first_client_port.. if given)."""
    check_ensemble_size(size)
    if first_client_port is None:
        free = free_ports(3 * size)
        clients, peers = free[:size], free[size:]
    else:  # 3 * size free ports, at most `size` of them among the given client ports
        clients = [first_client_port + i for i in range(size)]
        peers = [p for p in free_ports(3 * size) if p not in clients]
    return tuple(QuorumServer(i + 1, clients[i], peers[2 * i], peers[2 * i + 1]) for i in range(size))


def parse_mode(srvr: str) -> str | None:
    """The "Mode: <mode>" line of a `srvr` (or `stat`) answer: leader, follower,
    standalone, observer; None while the server is not serving (electing, syncing)."""
    for line in srvr.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "Mode":
            return value.strip() or None
    return None


def parse_cons_sessions(cons: str) -> set[int]:
    """The session ids ("sid=0x...") of the client connections a `cons` answer lists."""
    return {int(sid, 16) for sid in re.findall(r"[(,]sid=0x([0-9a-fA-F]+)", cons)}


def four_letter_word(port: int, word: str, timeout: float = 2.0) -> str:
    """Send a four-letter command to the server on 127.0.0.1:`port`; its whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(word.encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


# -- one server ----------------------------------------------------------------------------


class ZooKeeperServer:
    """One ZooKeeper process: standalone, or the member `server_id` of the ensemble
    `quorum` (its client port is then that member's). start() waits until clients can
    connect, which for a member needs a quorum of its ensemble running."""

    def __init__(self, directory: Path, *, port: int | None = None, server_id: int | None = None,
                 quorum: Sequence[QuorumServer] = ()) -> None:
        self.directory = directory
        self.quorum = tuple(quorum)
        self.server_id = server_id
        if self.quorum:
            member = next((s for s in self.quorum if s.server_id == server_id), None)
            if member is None:
                raise ValueError(f"server id {server_id} is not in the ensemble {[s.server_id for s in quorum]}")
            port = member.client_port
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

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 30.0) -> Self:
        self.launch()
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def launch(self) -> Self:
        """Write the config (and myid) and start the process without waiting, so the
        members of an ensemble start side by side."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(zoo_cfg(self.data_dir, self.port, self.quorum))
        if self.quorum:
            (self.data_dir / "myid").write_text(f"{self.server_id}\n")
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
            QUORUM_MAIN if self.quorum else STANDALONE_MAIN,
            str(self.config_path),
        ]
        with open(self.log_path, "ab") as out:
            self._proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          cwd=self.directory, start_new_session=True)
        log.info("started zookeeper %s pid %d on %s (logs in %s)", self.server_id or "", self._proc.pid,
                 self.connect, self.log_path)
        return self

    def wait_ready(self, timeout: float) -> None:
        """Wait until a client can list "/" through this server."""
        deadline = time.monotonic() + timeout
        assert self._proc is not None, "launch() first"
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

    def mode(self, timeout: float = 2.0) -> str | None:
        """leader, follower or standalone (from `srvr`); None if not serving or not running."""
        if not self.running:
            return None
        try:
            return parse_mode(four_letter_word(self.port, "srvr", timeout))
        except OSError:
            return None

    def sessions(self, timeout: float = 2.0) -> set[int]:
        """The ids of the sessions connected to this server now (from `cons`)."""
        if not self.running:
            return set()
        try:
            return parse_cons_sessions(four_letter_word(self.port, "cons", timeout))
        except OSError:
            return set()

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

    def kill(self) -> None:
        """kill -9 (a crash: no clean shutdown, its sessions' connections just drop)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
            log.info("killed zookeeper %s pid %d", self.server_id or "", proc.pid)

    def wipe(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)


# -- an ensemble ---------------------------------------------------------------------------


@dataclass
class ZooKeeperEnsemble:
    """`size` ZooKeeper servers (odd; ids 1..size) forming one ensemble; with size 1, one
    standalone server in `directory` itself, as a single ZooKeeperServer runs. `connect`
    lists every server, so a client (a broker's zookeeper.connect) moves its session to
    another server when its own goes away."""

    directory: Path
    size: int = 3
    first_port: int | None = None  # client ports first_port.. (else free ones)
    servers: list[ZooKeeperServer] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_ensemble_size(self.size)
        if self.servers:
            return
        if self.size == 1:
            self.servers = [ZooKeeperServer(self.directory, port=self.first_port)]
            return
        quorum = quorum_servers(self.size, self.first_port)
        self.servers = [ZooKeeperServer(self.directory / f"server-{s.server_id}", server_id=s.server_id, quorum=quorum)
                        for s in quorum]

    @property
    def connect(self) -> str:
        return ",".join(s.connect for s in self.servers)

    def server(self, server_id: int) -> ZooKeeperServer:
        """The member with myid `server_id` (the standalone server for id 1 of size 1)."""
        return self.servers[server_id - 1]

    def start(self, timeout: float = 60.0) -> Self:
        """Start every server side by side; return once each serves clients. Stops them
        all if any fails."""
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            for server in self.servers:
                server.directory.mkdir(parents=True, exist_ok=True)
                server.launch()
            deadline = time.monotonic() + timeout
            for server in self.servers:
                server.wait_ready(max(deadline - time.monotonic(), 1.0))
        except BaseException:
            self.stop()
            raise
        return self

    def leader(self, timeout: float = 20.0) -> ZooKeeperServer:
        """The server that is the quorum's leader now (asked with `srvr`), waiting for an
        election in progress; the standalone server of a size 1 ensemble."""
        deadline = time.monotonic() + timeout
        while True:
            modes = {i + 1: s.mode() for i, s in enumerate(self.servers)}
            for i, server in enumerate(self.servers):
                if modes[i + 1] in ("leader", "standalone"):
                    return server
            if time.monotonic() > deadline:
                raise TimeoutError(f"no zookeeper leader within {timeout}s (modes by server id: {modes})")
            time.sleep(0.1)

    def pids(self) -> dict[int, int]:
        """Server id (1..size) -> PID of every running server."""
        return {i + 1: s.pid for i, s in enumerate(self.servers) if s.pid is not None and s.running}

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every server (each by its PID), escalating to SIGKILL."""
        for server in self.servers:
            server.stop(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

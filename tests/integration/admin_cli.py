"""Running `snakafka` admin commands from tests: in this process through click's runner
(fast: no interpreter start per command) or as a real subprocess (exit status and stderr
exactly as a shell sees them)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from click.testing import CliRunner

from snakafka.cli import main

RUN_TIMEOUT = 90


@dataclass(frozen=True)
class Ran:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.exit_code == 0, self.stderr
        return json.loads(self.stdout)

    def ok(self) -> Ran:
        assert self.exit_code == 0, f"exit {self.exit_code}: {self.stderr}"
        return self

    def failed_with_one_line(self, exit_code: int = 1) -> str:
        """The one stderr line of a failure (exit 1) or a usage error's message (exit 2)."""
        assert self.exit_code == exit_code, f"exit {self.exit_code} (wanted {exit_code}): {self.stdout} {self.stderr}"
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        if exit_code == 1:
            assert len(lines) == 1, self.stderr
            assert "Traceback" not in self.stderr
        return lines[-1]


def snakafka(*args: str) -> Ran:
    """`snakafka ARGS` in this process."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return Ran(result.exit_code, result.stdout, result.stderr)


def snakafka_process(*args: str) -> Ran:
    """`python -m snakafka ARGS` as a child process."""
    done = subprocess.run([sys.executable, "-m", "snakafka", *args], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, check=False)
    return Ran(done.returncode, done.stdout, done.stderr)

"""EmbeddedBroker's start-to-ready time: how long `EmbeddedBroker().start()` takes to
return a serving broker (start() returns once the broker is registered, its metadata
applied and its listener open: /readyz would answer 200).

Each run is a fresh Python process, so the first ("cold") start pays for importing the
broker's modules, as the first test of a test session does; a second start in the same
process ("warm") is what every further broker costs. Figures, never assertions.

The cold start is timed from before `from snakafka.testing import EmbeddedBroker`, and
is followed by the first answers a client waits for (ApiVersions and Metadata, on a raw
socket): handler modules load on their API's first request, so that figure shows what a
lazy import only moved. Python's bytecode cache is on for the children, as in an
installed package (pip writes it; PYTHONDONTWRITEBYTECODE=1, set on some machines, would
make every run compile snakafka's sources again), and one warm-up process, not counted,
writes it first. `--python` measures another environment, e.g. one without hypothesis.

A second figure is the user's own view: the setup time pytest reports (--durations) for
the `snakafka_broker` fixture in the first test of a real pytest session. pytest has then
already imported much of what the broker needs from the standard library (and importlib.metadata,
which crc32c uses), so it is lower than the bare process's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

TARGET_S = 0.5

# Runs in a child process: the time of each start, as JSON on stdout.
# CPU seconds (the process's, all threads) are printed too: on a shared machine they move
# less than the wall clock.
_SCRIPT = """
import json, socket, struct, sys, time
t0, c0 = time.perf_counter(), time.process_time()
from snakafka.testing import EmbeddedBroker
broker = EmbeddedBroker().start()
t1, c1 = time.perf_counter(), time.process_time()

def request(sock, key, version, body):
    frame = struct.pack(">hhih", key, version, 1, 5) + b"bench" + body
    sock.sendall(struct.pack(">i", len(frame)) + frame)
    size = struct.unpack(">i", sock.recv(4, socket.MSG_WAITALL))[0]
    sock.recv(size, socket.MSG_WAITALL)

with socket.create_connection(("127.0.0.1", broker.port), timeout=60) as sock:
    request(sock, 18, 0, b"")  # ApiVersions v0
    request(sock, 3, 1, struct.pack(">i", -1))  # Metadata v1, all topics
t2, c2 = time.perf_counter(), time.process_time()
broker.stop()
t3, c3 = time.perf_counter(), time.process_time()
broker = EmbeddedBroker().start()
t4, c4 = time.perf_counter(), time.process_time()
broker.stop()
print(json.dumps({"cold_s": t1 - t0, "warm_s": t4 - t3, "cold_cpu_s": c1 - c0, "warm_cpu_s": c4 - c3,
                  "first_answers_s": t2 - t1, "first_answers_cpu_s": c2 - c1,
                  "hypothesis": "hypothesis" in sys.modules}))
"""


@dataclass(frozen=True)
class EmbeddedStart:
    # one per process: cold_s, warm_s, cold_cpu_s, warm_cpu_s, first_answers_s, first_answers_cpu_s,
    # hypothesis (1.0 when kio had hypothesis to import)
    runs: list[dict[str, float]]

    def median(self, key: str) -> float:
        return statistics.median(run[key] for run in self.runs)

    def line(self) -> str:
        hypothesis = "with" if self.runs and self.runs[0].get("hypothesis") else "without"
        return (f"EmbeddedBroker start-to-ready (median of {len(self.runs)} fresh processes, {hypothesis} hypothesis "
                f"installed): first start {self.median('cold_s'):.3f} s wall / {self.median('cold_cpu_s'):.3f} s CPU "
                f"(module imports included), then its first ApiVersions + Metadata answers "
                f"{self.median('first_answers_s'):.3f} s / {self.median('first_answers_cpu_s'):.3f} s CPU; "
                f"next start {self.median('warm_s'):.3f} s wall / {self.median('warm_cpu_s'):.3f} s CPU; "
                f"target under {TARGET_S} s")

    def to_json(self) -> dict[str, object]:
        return {"runs": self.runs, "target_s": TARGET_S}


def _child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure_embedded_start(runs: int = 5, timeout: float = 120.0, python: str = sys.executable) -> EmbeddedStart:
    env = _child_env()
    results = []
    for i in range(runs + 1):  # the first writes the bytecode cache and is not counted
        out = subprocess.run([python, "-c", _SCRIPT], capture_output=True, text=True, timeout=timeout,
                             check=True, env=env)
        if i > 0:
            results.append({k: float(v) for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()})
    return EmbeddedStart(results)


_FIXTURE_TEST = """
def test_first_broker(snakafka_broker):
    assert snakafka_broker.port
"""
_SETUP = re.compile(r"^([0-9.]+)s setup\s+\S*test_first_broker", re.MULTILINE)


def measure_fixture_setup(runs: int = 5, timeout: float = 120.0, python: str = sys.executable) -> list[float] | None:
    """The snakafka_broker fixture's setup time in the first test of `runs` pytest sessions
    (after one not counted); None when that environment has no pytest."""
    env = _child_env()
    setups = []
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "test_embedded_start.py").write_text(_FIXTURE_TEST)
        for i in range(runs + 1):
            out = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=0",
                                  "--durations-min=0", "test_embedded_start.py"], cwd=tmp, capture_output=True,
                                 text=True, timeout=timeout, env=env, check=False)  # checked below
            if "No module named pytest" in out.stderr:
                return None
            match = _SETUP.search(out.stdout)
            if out.returncode != 0 or match is None:
                raise RuntimeError(f"pytest failed: {out.stdout[-2000:]}{out.stderr[-2000:]}")
            if i > 0:
                setups.append(float(match.group(1)))
    return setups


def fixture_line(setups: list[float]) -> str:
    return (f"snakafka_broker fixture setup in a pytest session's first test (median of {len(setups)} sessions): "
            f"{statistics.median(setups):.2f} s wall; target under {TARGET_S} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes (default 5)")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter of the environment to measure (default: this one)")
    args = parser.parse_args()
    print(measure_embedded_start(args.runs, python=args.python).line())
    setups = measure_fixture_setup(args.runs, python=args.python)
    print(fixture_line(setups) if setups is not None else "snakafka_broker fixture: pytest is not installed there")

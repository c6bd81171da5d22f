"""EmbeddedBroker's start-to-ready time: how long `EmbeddedBroker().start()` takes to
return a serving broker (start() returns once the broker is registered, its metadata
applied and its listener open: /readyz would answer 200).

Each run is a fresh Python process, so the first ("cold") start pays for importing the
broker's modules, as the first test of a test session does; a second start in the same
process ("warm") is what every further broker costs. Figures, never assertions.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from dataclasses import dataclass

TARGET_S = 0.5

# Runs in a child process: the time of each start, as JSON on stdout.
# CPU seconds (the process's, all threads) are printed too: on a shared machine they move
# less than the wall clock.
_SCRIPT = """
import json, time
t0, c0 = time.perf_counter(), time.process_time()
from snakafka.testing import EmbeddedBroker
broker = EmbeddedBroker().start()
t1, c1 = time.perf_counter(), time.process_time()
broker.stop()
t2, c2 = time.perf_counter(), time.process_time()
broker = EmbeddedBroker().start()
t3, c3 = time.perf_counter(), time.process_time()
broker.stop()
print(json.dumps({"cold_s": t1 - t0, "warm_s": t3 - t2, "cold_cpu_s": c1 - c0, "warm_cpu_s": c3 - c2}))
"""


@dataclass(frozen=True)
class EmbeddedStart:
    runs: list[dict[str, float]]  # one per process: cold_s, warm_s, cold_cpu_s, warm_cpu_s

    def median(self, key: str) -> float:
        return statistics.median(run[key] for run in self.runs)

    def line(self) -> str:
        return (f"EmbeddedBroker start-to-ready (median of {len(self.runs)} fresh processes): first start "
                f"{self.median('cold_s'):.3f} s wall / {self.median('cold_cpu_s'):.3f} s CPU (module imports "
                f"included), next start {self.median('warm_s'):.3f} s wall / {self.median('warm_cpu_s'):.3f} s CPU; "
                f"target under {TARGET_S} s")

    def to_json(self) -> dict[str, object]:
        return {"runs": self.runs, "target_s": TARGET_S}


def measure_embedded_start(runs: int = 5, timeout: float = 120.0) -> EmbeddedStart:
    results = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=timeout,
                             check=True)
        results.append({k: float(v) for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()})
    return EmbeddedStart(results)


if __name__ == "__main__":
    print(measure_embedded_start().line())

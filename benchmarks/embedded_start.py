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
_SCRIPT = """
import json, time
t0 = time.perf_counter()
from snakafka.testing import EmbeddedBroker
broker = EmbeddedBroker().start()
t1 = time.perf_counter()
broker.stop()
t2 = time.perf_counter()
broker = EmbeddedBroker().start()
t3 = time.perf_counter()
broker.stop()
print(json.dumps({"cold_s": t1 - t0, "warm_s": t3 - t2}))
"""


@dataclass(frozen=True)
class EmbeddedStart:
    cold_s: list[float]
    warm_s: list[float]

    def line(self) -> str:
        cold, warm = statistics.median(self.cold_s), statistics.median(self.warm_s)
        return (f"EmbeddedBroker start-to-ready (median of {len(self.cold_s)} fresh processes): first start "
                f"{cold:.3f} s (max {max(self.cold_s):.3f}, module imports included), next start {warm:.3f} s "
                f"(max {max(self.warm_s):.3f}); target under {TARGET_S} s")

    def to_json(self) -> dict[str, object]:
        return {"cold_s": self.cold_s, "warm_s": self.warm_s, "target_s": TARGET_S}


def measure_embedded_start(runs: int = 5, timeout: float = 120.0) -> EmbeddedStart:
    cold, warm = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=timeout,
                             check=True)
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        cold.append(float(figures["cold_s"]))
        warm.append(float(figures["warm_s"]))
    return EmbeddedStart(cold, warm)


if __name__ == "__main__":
    print(measure_embedded_start().line())

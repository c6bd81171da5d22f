"""The delivery-semantics examples, run as a user would, with a crash at the bad moment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from snakafka.testing.process import BrokerProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(script: str, *args: str, expect: int = 0, timeout: float = 60) -> None:
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], check=False,
                          capture_output=True, text=True, timeout=timeout, cwd=EXAMPLES)
    assert proc.returncode == expect, proc.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("pattern", ["at_most_once", "at_least_once"])
def test_crash_at_the_bad_moment(broker: BrokerProcess, tmp_path: Path, topic_name: str, pattern: str) -> None:
    bs = ["--bootstrap-server", broker.bootstrap]
    run("produce_numbers.py", *bs, "--topic", topic_name, "--count", "20")
    out = tmp_path / "out.txt"
    common = [*bs, "--topic", topic_name, "--group", f"g-{topic_name}", "--out", str(out)]
    run(f"{pattern}.py", *common, "--crash-at", "5", expect=17)
    # The crashed member holds the partition until its 6 s session times out.
    run(f"{pattern}.py", *common, "--idle-exit-s", "30", "--stop-after", "19")
    processed = [int(line) for line in out.read_text().split()]
    if pattern == "at_most_once":
        assert processed == [i for i in range(20) if i != 5], "record 5 was committed, then lost"
    else:
        assert processed == list(range(6)) + list(range(5, 20)), "record 5 is processed twice"
        import json

        state = json.loads(Path(str(out) + ".state").read_text())
        assert state == {str(i): str(i) for i in range(20)}, "the idempotent result holds each record once"

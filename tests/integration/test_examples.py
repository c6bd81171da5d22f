"""The delivery-semantics examples, run as a user would, with a crash at the bad moment."""

from __future__ import annotations

import os
import select
import signal
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


@pytest.mark.slow
def test_exactly_once_survives_kill_9_mid_transaction(broker: BrokerProcess, topic_name: str) -> None:
    """exactly_once.py is killed with SIGKILL while the output of record 5 sits in its
    open transaction; the restarted instance fences and aborts it and resumes from the
    committed offsets. read_committed readers of the output see each record once; the
    killed instance's output is still in the log (read_uncommitted), aborted."""
    from integration.helpers import confluent_consume, confluent_create_topic

    bs = ["--bootstrap-server", broker.bootstrap]
    out_topic = topic_name + "-out"
    run("produce_numbers.py", *bs, "--topic", topic_name, "--count", "20")
    confluent_create_topic(broker.bootstrap, out_topic, 1)
    script = [str(EXAMPLES / "exactly_once.py"), *bs, "--topic", topic_name, "--output-topic", out_topic,
              "--group", f"g-{topic_name}", "--transactional-id", f"tx-{topic_name}"]
    child = subprocess.Popen([sys.executable, *script, "--hang-at", "5"], cwd=EXAMPLES, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 60)  # bounded: no hang if the child hangs
        assert ready, "exactly_once.py never reached record 5"
        line = child.stdout.readline()
        assert line.strip() == "IN-TRANSACTION 5", line
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        if child.stdout is not None:
            child.stdout.close()
    # The killed member holds the partition until its 6 s session times out.
    run("exactly_once.py", *script[1:], "--idle-exit-s", "30", "--stop-after", "19", timeout=120)

    def values(isolation: str) -> list[str]:
        recs = confluent_consume(broker.bootstrap, out_topic, [0], conf={"isolation.level": isolation})
        return [r.value.decode() for r in recs if r.value is not None]

    assert values("read_committed") == [f"{i} squared is {i * i}" for i in range(20)], "each input once, in order"
    everything = values("read_uncommitted")
    assert len(everything) > 20 and everything.count("5 squared is 25") == 2, everything

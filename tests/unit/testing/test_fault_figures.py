"""The soak's failover figures (snakafka.testing.faults): nearest-rank percentiles."""

from __future__ import annotations

from snakafka.testing.faults import failover_summary, percentile


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([3.0], 0.99) == 3.0
    assert percentile([5.0, 1.0], 0.5) == 1.0


def test_summary_line() -> None:
    assert failover_summary([]) == "no failovers measured"
    assert failover_summary([1.0, 2.0, 4.0]) == (
        "failover after kill -9: median 2.00 s, p99 4.00 s, max 4.00 s over 3")

"""Turn BrokerRuns into figures: one table (a column per broker, ratios to the first) and JSON."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.measure import RECORD_SIZE
from benchmarks.phases import (
    CONSUMER_SETTINGS,
    LATENCY_LINGER_MS,
    PRODUCER_SETTINGS,
    PhaseResult,
)
from benchmarks.suite import PHASES, BrokerRun, PhaseSpec

CPU_DEFINITION = ("broker CPU s/GB = (user+system CPU seconds of the broker process and its children (psutil), "
                  "from the phase's start until the broker has been quiet for 1 s after it) / "
                  f"(records x {RECORD_SIZE} B payload / 10^9)")


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    higher_is_better: bool
    value: Callable[[PhaseResult], float | None]


def figures_for(spec: PhaseSpec) -> list[Figure]:
    if spec.kind == "latency":
        return [
            Figure(f"{spec.id}.p50_ms", f"{spec.label} p50 (ms)", False, lambda r: _ok(r, r.extra.get("p50_ms"))),
            Figure(f"{spec.id}.p99_ms", f"{spec.label} p99 (ms)", False, lambda r: _ok(r, r.extra.get("p99_ms"))),
        ]
    if spec.kind == "rebalance":
        return [
            Figure(f"{spec.id}.leave_median_ms", "rebalance after 1 of 3 members leaves, median (ms)", False,
                   lambda r: _ok(r, r.extra.get("leave_median_ms"))),
            Figure(f"{spec.id}.leave_max_ms", "rebalance after 1 of 3 members leaves, max (ms)", False,
                   lambda r: _ok(r, r.extra.get("leave_max_ms"))),
            Figure(f"{spec.id}.join_median_ms", "rebalance when a 3rd member joins, median (ms)", False,
                   lambda r: _ok(r, r.extra.get("join_median_ms"))),
        ]
    figures = [
        Figure(f"{spec.id}.records_per_s", f"{spec.label} (records/s)", True, lambda r: r.records_per_s),
        Figure(f"{spec.id}.mb_per_s", f"{spec.label} (MB/s)", True, lambda r: r.mb_per_s),
        Figure(f"{spec.id}.cpu_s_per_gb", f"{spec.label}: broker CPU s/GB", False, lambda r: r.cpu_per_gb),
    ]
    if spec.kind == "group-consume":
        figures.append(Figure(f"{spec.id}.join_ms", "group of 3: subscribe to first assignment (ms)", False,
                              lambda r: _ok(r, r.extra.get("join_ms"))))
    return figures


def _ok(result: PhaseResult, value: Any) -> float | None:
    if result.error or value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def figure_table(runs: list[BrokerRun]) -> list[tuple[Figure, list[float | None]]]:
    rows = []
    for spec in PHASES:
        if not any(spec.id in run.results for run in runs):
            continue
        for fig in figures_for(spec):
            rows.append((fig, [fig.value(run.results[spec.id]) if spec.id in run.results else None for run in runs]))
    return rows


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(base: float | None, other: float | None) -> str:
    if base is None or other is None or other == 0:
        return "-"
    return f"{base / other:.2f}x"


def settings_lines(records: int, kcat_note: str, latency_rate: int, latency_seconds: float) -> list[str]:
    return [
        f"records per phase: {records:,} x {RECORD_SIZE} B values (no key, no compression); MB = 10^6 B of payload",
        "producer (confluent-kafka): " + ", ".join(f"{k}={v}" for k, v in PRODUCER_SETTINGS.items())
        + "; produce() in a tight loop with poll(0), then flush(); fresh topic per produce phase",
        "consumer (confluent-kafka): assign all partitions at offset 0, consume(num_messages=10000) until all read; "
        + ", ".join(f"{k}={v}" for k, v in CONSUMER_SETTINGS.items()) + "; fetch.* at librdkafka defaults",
        f"kcat: kcat -C -o beginning -c N -e -q -f '%o\\n' (output counted), process wall time; {kcat_note}",
        (f"latency: {latency_rate} records/s for {latency_seconds:g} s to a 1-partition topic, acks=1, linger.ms="
         f"{LATENCY_LINGER_MS}; consumer thread with default fetch.wait.max.ms, poll(); "
         "receive time - send time stamped in the value"),
        ("groups: 3 confluent-kafka Consumers subscribe to the 6-partition topic (same consumer settings); "
         "records/s = N / (first assignment -> every partition read to its end by its current owner); "
         "rebalance: 3 members on an idle 6-partition topic, heartbeat.interval.ms=100, one closes (LeaveGroup), "
         "timed until the other two hold new assignments covering all partitions; then a new member joins, "
         "timed likewise; 5 rounds"),
        CPU_DEFINITION,
    ]


def render(runs: list[BrokerRun], settings: list[str], unavailable: dict[str, str]) -> str:
    names = [run.broker.name for run in runs]
    rows = figure_table(runs)
    base = names[0] if names else ""
    headers = ["figure", *names, *[f"{base}/{n}" for n in names[1:]]]
    body = []
    for fig, values in rows:
        arrow = "  (higher better)" if fig.higher_is_better else "  (lower better)"
        body.append([fig.label + arrow, *[_fmt(v) for v in values], *[_ratio(values[0], v) for v in values[1:]]])
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]
    lines = ["", "snakafka benchmark", "=" * 18]
    lines += [f"  {s}" for s in settings]
    lines.append("")
    for run in runs:
        b = run.broker
        lines.append(f"  {b.name}: {b.description} @ {b.bootstrap}" + (f", pid {b.pid}" if b.pid else ""))
        lines += [f"    note: {n}" for n in run.notes]
    for name, reason in unavailable.items():
        lines.append(f"  {name}: NOT MEASURED: {reason}")
    lines.append("")
    fmt_row = lambda cells: "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells))
    lines.append(fmt_row(headers))
    lines.append("  ".join("-" * w for w in widths))
    lines += [fmt_row(r) for r in body]
    errors = [(run.broker.name, spec.label, run.results[spec.id].error) for run in runs for spec in PHASES
              if spec.id in run.results and run.results[spec.id].error]
    if errors:
        lines += ["", "failed phases (no figure shown):"]
        lines += [f"  {name}: {label}: {error}" for name, label, error in errors]
    lines.append("")
    return "\n".join(lines)


def to_json(runs: list[BrokerRun], settings: list[str], unavailable: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"settings": settings, "unavailable": unavailable, "brokers": []}
    for run in runs:
        phases = {}
        for spec in PHASES:
            r = run.results.get(spec.id)
            if r is None:
                continue
            extra = {k: v for k, v in r.extra.items() if k != "stderr" or r.error}
            phases[spec.id] = {"label": spec.label, "records": r.records, "wall_s": r.wall, "broker_cpu_s": r.cpu,
                               "records_per_s": r.records_per_s, "mb_per_s": r.mb_per_s, "cpu_s_per_gb": r.cpu_per_gb,
                               "error": r.error, **extra}
        out["brokers"].append({"name": run.broker.name, "description": run.broker.description,
                               "bootstrap": run.broker.bootstrap, "pid": run.broker.pid,
                               "notes": run.notes, "phases": phases})
    rows = figure_table(runs)
    out["figures"] = {fig.key: dict(zip([r.broker.name for r in runs], values)) for fig, values in rows}
    return out

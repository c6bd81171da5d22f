"""Run every phase against one broker, in a fixed order, and collect the results."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.brokers import Broker
from benchmarks.group_phases import consume_group, rebalance_on_leave
from benchmarks.measure import CpuMeter
from benchmarks.phases import (
    Kcat,
    PhaseResult,
    consume_kcat,
    consume_python,
    create_topic,
    latency,
    produce,
    wheel_librdkafka_dir,
)

log = logging.getLogger("benchmarks")


@dataclass(frozen=True)
class PhaseSpec:
    id: str
    label: str
    kind: str  # "produce", "consume", "latency", "group-consume" or "rebalance"


PHASES: list[PhaseSpec] = [
    PhaseSpec("produce-1p-acks1", "produce, 1 partition, acks=1", "produce"),
    PhaseSpec("produce-1p-acksall", "produce, 1 partition, acks=all", "produce"),
    PhaseSpec("produce-6p-acks1", "produce, 6 partitions, acks=1", "produce"),
    PhaseSpec("produce-6p-acksall", "produce, 6 partitions, acks=all", "produce"),
    PhaseSpec("consume-python-1p", "consume, Python Consumer, 1 partition", "consume"),
    PhaseSpec("consume-python-6p", "consume, Python Consumer, 6 partitions", "consume"),
    PhaseSpec("consume-kcat-1p", "consume, kcat, 1 partition", "consume"),
    PhaseSpec("consume-kcat-6p", "consume, kcat, 6 partitions", "consume"),
    PhaseSpec("latency", "end-to-end latency", "latency"),
    PhaseSpec("group-consume-6p", "consume, group of 3 Python Consumers, 6 partitions", "group-consume"),
    PhaseSpec("group-rebalance", "rebalance of a group of 3 on 6 partitions", "rebalance"),
]
PHASE_GROUPS = {"produce", "consume-python", "consume-kcat", "latency", "groups"}


@dataclass
class SuiteOptions:
    records: int
    scratch: Path
    groups: set[str]
    kcat_library: str = "auto"  # "system", "wheel" or "auto" (system; wheel if the system one fails)
    latency_rate: int = 1000
    latency_seconds: float = 5.0
    phase_timeout: float = 300.0


@dataclass
class BrokerRun:
    broker: Broker
    results: dict[str, PhaseResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _group_of(spec: PhaseSpec) -> str:
    if spec.kind in ("group-consume", "rebalance"):
        return "groups"
    return spec.id.rsplit("-", 1)[0] if spec.kind == "consume" else spec.kind


def run_suite(broker: Broker, opts: SuiteOptions) -> BrokerRun:
    run = BrokerRun(broker, notes=list(broker.notes))
    meter = CpuMeter(broker.pid)
    tag = uuid.uuid4().hex[:6]
    topics = {"1p": f"bench-{tag}-1p-acks1", "6p": f"bench-{tag}-6p-acks1"}
    kcat = _pick_kcat(opts)

    def step(spec: PhaseSpec, body: Callable[[], PhaseResult]) -> None:
        if _group_of(spec) not in opts.groups:
            return
        log.info("%s: %s", broker.name, spec.label)
        try:
            result = body()
        except Exception as exc:  # noqa: BLE001 - one failing phase must not hide the others
            result = PhaseResult(error=f"{type(exc).__name__}: {exc}")
        if result.error:
            log.warning("%s: %s failed: %s", broker.name, spec.label, result.error)
        run.results[spec.id] = result

    def produce_phase(partitions: int, acks: str) -> Callable[[], PhaseResult]:
        def body() -> PhaseResult:
            name = f"bench-{tag}-{partitions}p-acks{acks}"
            note = create_topic(broker.bootstrap, name, partitions)
            if note:
                run.notes.append(note)
            result = produce(broker.bootstrap, name, acks, opts.records, meter, opts.phase_timeout)
            latest = result.extra.get("list_offsets_latest")
            if latest is not None and latest != opts.records:
                run.notes.append(f"{name}: ListOffsets(latest) summed to {latest} after {opts.records} acknowledged records")
            return result
        return body

    for spec, partitions, acks in [(PHASES[0], 1, "1"), (PHASES[1], 1, "all"), (PHASES[2], 6, "1"), (PHASES[3], 6, "all")]:
        step(spec, produce_phase(partitions, acks))

    if "produce" not in opts.groups and opts.groups & {"consume-python", "consume-kcat", "groups"}:
        for key, partitions in (("1p", 1), ("6p", 6)):  # consumers still need something to read
            create_topic(broker.bootstrap, topics[key], partitions)
            produce(broker.bootstrap, topics[key], "1", opts.records, CpuMeter(None), opts.phase_timeout)

    step(PHASES[4], lambda: consume_python(broker.bootstrap, topics["1p"], opts.records, meter, opts.phase_timeout))
    step(PHASES[5], lambda: consume_python(broker.bootstrap, topics["6p"], opts.records, meter, opts.phase_timeout))

    def kcat_phase(key: str) -> Callable[[], PhaseResult]:
        def body() -> PhaseResult:
            nonlocal kcat
            result = consume_kcat(kcat, broker.bootstrap, topics[key], opts.records, meter, opts.phase_timeout)
            if result.error and opts.kcat_library == "auto" and kcat.library_dir is None:
                wheel = wheel_librdkafka_dir(opts.scratch / "librdkafka")
                if wheel is not None:
                    system_version = kcat.librdkafka_version()
                    kcat = Kcat(library_dir=wheel)
                    first_error = result.extra.get("stderr", "").strip().splitlines()[-1:] or [result.error]
                    run.notes.append(f"kcat with the system librdkafka {system_version} failed ({first_error[0]}); "
                                     f"kcat figures use confluent-kafka's librdkafka {kcat.librdkafka_version()} instead")
                    result = consume_kcat(kcat, broker.bootstrap, topics[key], opts.records, meter, opts.phase_timeout)
            result.extra["librdkafka"] = kcat.librdkafka_version()
            return result
        return body

    step(PHASES[6], kcat_phase("1p"))
    step(PHASES[7], kcat_phase("6p"))

    def latency_phase() -> PhaseResult:
        name = f"bench-{tag}-latency"
        note = create_topic(broker.bootstrap, name, 1)
        if note:
            run.notes.append(note)
        return latency(broker.bootstrap, name, meter, opts.latency_rate, opts.latency_seconds)

    step(PHASES[8], latency_phase)

    step(PHASES[9], lambda: consume_group(broker.bootstrap, topics["6p"], opts.records, meter, opts.phase_timeout))

    def rebalance_phase() -> PhaseResult:
        name = f"bench-{tag}-rebalance"
        note = create_topic(broker.bootstrap, name, 6)
        if note:
            run.notes.append(note)
        return rebalance_on_leave(broker.bootstrap, name, meter)

    step(PHASES[10], rebalance_phase)
    return run


def _pick_kcat(opts: SuiteOptions) -> Kcat:
    if opts.kcat_library == "wheel":
        wheel = wheel_librdkafka_dir(opts.scratch / "librdkafka")
        if wheel is None:
            raise RuntimeError("confluent-kafka's bundled librdkafka not found")
        return Kcat(library_dir=wheel)
    return Kcat()

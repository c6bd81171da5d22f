"""python -m benchmarks.replicated: what replication costs, on a local 3-broker cluster.

Starts a ZooKeeper and three snakafka brokers (snakafka.testing.LocalCluster, the code of
this checkout) and measures, in one run:

1. throughput: the produce phase of the main benchmark (benchmarks/phases.py: 100-byte
   keyless values, each to a random partition of 6, linger.ms=5) to topics of replication
   factor 1 and 3 (min.insync.replicas=2) with acks=1 and acks=all; records/s and broker
   CPU seconds per GB of payload, summed over the three broker processes;
2. acks=all end-to-end latency at replication factor 3, single-record requests
   (linger.ms=0) at 200 and 1,000 a second, p50 / p99 (produce to consume);
3. one acks=all record's round trip (produce, then flush, one at a time), p50 / p99, at
   replication factor 3 and 1;
4. rejoin: a broker is stopped, --rejoin-bytes are written to a replication-factor-3
   topic, the broker is started again: seconds until it is back in every ISR;
5. the single-broker phases of `python -m benchmarks.run` (produce, consume, latency), so
   a regression of the single-broker path shows in the same run.

Prints tables; asserts nothing. The machine's other load moves every figure.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from benchmarks.brokers import start_snakafka
from benchmarks.measure import CpuMeter, percentile, stamped_payload
from benchmarks.phases import PhaseResult, latency, produce
from benchmarks.report import render as render_single
from benchmarks.report import settings_lines
from benchmarks.suite import SuiteOptions, run_suite
from snakafka.testing.cluster import LocalCluster

log = logging.getLogger("benchmarks.replicated")

# (replication factor, acks, producer settings: "bench" = the main benchmark's, "defaults" = librdkafka's)
CASES = [(1, "1", "bench"), (1, "all", "bench"), (3, "1", "bench"), (3, "all", "bench"),
         (1, "1", "defaults"), (3, "all", "defaults")]
PARTITIONS = 6
LATENCY_RATES = (200, 1000)
REJOIN_VALUE = 10_000  # bytes per record of the rejoin backlog (fewer, larger records: the bytes are the point)


def create_topic(bootstrap: str, name: str, replication: int, partitions: int = PARTITIONS,
                 timeout: float = 30.0) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    config = {"min.insync.replicas": "2"} if replication > 1 else {}
    admin.create_topics([NewTopic(name, partitions, replication, config=config)])[name].result(timeout)
    wait_full_isr(admin, name, partitions, replication, timeout)


def wait_full_isr(admin: AdminClient, name: str, partitions: int, replication: int, timeout: float) -> float:
    """Seconds until every partition has a leader and `replication` replicas in its ISR."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        parts = admin.list_topics(name, timeout=5).topics[name].partitions
        if len(parts) == partitions and all(p.leader >= 0 and len(p.isrs) == replication for p in parts.values()):
            return time.monotonic() - start
        time.sleep(0.05)
    raise RuntimeError(f"topic {name}: partitions did not get leaders and a full ISR in {timeout}s")


def round_trips(bootstrap: str, topic: str, count: int = 300) -> dict[str, float]:
    """One acks=all record at a time: produce, flush; p50 / p99 milliseconds."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0, "enable.idempotence": False})
    producer.list_topics(topic, timeout=10)
    for _ in range(20):  # warm up: connections, leaders
        producer.produce(topic, b"x" * 100, partition=0)
        producer.flush(10)
    times: list[float] = []
    for _ in range(count):
        start = time.perf_counter()
        producer.produce(topic, stamped_payload(time.time_ns()), partition=0)
        if producer.flush(10):
            raise RuntimeError("an acks=all record was not acknowledged within 10 s")
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99)}


def rejoin(cluster: LocalCluster, total_bytes: int, timeout: float = 1800.0) -> dict[str, float]:
    """Stop broker 2, write `total_bytes` to a replication-factor-3 topic (acks=all: two
    copies), start broker 2 again; seconds until it is in every partition's ISR."""
    name = "bench-rejoin"
    create_topic(cluster.bootstrap, name, 3)
    cluster.processes[2].stop()
    live = ",".join(p.bootstrap for p in cluster.processes[:2])
    admin = AdminClient({"bootstrap.servers": live})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the controller drops broker 2 from the ISRs first
        parts = admin.list_topics(name, timeout=5).topics[name].partitions
        if all(2 not in p.isrs for p in parts.values()):
            break
        time.sleep(0.1)
    producer = Producer({"bootstrap.servers": live, "acks": "all", "linger.ms": 5, "batch.size": 1_000_000,
                         "queue.buffering.max.kbytes": 256 * 1024, "enable.idempotence": False})
    value = b"r" * REJOIN_VALUE
    records = max(total_bytes // REJOIN_VALUE, 1)
    write_start = time.monotonic()
    for i in range(records):
        while True:
            try:
                producer.produce(name, value)
                break
            except BufferError:
                producer.poll(0.01)
        if i & 255 == 0:
            producer.poll(0)
    if producer.flush(600):
        raise RuntimeError("the rejoin backlog was not acknowledged within 600 s")
    written = time.monotonic() - write_start
    start = time.monotonic()
    cluster.start_broker(2)
    back = wait_full_isr(AdminClient({"bootstrap.servers": cluster.bootstrap}), name, PARTITIONS, 3, timeout)
    return {"bytes": float(records * REJOIN_VALUE), "write_s": written, "rejoin_s": time.monotonic() - start,
            "isr_wait_s": back}


PARTS = ("throughput", "latency", "round-trip", "rejoin", "single")


def run_cluster(records: int, rejoin_bytes: int, latency_seconds: float, scratch: Path,
                parts: frozenset[str] = frozenset(PARTS)) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with LocalCluster(scratch / "cluster", brokers=3) as cluster:
        meter = CpuMeter(*(p.pid for p in cluster.processes))
        create_topic(cluster.bootstrap, "bench-warm-up", 3)  # first connections, code paths: not measured
        produce(cluster.bootstrap, "bench-warm-up", "all", min(records, 100_000), CpuMeter(None))
        throughput: list[tuple[int, str, str, PhaseResult]] = []
        for replication, acks, settings in (CASES if "throughput" in parts else []):
            topic = f"bench-rf{replication}-acks{acks}-{settings}"
            create_topic(cluster.bootstrap, topic, replication)
            log.info("produce %d records, replication factor %d, acks=%s, %s producer settings", records, replication,
                     acks, settings)
            result = produce(cluster.bootstrap, topic, acks, records, meter, settings={} if settings == "defaults" else None)
            throughput.append((replication, acks, settings, result))
        out["throughput"] = throughput
        lat: list[tuple[int, PhaseResult]] = []
        for rate in (LATENCY_RATES if "latency" in parts else ()):
            topic = f"bench-latency-{rate}"
            create_topic(cluster.bootstrap, topic, 3, partitions=1)
            log.info("acks=all end-to-end latency at %d records/s, replication factor 3", rate)
            lat.append((rate, latency(cluster.bootstrap, topic, meter, rate, latency_seconds, acks="all")))
        out["latency"] = lat
        trips: dict[int, dict[str, float] | str] = {}
        for replication in ((3, 1) if "round-trip" in parts else ()):
            topic = f"bench-roundtrip-rf{replication}"
            create_topic(cluster.bootstrap, topic, replication, partitions=1)
            log.info("one acks=all record at a time, replication factor %d", replication)
            try:
                trips[replication] = round_trips(cluster.bootstrap, topic)
            except Exception as exc:  # noqa: BLE001 - reported in the table
                trips[replication] = f"failed: {exc}"
        out["round_trips"] = trips
        if rejoin_bytes > 0 and "rejoin" in parts:
            log.info("rejoin after %d bytes written while a broker was down", rejoin_bytes)
            try:
                out["rejoin"] = rejoin(cluster, rejoin_bytes)
            except Exception as exc:  # noqa: BLE001 - reported in the table
                out["rejoin"] = f"failed: {exc}"
    return out


def _gb(records: int) -> float:
    return records * 100 / 1e9


def render(results: dict[str, Any], records: int, latency_seconds: float) -> str:
    throughput: list[tuple[int, str, str, PhaseResult]] = results["throughput"]
    lines = [(f"3 brokers + ZooKeeper on this machine, {records:,} records of 100 B, {PARTITIONS} partitions; "
             "producer: the main benchmark's settings (bench: linger.ms=5, a random partition per record) or "
             "librdkafka's defaults; ratios against RF 1 acks=1 with the same settings"),
             "",
             ("| replication factor | acks | producer | records/s | vs RF 1 acks=1 | MB/s | broker CPU s (3 brokers) "
             "| CPU s/GB |"),
             "|---:|---|---|---:|---:|---:|---:|---:|"]
    for replication, acks, settings, r in throughput:
        base = next((b for rf, a, s, b in throughput if rf == 1 and a == "1" and s == settings), None)
        if r.error:
            lines.append(f"| {replication} | {acks} | {settings} | failed: {r.error} | | | | |")
            continue
        base_rate = base.records_per_s if base is not None else None
        base_cpu = base.cpu_per_gb if base is not None else None
        rate = r.records_per_s or 0
        ratio = f"{rate / base_rate:.2f}x" if base_rate else "-"
        cpu = "-" if r.cpu is None else f"{r.cpu:.1f}"
        per_gb = "-" if r.cpu_per_gb is None else f"{r.cpu_per_gb:.1f}"
        if r.cpu_per_gb is not None and base_cpu:
            per_gb += f" ({r.cpu_per_gb / base_cpu:.1f}x)"
        lines.append(f"| {replication} | {acks} | {settings} | {rate:,.0f} | {ratio} | {r.mb_per_s or 0:.1f} | {cpu} "
                     f"| {per_gb} |")
    lines += ["", (f"acks=all end-to-end latency, replication factor 3, single-record requests (linger.ms=0), "
                   f"{latency_seconds:g} s each:"), "",
              "| requests/s | p50 ms | p99 ms | max ms |", "|---:|---:|---:|---:|"]
    for rate, r in results["latency"]:
        if r.error:
            lines.append(f"| {rate} | failed: {r.error} | | |")
            continue
        x = r.extra
        lines.append(f"| {rate} | {x['p50_ms']:.2f} | {x['p99_ms']:.2f} | {x['max_ms']:.2f} |")
    lines += ["", "one acks=all record at a time (produce, flush), 300 records:", "",
              "| replication factor | p50 ms | p99 ms |", "|---:|---:|---:|"]
    for replication, trip in results["round_trips"].items():
        if isinstance(trip, str):
            lines.append(f"| {replication} | {trip} | |")
        else:
            lines.append(f"| {replication} | {trip['p50_ms']:.2f} | {trip['p99_ms']:.2f} |")
    rejoined = results.get("rejoin")
    if rejoined is not None:
        lines.append("")
        if isinstance(rejoined, str):
            lines.append(f"rejoin: {rejoined}")
        else:
            lines.append(f"rejoin: {rejoined['bytes'] / 1e9:.2f} GB written in {rejoined['write_s']:.1f} s while "
                         f"broker 2 was down; back in every ISR {rejoined['rejoin_s']:.1f} s after its restart "
                         f"began ({rejoined['isr_wait_s']:.1f} s after it registered)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replicated", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=300_000, help="records per throughput case (default 300000)")
    parser.add_argument("--rejoin-bytes", type=int, default=1_000_000_000,
                        help="bytes written while a broker is down (default 1 GB; 0 skips the rejoin case)")
    parser.add_argument("--latency-seconds", type=float, default=5.0, help="length of each latency case")
    parser.add_argument("--no-single", action="store_true", help="skip the single-broker phases of benchmarks.run")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated parts to run (default all: {','.join(PARTS)})")
    args = parser.parse_args(argv)
    parts = frozenset(p.strip() for p in args.parts.split(",") if p.strip())
    if unknown := parts - set(PARTS):
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    failed = False
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="snakafka-bench-cluster-") as scratch:
        results = run_cluster(args.records, args.rejoin_bytes, args.latency_seconds, Path(scratch), parts)
        load_after = os.getloadavg()
        sys.stdout.write(render(results, args.records, args.latency_seconds) + "\n")
        sys.stdout.write(f"\nmachine load average (1 min) at the start / end of the cluster cases: "
                         f"{load_before[0]:.1f} / {load_after[0]:.1f} on {os.cpu_count()} cores (a shared machine)\n")
        sys.stdout.flush()
        failed = any(r.error for _, _, _, r in results["throughput"])
        if not args.no_single and "single" in parts:
            opts = SuiteOptions(records=args.records, scratch=Path(scratch) / "single",
                                groups={"produce", "consume-python", "consume-kcat", "latency"})
            broker = start_snakafka(Path(scratch) / "single")
            try:
                run = run_suite(broker, opts)
            finally:
                broker.stop()
            settings = settings_lines(args.records, "system librdkafka", opts.latency_rate, opts.latency_seconds)
            sys.stdout.write("\nsingle broker (the phases of python -m benchmarks.run):\n")
            sys.stdout.write(render_single([run], settings, {}) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

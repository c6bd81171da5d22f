"""python -m benchmarks.replicated: what replication costs, on a local 3-broker cluster.

Starts a ZooKeeper and three snakafka brokers (snakafka.testing.LocalCluster, the code of
this checkout), then produces the same records to 6-partition topics of replication factor
1 and 3 (min.insync.replicas=2) with acks=1 and acks=all, using the produce phase of the
main benchmark (benchmarks/phases.py). The broker CPU figure is the sum over the three
broker processes. With replication factor 3 every record is written three times on the
same 2 cores (the leader's append plus two followers' fetch-and-append), and acks=all waits
for the followers' next fetch to move the high watermark. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

from benchmarks.measure import CpuMeter
from benchmarks.phases import PhaseResult, produce
from snakafka.testing.cluster import LocalCluster

log = logging.getLogger("benchmarks.replicated")

CASES = [(1, "1"), (1, "all"), (3, "1"), (3, "all")]
PARTITIONS = 6


def create_topic(bootstrap: str, name: str, replication: int, timeout: float = 30.0) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    config = {"min.insync.replicas": "2"} if replication > 1 else {}
    admin.create_topics([NewTopic(name, PARTITIONS, replication, config=config)])[name].result(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # every partition led, with its whole ISR
        parts = admin.list_topics(name, timeout=5).topics[name].partitions
        if len(parts) == PARTITIONS and all(p.leader >= 0 and len(p.isrs) == replication for p in parts.values()):
            return
        time.sleep(0.1)
    raise RuntimeError(f"topic {name}: partitions did not get leaders and a full ISR in {timeout}s")


def run(records: int, scratch: Path) -> list[tuple[int, str, PhaseResult]]:
    results: list[tuple[int, str, PhaseResult]] = []
    with LocalCluster(scratch / "cluster", brokers=3) as cluster:
        meter = CpuMeter(*(p.pid for p in cluster.processes))
        for replication, acks in CASES:
            topic = f"bench-rf{replication}-acks{acks}"
            create_topic(cluster.bootstrap, topic, replication)
            log.info("produce %d records, replication factor %d, acks=%s", records, replication, acks)
            results.append((replication, acks, produce(cluster.bootstrap, topic, acks, records, meter)))
    return results


def render(results: list[tuple[int, str, PhaseResult]], records: int) -> str:
    lines = [f"3 brokers + ZooKeeper on this machine, {records:,} records of 100 B, {PARTITIONS} partitions",
             "",
             "| replication factor | acks | records/s | MB/s | broker CPU s (3 brokers) |",
             "|---:|---|---:|---:|---:|"]
    for replication, acks, r in results:
        if r.error:
            lines.append(f"| {replication} | {acks} | failed: {r.error} | | |")
            continue
        cpu = "-" if r.cpu is None else f"{r.cpu:.1f}"
        lines.append(f"| {replication} | {acks} | {r.records_per_s or 0:,.0f} | {r.mb_per_s or 0:.1f} | {cpu} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replicated", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=300_000, help="records per case (default 300000)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="snakafka-bench-cluster-") as scratch:
        results = run(args.records, Path(scratch))
    sys.stdout.write(render(results, args.records) + "\n")
    return 1 if any(r.error for _, _, r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

"""python -m benchmarks.security: what TLS and SASL cost, as ratios to PLAINTEXT.

One snakafka broker process (uvloop, as `snakafka serve`) with three listeners: PLAINTEXT,
SSL (TLS 1.3, EC P-256 certificate) and SASL_SSL (SCRAM-SHA-512, the user made through the
Admin API). For each listener in turn, in rounds (the order rotating each round, so a
drift of the shared machine's speed spreads over all three), confluent-kafka produces
RECORDS records of 100 B (acks=1, the main benchmark's producer settings) to a fresh
6-partition topic and then reads them back from offset 0. Prints the median records/s of
each, the broker's CPU seconds per GB, and the ratios to PLAINTEXT. Asserts nothing.

TLS costs the broker twice: the encryption itself (OpenSSL, fast) and losing sendfile,
since fetched segment bytes must pass through Python to be encrypted.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    NewTopic,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from benchmarks.measure import CpuMeter, Span, cpu_per_gb, payload
from benchmarks.phases import CONSUME_BATCH, CONSUMER_SETTINGS, PRODUCER_SETTINGS
from snakafka.testing.certs import CertificateAuthority
from snakafka.testing.process import BrokerProcess, free_port

log = logging.getLogger("benchmarks.security")

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_SSL")
PARTITIONS = 6
USER, PASSWORD = "bench", "bench-secret"


def start_broker(scratch: Path) -> tuple[BrokerProcess, dict[str, dict[str, Any]]]:
    files = CertificateAuthority.create().issue("broker").write(scratch / "certs", "broker")
    ports = {name: free_port() for name in PROTOCOLS}
    overrides = {
        "listeners": ",".join(f"{name}://127.0.0.1:{port}" for name, port in ports.items()),
        "ssl.keystore.type": "PEM", "ssl.keystore.location": str(files.pem),
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "num.partitions": str(PARTITIONS),
    }
    proc = BrokerProcess(scratch / "data", port=ports["PLAINTEXT"], overrides=overrides, log_file=scratch / "broker.log")
    proc.start(60)
    admin = AdminClient({"bootstrap.servers": proc.bootstrap})
    admin.alter_user_scram_credentials([UserScramCredentialUpsertion(
        USER, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), PASSWORD.encode())])[USER].result(30)
    confs: dict[str, dict[str, Any]] = {}
    for name, port in ports.items():
        conf: dict[str, Any] = {"bootstrap.servers": f"127.0.0.1:{port}", "security.protocol": name}
        if name != "PLAINTEXT":
            conf["ssl.ca.location"] = str(files.ca)
        if name == "SASL_SSL":
            conf.update({"sasl.mechanism": "SCRAM-SHA-512", "sasl.username": USER, "sasl.password": PASSWORD})
        confs[name] = conf
    return proc, confs


def create_topic(conf: dict[str, Any], name: str) -> None:
    admin = AdminClient(conf)
    admin.create_topics([NewTopic(name, PARTITIONS, 1)])[name].result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        parts = admin.list_topics(name, timeout=5).topics[name].partitions
        if len(parts) == PARTITIONS and all(p.leader >= 0 for p in parts.values()):
            return
        time.sleep(0.1)
    raise RuntimeError(f"topic {name} got no leaders")


def produce(conf: dict[str, Any], topic: str, records: int, meter: CpuMeter) -> tuple[float, float | None]:
    producer = Producer({**conf, "acks": "1", **PRODUCER_SETTINGS})
    producer.list_topics(topic, timeout=10)
    values = [payload(i) for i in range(1024)]
    with Span(meter) as span:
        for i in range(records):
            while True:
                try:
                    producer.produce(topic, values[i & 1023])
                    break
                except BufferError:
                    producer.poll(0.005)
            producer.poll(0)
        if producer.flush(120):
            raise RuntimeError(f"produce over {conf['security.protocol']}: records left unacknowledged")
    return records / span.wall, span.cpu


def consume(conf: dict[str, Any], topic: str, records: int, meter: CpuMeter) -> tuple[float, float | None]:
    consumer = Consumer({**conf, "group.id": f"bench-{uuid.uuid4().hex[:8]}", **CONSUMER_SETTINGS})
    consumer.list_topics(topic, timeout=10)
    count = 0
    deadline = time.monotonic() + 120
    try:
        with Span(meter) as span:
            consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
            while count < records and time.monotonic() < deadline:
                count += sum(1 for m in consumer.consume(min(CONSUME_BATCH, records - count), timeout=1.0) if m.error() is None)
    finally:
        consumer.close()
    if count < records:
        raise RuntimeError(f"consume over {conf['security.protocol']}: read {count}/{records}")
    return records / span.wall, span.cpu


def run(records: int, rounds: int, scratch: Path) -> dict[str, dict[str, list[float]]]:
    """protocol -> figure name -> one value per round."""
    figures: dict[str, dict[str, list[float]]] = {p: {} for p in PROTOCOLS}
    proc, confs = start_broker(scratch)
    try:
        meter = CpuMeter(proc.pid)
        for r in range(rounds):
            order = PROTOCOLS[r % 3:] + PROTOCOLS[:r % 3]
            for protocol in order:
                topic = f"bench-{protocol.lower()}-{r}"
                create_topic(confs[protocol], topic)
                log.info("round %d: %s, %d records", r + 1, protocol, records)
                for phase, fn in (("produce", produce), ("consume", consume)):
                    rate, cpu = fn(confs[protocol], topic, records, meter)
                    figures[protocol].setdefault(f"{phase} records/s", []).append(rate)
                    if cpu is not None:
                        figures[protocol].setdefault(f"{phase} broker CPU s/GB", []).append(cpu_per_gb(cpu, records) or 0.0)
    finally:
        proc.stop()
    return figures


def render(figures: dict[str, dict[str, list[float]]], records: int, rounds: int) -> str:
    names = list(figures["PLAINTEXT"])
    lines = [f"one broker, {records:,} records of 100 B per phase, {PARTITIONS} partitions, median of {rounds} rounds",
             "", "| figure | PLAINTEXT | SSL | SASL_SSL | SSL / PLAINTEXT | SASL_SSL / PLAINTEXT |",
             "|---|---:|---:|---:|---:|---:|"]
    for name in names:
        med = {p: statistics.median(figures[p][name]) for p in PROTOCOLS if figures[p].get(name)}
        base = med.get("PLAINTEXT")
        cells = ["-" if p not in med else (f"{med[p]:,.0f}" if med[p] >= 100 else f"{med[p]:.2f}") for p in PROTOCOLS]
        ratios = [f"{med[p] / base:.2f}x" if base and p in med else "-" for p in ("SSL", "SASL_SSL")]
        lines.append(f"| {name} | {' | '.join(cells)} | {' | '.join(ratios)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.security", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=300_000, help="records per phase (default 300000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the three listeners (default 3)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="snakafka-bench-security-") as scratch:
        figures = run(args.records, args.rounds, Path(scratch))
    sys.stdout.write(render(figures, args.records, args.rounds) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

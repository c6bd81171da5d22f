"""python -m benchmarks.run: measure snakafka (and optionally peers) with confluent-kafka and kcat.

Progress goes to stderr through logging; the report table goes to stdout.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.brokers import LAUNCHERS, Broker, BrokerUnavailable, external
from benchmarks.embedded_start import EmbeddedStart, measure_embedded_start
from benchmarks.phases import Kcat, wheel_librdkafka_dir
from benchmarks.report import render, settings_lines, to_json
from benchmarks.suite import PHASE_GROUPS, BrokerRun, SuiteOptions, run_suite

log = logging.getLogger("benchmarks")
PEERS = ["tansu", "noida-db"]
NOIDA_BACKLOG_LIMIT = 300_000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=300_000, help="records per phase (default 300000)")
    parser.add_argument("--peers", action="store_true", help="also start and measure Tansu and noida-db")
    parser.add_argument("--bootstrap", help="also measure an already-running Kafka-compatible broker at host:port")
    parser.add_argument("--broker-pid", type=int, help="PID of the --bootstrap broker (for its CPU figures)")
    parser.add_argument("--name", default="external", help="label of the --bootstrap broker in the table")
    parser.add_argument("--no-snakafka", action="store_true", help="do not start snakafka (measure only the others)")
    parser.add_argument("--phases", default=",".join(sorted(PHASE_GROUPS)),
                        help=f"comma-separated subset of {sorted(PHASE_GROUPS)} (default: all)")
    parser.add_argument("--kcat-librdkafka", choices=["auto", "system", "wheel"], default="auto",
                        help="librdkafka for kcat: the system one, confluent-kafka's bundled one, or auto "
                             "(system, falling back to the bundled one for a broker the system one cannot talk to)")
    parser.add_argument("--latency-rate", type=int, default=1000, help="records/s in the latency phase")
    parser.add_argument("--latency-seconds", type=float, default=5.0, help="length of the latency phase")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="also write all results as JSON")
    parser.add_argument("--keep-data", action="store_true", help="keep the scratch directory (broker logs, data)")
    parser.add_argument("--embedded-starts", type=int, default=5, metavar="N",
                        help="fresh processes timing EmbeddedBroker's start-to-ready (default 5; 0: skip)")
    args = parser.parse_args(argv)
    groups = {g.strip() for g in args.phases.split(",") if g.strip()}
    if not groups <= PHASE_GROUPS:
        parser.error(f"unknown phase(s): {sorted(groups - PHASE_GROUPS)}")
    args.groups = groups
    if args.broker_pid is not None and not args.bootstrap:
        parser.error("--broker-pid needs --bootstrap")
    if args.records <= 0:
        parser.error("--records must be positive")
    return args


def kcat_note(args: argparse.Namespace, scratch: Path) -> str:
    if shutil.which("kcat") is None:
        return "kcat NOT FOUND on PATH (kcat phases will fail)"
    system = Kcat().librdkafka_version()
    if args.kcat_librdkafka == "system":
        return f"librdkafka {system} (system)"
    wheel_dir = wheel_librdkafka_dir(scratch / "librdkafka")
    wheel = Kcat(library_dir=wheel_dir).librdkafka_version() if wheel_dir else "?"
    if args.kcat_librdkafka == "wheel":
        return f"librdkafka {wheel} (confluent-kafka's, via LD_LIBRARY_PATH)"
    return f"librdkafka {system} (system), or confluent-kafka's {wheel} where noted"


def measure(name: str, start: Callable[[], Broker], opts: SuiteOptions) -> BrokerRun:
    broker: Broker = start()
    log.info("%s serving at %s (pid %s)", name, broker.bootstrap, broker.pid)
    try:
        return run_suite(broker, opts)
    finally:
        broker.stop()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    args = parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="snakafka-bench-"))
    opts = SuiteOptions(records=args.records, scratch=scratch, groups=args.groups, kcat_library=args.kcat_librdkafka,
                        latency_rate=args.latency_rate, latency_seconds=args.latency_seconds)
    names = ([] if args.no_snakafka else ["snakafka"]) + (PEERS if args.peers else [])
    runs: list[BrokerRun] = []
    unavailable: dict[str, str] = {}
    try:
        settings = settings_lines(args.records, kcat_note(args, scratch), args.latency_rate, args.latency_seconds)
        for name in names:
            if name == "noida-db" and args.records > NOIDA_BACKLOG_LIMIT:
                log.warning("noida-db ignores Fetch max_bytes: with more than %d records per topic librdkafka may "
                            "reject its fetch answers", NOIDA_BACKLOG_LIMIT)
            try:
                runs.append(measure(name, functools.partial(LAUNCHERS[name], scratch), opts))
            except BrokerUnavailable as exc:
                log.error("%s", exc)
                unavailable[name] = str(exc).splitlines()[0]
        if args.bootstrap:
            try:
                runs.append(run_suite(external(args.name, args.bootstrap, args.broker_pid), opts))
            except BrokerUnavailable as exc:
                unavailable[args.name] = str(exc).splitlines()[0]
        embedded: EmbeddedStart | None = None
        if not args.no_snakafka and args.embedded_starts > 0:
            log.info("snakafka: EmbeddedBroker start-to-ready, %d fresh processes", args.embedded_starts)
            embedded = measure_embedded_start(args.embedded_starts)
        print(render(runs, settings, unavailable))
        if embedded is not None:
            print(embedded.line())
        if args.json:
            results = to_json(runs, settings, unavailable)
            if embedded is not None:
                results["embedded_start"] = embedded.to_json()
            args.json.write_text(json.dumps(results, indent=2))
            log.info("results written to %s", args.json)
    finally:
        if args.keep_data:
            log.info("scratch kept in %s", scratch)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0 if runs and not unavailable else 1


if __name__ == "__main__":
    sys.exit(main())

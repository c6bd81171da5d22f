"""python -m benchmarks.chaos --cycles N | --minutes T: a soak of random faults.

Starts a ZooKeeper and three snakafka brokers whose every inter-broker link and ZooKeeper
session runs through a black-holing proxy (snakafka.testing.network), creates a topic of
replication factor 3 with min.insync.replicas=2, and runs an idempotent acks=all producer
against it while a random schedule of faults plays, one per cycle: the leader cut off from
its followers and ZooKeeper, or from ZooKeeper only, the controller cut off from ZooKeeper
(a zombie), the leader paused past its session timeout, a follower restarted and the
leader killed as it returns (KIP-101), three quick leader changes (KIP-279), the ISR
shrunk to the leader and the leader killed, kill -9 of a leader, kill -9 of the
controller (snakafka.testing.faults). At the end it heals everything, reads every
partition back and checks every invariant (snakafka.testing.invariants) over the
acknowledged records, the records read back and the three replicas' segment files.

Prints cycles, acknowledged records, lost / duplicated / diverged counts (and the other
checks), the records the client itself re-sent under a new producer epoch (reported apart:
see snakafka.testing.invariants), and failover times: from each kill -9 of a leader to the first acknowledgement of a
record sent after the kill on its partition (median, p99, max), apart for the kills that
left fewer than min.insync.replicas in-sync replicas alive (acks=all then waits for a
replica to return: that wait is reported, but it is not a failover). Asserts nothing; the exit status is 1 if any
invariant was violated.
"""

from __future__ import annotations

import argparse
import collections
import logging
import random
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

from snakafka.testing.faults import (
    FAULT_OVERRIDES,
    FaultRunner,
    FaultTimeout,
    failover_summary,
    random_fault,
)
from snakafka.testing.network import PartitionableCluster
from snakafka.testing.zookeeper import ZooKeeperServer

log = logging.getLogger("benchmarks.chaos")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__.split("\n\n")[0])
    amount = parser.add_mutually_exclusive_group(required=True)
    amount.add_argument("--cycles", type=int, help="number of faults to play")
    amount.add_argument("--minutes", type=float, help="play faults for this long")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a random one, printed)")
    parser.add_argument("--session-timeout-ms", type=int, default=2000, help="zookeeper.session.timeout.ms")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--lag-time-ms", type=int, default=3000, help="replica.lag.time.max.ms")
    parser.add_argument("--keep-data", action="store_true", help="keep the scratch dir (logs and data)")
    args = parser.parse_args(argv)
    # Stop cleanly (every broker and ZooKeeper stopped by PID) on Ctrl-C and on SIGTERM, also
    # when started in the background, where a shell makes SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    for noisy in ("kazoo", "snakafka.testing.proxy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    scratch = Path(tempfile.mkdtemp(prefix="snakafka-chaos-"))
    print(f"seed {seed}, scratch dir {scratch}", flush=True)
    overrides = {**FAULT_OVERRIDES, "zookeeper.session.timeout.ms": str(args.session_timeout_ms),
                 "replica.lag.time.max.ms": str(args.lag_time_ms)}
    zookeeper = ZooKeeperServer(scratch / "zookeeper")
    zookeeper.start(timeout=60)
    net = PartitionableCluster.on(zookeeper.connect, scratch / "cluster", f"/chaos-{uuid.uuid4().hex[:8]}",
                                  overrides=overrides)
    started = time.monotonic()
    kinds: collections.Counter[str] = collections.Counter()
    errors = 0
    try:
        net.start()
        # Stale clients (writes straight to an isolated leader) are left to the tests: each
        # costs a client timeout when the broker is right.
        runner = FaultRunner(net, partitions=args.partitions, session_timeout_s=args.session_timeout_ms / 1000,
                             stale_clients=False).start()
        deadline = started + args.minutes * 60 if args.minutes is not None else None
        cycle = 0
        interrupted = False
        while (args.cycles is None or cycle < args.cycles) and (deadline is None or time.monotonic() < deadline):
            cycle += 1
            try:
                kinds[random_fault(runner, rng)] += 1
            except KeyboardInterrupt:  # stop early, but still check and report what was done
                interrupted = True
                cycle -= 1
                log.warning("interrupted: checking what the %d cycles so far did", cycle)
                break
            except (FaultTimeout, TimeoutError, RuntimeError) as exc:
                errors += 1
                log.warning("cycle %d: %s", cycle, exc)
                net.heal()
                for broker, process in enumerate(net.local.processes):
                    if process.proc is None or process.proc.poll() is not None:
                        try:
                            runner.restart(broker)
                        except (FaultTimeout, TimeoutError, RuntimeError) as again:
                            log.warning("cycle %d: restart of broker %d: %s", cycle, broker, again)
            if cycle % 10 == 0:
                assert runner.producer is not None
                print(f"cycle {cycle}: {len(runner.producer.acked):,} acknowledged, {len(runner.failovers)} "
                      f"failovers, {time.monotonic() - started:.0f} s", flush=True)
        report = runner.verify()
        assert runner.producer is not None
        elapsed = time.monotonic() - started
        counts = report.counts()
        print()
        print(f"cycles: {cycle} in {elapsed / 60:.1f} min (seed {seed}, zookeeper.session.timeout.ms="
              f"{args.session_timeout_ms}){' (interrupted)' if interrupted else ''}")
        print("faults: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
        print(f"acknowledged records: {report.acked:,} (sent {runner.producer.sent:,}, failed deliveries "
              f"{len(runner.producer.errors)}, fatal producer errors {len(runner.producer.fatal)})")
        print(f"acknowledged without an offset (checked: read back once, anywhere in their partition): "
              f"{len(runner.producer.without_offset)}")
        print(f"read back: {report.read:,}")
        print(f"lost {counts['lost']}, duplicated {counts['duplicated']}, diverged {counts['diverged']}, "
              f"reordered {counts['reordered']}, split brain {counts['split_brain']}, unreadable {counts['unreadable']}")
        print(f"re-sent by the client under a new producer epoch (not the broker's to deduplicate, "
              f"confluentinc/librdkafka#4953): {len(report.resent)}")
        for text in report.resent[:5]:
            print(f"  re-sent: {text}")
        print(f"kills that left at least min.insync.replicas ({runner.min_insync}) in-sync replicas alive: "
              f"{failover_summary(runner.failovers)}")
        for fault, values in sorted(runner.failovers_by_fault.items()):
            print(f"  {fault}: {failover_summary(values)}")
        print("kills that left fewer (acks=all waits, by design, until a replica returns; not a failover): "
              f"{failover_summary(runner.replica_waits)}")
        for fault, values in sorted(runner.replica_waits_by_fault.items()):
            print(f"  {fault}: {failover_summary(values)}")
        print(f"cycles with an expected reaction missing or an error: {errors} errors, {len(runner.notes)} notes")
        for note in runner.notes[:10]:
            print(f"  note: {note}")
        if not report.ok:
            print(report.summary(5))
        runner.close()
        return 0 if report.ok else 1
    finally:
        net.stop()
        zookeeper.stop()
        if not args.keep_data:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

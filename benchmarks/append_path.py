"""python -m benchmarks.append_path: broker CPU of the leader's append, in-process.

Appends the same batch (kafka-python's encoder: a real client's bytes, 100-byte values,
current timestamps) again and again through `Partition.append_as_leader` (produce
validation, offset assignment, the segment write) on a fresh log in a temporary
directory, and prints the CPU time per append and per GB of payload: min of 5 rounds of
1,000 appends, for 250 and 2,500 records per batch, uncompressed and with each codec.

The end-to-end benchmark (`benchmarks.run`) cannot resolve a few percent on a shared
machine; this one can. To compare two versions, run it from both checkouts (or with
PYTHONPATH pointing at the other one's `src`). Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from kafka.record.default_records import DefaultRecordBatchBuilder

from snakafka.clock import SystemClock
from snakafka.cluster.model import PartitionState
from snakafka.log.log_config import LogConfig
from snakafka.log.partition_log import PartitionLog
from snakafka.replication.partition import Partition

CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def client_batch(count: int, codec: int) -> bytes:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=False, producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=1 << 30)
    now = int(time.time() * 1000)
    for i in range(count):
        builder.append(i, timestamp=now + i, key=None, value=bytes([i % 251]) * 100, headers=[])
    return bytes(builder.build())


def cpu_per_append(batch: bytes, appends: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        directory = Path(tempfile.mkdtemp(prefix="snakafka-append-"))
        try:
            log = PartitionLog.open(directory / "t-0", "t", 0, LogConfig(), SystemClock())
            part = Partition("t", 0, 0, log, PartitionState(replicas=(0,), leader=0, isr=(0,)))
            start = time.process_time()
            for _ in range(appends):
                part.append_as_leader(batch, 1)
            best = min(best, (time.process_time() - start) / appends)
            log.close()
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.append_path", description=__doc__)
    parser.add_argument("--appends", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"{'codec':<8} {'records':>8} {'us/append':>10} {'CPU s/GB':>9}")
    for name, codec in CODECS.items():
        for count in (250, 2500):
            seconds = cpu_per_append(client_batch(count, codec), args.appends, args.rounds)
            print(f"{name:<8} {count:>8} {seconds * 1e6:>10.1f} {seconds / (count * 100) * 1e9:>9.3f}")


if __name__ == "__main__":
    main()

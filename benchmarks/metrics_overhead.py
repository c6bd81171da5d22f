"""python -m benchmarks.metrics_overhead: what metrics.http.listener costs on the produce path.

The same Produce requests (acks=1, one 100-record batch of 100-byte values each, sent one
after another on one connection) against an EmbeddedBroker without and with the metrics
listener, alternating, several rounds; the figure is the process's CPU time per request
(client and broker share the process, and the client's share is the same in both). CPU
time rather than wall time because it moves less on a shared machine. Figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import statistics
import time
import uuid

from kio.schema.produce.v9 import request as produce_v9
from kio.schema.types import TopicName
from kio.static.primitive import Records, i16, i32, i32Timedelta

from snakafka.client.connection import BrokerConnection
from snakafka.protocol.records import NewRecord, encode_batch
from snakafka.testing import EmbeddedBroker

LISTENER = {"metrics.http.listener": "http://127.0.0.1:0"}


def produce_request(topic: str) -> produce_v9.ProduceRequest:
    batch = encode_batch([NewRecord(None, b"v" * 100, timestamp=1_000 + i) for i in range(100)])
    return produce_v9.ProduceRequest(
        transactional_id=None, acks=i16(1), timeout=i32Timedelta.parse(datetime.timedelta(seconds=10)),
        topic_data=(produce_v9.TopicProduceData(name=TopicName(topic), partition_data=(
            produce_v9.PartitionProduceData(index=i32(0), records=Records(batch)),)),),
    )


async def cpu_per_request(bootstrap: str, requests: int) -> float:
    """Microseconds of process CPU per Produce request."""
    host, port = bootstrap.rsplit(":", 1)
    request = produce_request(f"overhead-{uuid.uuid4().hex[:8]}")
    async with BrokerConnection(host, int(port), client_id="metrics-overhead") as conn:
        await conn.send(request)  # auto-creates the topic, outside the measurement
        start = time.process_time()
        for _ in range(requests):
            await conn.send(request)
        return (time.process_time() - start) / requests * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metrics_overhead", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="Produce requests per measurement")
    parser.add_argument("--rounds", type=int, default=4, help="off/on pairs")
    args = parser.parse_args(argv)
    figures: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(args.rounds):
        for mode in ("off", "on"):
            with EmbeddedBroker(overrides=LISTENER if mode == "on" else {}) as broker:
                figures[mode].append(asyncio.run(cpu_per_request(broker.bootstrap, args.requests)))
    off, on = statistics.median(figures["off"]), statistics.median(figures["on"])
    print(f"Produce request CPU (client + broker, median of {args.rounds}): metrics off {off:.1f} us, "
          f"on {on:.1f} us ({(on - off) / off:+.1%}); runs off {[round(x) for x in figures['off']]}, "
          f"on {[round(x) for x in figures['on']]}")


if __name__ == "__main__":
    main()

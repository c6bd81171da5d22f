"""Exactly-once: consume, transform, produce, and commit the input offsets - all in one
transaction (Kafka's transactions, KIP-98).

Each batch of input records becomes one transaction: the transformed records go to the
output topic and the input offsets to the group (send_offsets_to_transaction), and the
commit makes both visible at once. A crash before the commit leaves an open
transaction; the next instance, with the same transactional.id, fences the crashed one
and aborts it, and resumes from the last committed offsets. A read_committed reader of
the output topic never sees aborted records, so it sees each input record exactly once.
"""

from __future__ import annotations

import argparse
import time

from common import crash, text
from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap-server", default="127.0.0.1:9092")
    parser.add_argument("--topic", required=True, help="input topic")
    parser.add_argument("--output-topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--transactional-id", default=None, help="default: <group>-txn")
    parser.add_argument("--crash-at", type=int, default=None,
                        help="die after producing the output of record N, before the commit")
    parser.add_argument("--hang-at", type=int, default=None,
                        help="after producing the output of record N, print IN-TRANSACTION and wait (to be killed)")
    parser.add_argument("--idle-exit-s", type=float, default=3.0, help="exit after this long without records")
    parser.add_argument("--stop-after", type=int, default=None, help="exit (cleanly) once record N is committed")
    return parser.parse_args()


def transform(value: str) -> bytes:
    return f"{value} squared is {int(value) ** 2}".encode()


def main() -> None:
    args = parse_args()
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap_server,
        "group.id": args.group,
        "enable.auto.commit": False,  # offsets are committed by the transaction
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",  # never read another transaction's aborted records
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
    })
    producer = Producer({
        "bootstrap.servers": args.bootstrap_server,
        "transactional.id": args.transactional_id or f"{args.group}-txn",
        "linger.ms": 5,
    })
    producer.init_transactions(30)  # fences an older instance and aborts its open transaction
    consumer.subscribe([args.topic])
    last = time.monotonic()
    try:
        while time.monotonic() - last < args.idle_exit_s:
            batch = consumer.consume(num_messages=5, timeout=0.2)
            if not batch:
                continue
            for msg in batch:
                if msg.error():
                    raise SystemExit(f"consumer error: {msg.error()}")
            last = time.monotonic()
            if not process(args, consumer, producer, batch):
                break
    finally:
        consumer.close()
        producer.flush(10)


def process(args: argparse.Namespace, consumer: Consumer, producer: Producer, batch: list[Message]) -> bool:
    """One transaction for the batch; False once --stop-after is reached."""
    producer.begin_transaction()
    numbers = [int(text(msg.value())) for msg in batch]
    for msg in batch:
        producer.produce(args.output_topic, key=msg.key(), value=transform(text(msg.value())))
    next_offsets: dict[tuple[str, int], int] = {}
    for msg in batch:
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        assert topic is not None and partition is not None and offset is not None
        next_offsets[(topic, partition)] = offset + 1
    producer.send_offsets_to_transaction(
        [TopicPartition(t, p, o) for (t, p), o in next_offsets.items()], consumer.consumer_group_metadata(), 30)
    if args.crash_at in numbers or args.hang_at in numbers:
        producer.flush(30)  # the output is on the broker, in an open transaction...
        if args.crash_at in numbers:
            crash()  # ...that this process never commits
        print(f"IN-TRANSACTION {args.hang_at}", flush=True)
        while True:  # ...until someone kills this process (kill -9)
            time.sleep(1)
    try:
        producer.commit_transaction(30)
    except KafkaException as exc:
        if exc.args[0].txn_requires_abort():
            producer.abort_transaction(30)
            raise SystemExit(f"transaction aborted: {exc}") from exc
        raise  # fatal (fenced by a newer instance): stop
    return args.stop_after is None or args.stop_after not in numbers


if __name__ == "__main__":
    main()

"""Shared by the examples: argument parsing and the consumer loop skeleton."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from confluent_kafka import Consumer, Message, TopicPartition


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bootstrap-server", default="127.0.0.1:9092")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--out", required=True, help="file the handler appends processed records to")
    parser.add_argument("--crash-at", type=int, default=None, help="die at the bad moment for record N")
    parser.add_argument("--idle-exit-s", type=float, default=3.0, help="exit after this long without records")
    parser.add_argument("--stop-after", type=int, default=None, help="exit (cleanly) once record N is handled")
    return parser.parse_args()


def consumer(args: argparse.Namespace) -> Consumer:
    return Consumer({
        "bootstrap.servers": args.bootstrap_server,
        "group.id": args.group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,  # the broker's group.min.session.timeout.ms
        "heartbeat.interval.ms": 1000,
    })


def crash() -> None:
    """Die as a process dies: no close, no final commit, no leave-group."""
    os._exit(17)


def consume(args: argparse.Namespace, on_message: Callable[[Consumer, Message], None]) -> None:
    c = consumer(args)
    c.subscribe([args.topic])
    last = time.monotonic()
    try:
        while time.monotonic() - last < args.idle_exit_s:
            msg = c.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                raise SystemExit(f"consumer error: {msg.error()}")
            on_message(c, msg)
            last = time.monotonic()
            if args.stop_after is not None and int(text(msg.value())) == args.stop_after:
                break
    finally:
        c.close()


def text(data: bytes | None) -> str:
    """A record's key or value as text (produce_numbers.py gives every record both)."""
    assert data is not None
    return data.decode()


def next_offset(msg: Message) -> TopicPartition:
    """What to commit once msg is done with: the offset after it, in its partition."""
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    # Set on every record poll() returns; only error events (handled in consume) lack them.
    assert topic is not None and partition is not None and offset is not None
    return TopicPartition(topic, partition, offset + 1)


def append_line(path: str, line: str) -> None:
    with open(path, "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())

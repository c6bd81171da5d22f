"""Produce records "0".."N-1" to a one-partition topic (the examples' input)."""

from __future__ import annotations

import argparse

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

parser = argparse.ArgumentParser()
parser.add_argument("--bootstrap-server", default="127.0.0.1:9092")
parser.add_argument("--topic", required=True)
parser.add_argument("--count", type=int, default=20)
args = parser.parse_args()

admin = AdminClient({"bootstrap.servers": args.bootstrap_server})
for future in admin.create_topics([NewTopic(args.topic, 1, 1)]).values():
    try:
        future.result(10)
    except Exception as exc:  # an existing topic is fine
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise
producer = Producer({"bootstrap.servers": args.bootstrap_server, "acks": "all"})
for i in range(args.count):
    producer.produce(args.topic, key=str(i).encode(), value=str(i).encode())
if producer.flush(10):
    raise SystemExit("not every record was acknowledged")

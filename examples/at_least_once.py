"""At-least-once: process first, then commit the offset (the usual choice).

A crash after processing and before the commit redelivers that record to whichever
consumer takes the partition next, so the handler must be idempotent: here it keeps its
result keyed by the record key, and a second delivery changes nothing.
"""

from __future__ import annotations

import json
import os

from common import append_line, consume, crash, next_offset, parse_args, text
from confluent_kafka import Consumer, Message

args = parse_args(__doc__ or "")
state_path = args.out + ".state"


def handle(msg: Message) -> None:
    """Idempotent: result[key] = value, however many times a record arrives."""
    state = {}
    if os.path.exists(state_path):
        with open(state_path) as f:
            state = json.load(f)
    state[text(msg.key())] = text(msg.value())
    with open(state_path + ".tmp", "w") as f:
        json.dump(state, f)
    os.replace(state_path + ".tmp", state_path)
    append_line(args.out, text(msg.value()))  # the processing log shows redeliveries


def on_message(c: Consumer, msg: Message) -> None:
    handle(msg)
    if args.crash_at is not None and int(text(msg.value())) == args.crash_at:
        crash()  # processed, never committed: redelivered
    c.commit(offsets=[next_offset(msg)], asynchronous=False)


consume(args, on_message)

"""At-most-once: commit the offset first, then process.

A crash after the commit and before processing loses that record: the group's
bookmark already points past it, so no consumer will ever see it again.
"""

from __future__ import annotations

from common import append_line, consume, crash, next_offset, parse_args, text
from confluent_kafka import Consumer, Message

args = parse_args(__doc__ or "")


def on_message(c: Consumer, msg: Message) -> None:
    value = text(msg.value())
    c.commit(offsets=[next_offset(msg)], asynchronous=False)
    if args.crash_at is not None and int(value) == args.crash_at:
        crash()  # committed, never processed: lost
    append_line(args.out, value)


consume(args, on_message)

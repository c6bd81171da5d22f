"""`snakafka console-producer` and `snakafka console-consumer`: kafka-console-producer.sh
and kafka-console-consumer.sh, with their option and property names.

Both speak the Kafka protocol through our own client (snakafka.client): the producer
reads lines from stdin and sends record batches to partition leaders; the consumer
fetches and prints records, alone or as a member of a consumer group. Records go to
stdout, logging to stderr. A failure is one line on stderr and exit status 1; a bad
option is click's usage error (status 2). SIGINT / SIGTERM stop cleanly: the producer
sends what it buffered, the consumer commits and leaves its group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, NoReturn, TypeVar

import click

from snakafka.cli.groups import bootstrap_option
from snakafka.cli.options import LOG_FORMAT
from snakafka.client.cluster import EARLIEST, LATEST, ClientError, Cluster
from snakafka.client.console_options import (
    CODECS,
    LineReader,
    PropertyError,
    consumer_config,
    line_reader,
    parse_properties,
    producer_settings,
    record_format,
)
from snakafka.client.consumer import TOPIC_WAIT_MS, Consumer, ConsumerSettings
from snakafka.client.producer import Producer
from snakafka.client.requests import parse_bootstrap
from snakafka.config.properties import decode_properties
from snakafka.config.properties import parse_properties as parse_properties_file

log = logging.getLogger("snakafka.console")

FAILURE_EXIT = 1
T = TypeVar("T")
_EOF = b""
log_level_option = click.option("--log-level", default="WARNING", show_default=True,
                                type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
                                help="Logging on stderr.")


def _fail(tool: str, message: str) -> NoReturn:
    click.echo(f"snakafka {tool}: {message}", err=True)
    raise SystemExit(FAILURE_EXIT)


def _run(tool: str, job: Callable[[], Awaitable[T]]) -> T:
    """Run `job` on a fresh event loop. The first SIGINT / SIGTERM cancels it (the job
    catches that and cleans up), a second one exits at once. ClientError and
    PropertyError end the process with their one-line message."""

    async def main() -> T:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        signalled: list[int] = []

        def on_signal(signum: int) -> None:
            if signalled:
                log.warning("second %s: exiting without cleaning up", signal.Signals(signum).name)
                raise SystemExit(130)
            signalled.append(signum)
            log.info("%s received, stopping", signal.Signals(signum).name)
            task.cancel()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            return await job()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    try:
        return asyncio.run(main())
    except (ClientError, PropertyError) as exc:
        _fail(tool, str(exc))
    except asyncio.CancelledError:
        raise SystemExit(130) from None


def _properties(values: tuple[str, ...], option: str, config_file: Path | None, tool: str) -> dict[str, str]:
    """A --*.config properties file, overridden by the --*-property values."""
    props: dict[str, str] = {}
    try:
        if config_file is not None:
            props.update(parse_properties_file(decode_properties(config_file.read_bytes())))
        props.update(parse_properties(values, option))
    except (OSError, ValueError) as exc:
        _fail(tool, str(exc))
    return props


def _cluster(bootstrap: str, client_id: str, tool: str) -> Cluster:
    try:
        return Cluster(parse_bootstrap(bootstrap), client_id=client_id)
    except ValueError as exc:
        _fail(tool, str(exc))


# -- console-producer ------------------------------------------------------------------


class StdinChunks:
    """stdin read by a daemon thread into a bounded queue of byte chunks (b"" at EOF).

    A thread because stdin may be a file, a pipe or a terminal and the loop must keep
    sending lingering batches meanwhile; a daemon one so that a blocked read never holds
    up the exit. The bound gives backpressure when input outruns the broker."""

    def __init__(self, stream: IO[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=16)
        self._stream = stream
        self._loop = loop
        threading.Thread(target=self._read, name="stdin-reader", daemon=True).start()

    def _read(self) -> None:
        # The file descriptor itself where there is one: a thread blocked in a buffered
        # read holds the buffer's lock, and the interpreter's exit then aborts on it.
        try:
            fd = self._stream.fileno()
        except (OSError, ValueError):
            fd = -1
        read: Callable[[int], bytes] = (lambda n: os.read(fd, n)) if fd >= 0 else self._stream.read
        while True:
            try:
                chunk = read(65536)
            except (OSError, ValueError):
                chunk = _EOF
            try:
                asyncio.run_coroutine_threadsafe(self.queue.put(chunk), self._loop).result()
            except RuntimeError:  # the loop is gone: we are exiting
                return
            if not chunk:
                return


async def _produce_lines(producer: Producer, reader: LineReader, sync: bool) -> None:
    """Lines from stdin to records until EOF (or cancellation), then flush. A line that
    does not parse ends it with PropertyError once the lines before it are sent."""
    chunks = StdinChunks(sys.stdin.buffer, asyncio.get_running_loop())
    pending = b""
    line_number = 0

    def add(line: bytes) -> None:
        nonlocal line_number
        line_number += 1
        if line.endswith(b"\r"):
            line = line[:-1]
        key, value = reader.parse(line, line_number)
        producer.append(key, value)

    try:
        while True:
            deadline = producer.next_deadline()
            try:
                chunk = await asyncio.wait_for(chunks.queue.get(),
                                               None if deadline is None else max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                await producer.send_ready()
                continue
            if chunk == _EOF:
                if pending:
                    add(pending)
                break
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                add(line)
                if sync:
                    await producer.flush()
            await producer.send_ready()
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()
    finally:
        await producer.flush()


@click.command("console-producer")
@bootstrap_option
@click.option("--topic", required=True, help="The topic to produce to.")
@click.option("--property", "properties", multiple=True, metavar="KEY=VALUE",
              help="Line reader: parse.key, key.separator (default tab), ignore.error, null.marker.")
@click.option("--producer-property", "producer_properties", multiple=True, metavar="KEY=VALUE",
              help="Producer configs: acks, compression.type, linger.ms, batch.size, retries, ...")
@click.option("--producer.config", "producer_config", type=click.Path(dir_okay=False, path_type=Path),
              help="A properties file of producer configs.")
@click.option("--request-required-acks", type=click.Choice(["all", "-1", "0", "1"]), default=None,
              help="acks (default all).")
@click.option("--compression-codec", type=click.Choice(sorted(CODECS)), default=None, help="compression.type.")
@click.option("--timeout", "linger_ms", type=click.IntRange(min=0), default=None,
              help="linger.ms: how long a partial batch waits (default 1000).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="batch.size in bytes (default 16384).")
@click.option("--sync", is_flag=True, help="Send each line on its own and wait for its acknowledgement.")
@click.option("--message-send-max-retries", "retries", type=click.IntRange(min=0), default=None,
              help="retries (default 3).")
@click.option("--retry-backoff-ms", type=click.IntRange(min=0), default=None)
@click.option("--request-timeout-ms", type=click.IntRange(min=1), default=None)
@click.option("--max-block-ms", type=click.IntRange(min=0), default=None,
              help="How long to wait for the topic's metadata (default 60000).")
@log_level_option
def console_producer(bootstrap: str, topic: str, properties: tuple[str, ...], producer_properties: tuple[str, ...],
                     producer_config: Path | None, request_required_acks: str | None, compression_codec: str | None,
                     linger_ms: int | None, batch_size: int | None, sync: bool, retries: int | None,
                     retry_backoff_ms: int | None, request_timeout_ms: int | None, max_block_ms: int | None,
                     log_level: str) -> None:
    """Send the lines of stdin to TOPIC, one record each (like kafka-console-producer.sh)."""
    tool = "console-producer"
    logging.basicConfig(level=log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    props = _properties(producer_properties, "--producer-property", producer_config, tool)
    explicit = {"acks": request_required_acks, "compression.type": compression_codec, "linger.ms": linger_ms,
                "batch.size": batch_size, "retries": retries, "retry.backoff.ms": retry_backoff_ms,
                "request.timeout.ms": request_timeout_ms, "max.block.ms": max_block_ms}
    props.update({k: str(v) for k, v in explicit.items() if v is not None})
    try:
        settings = producer_settings(props)
        reader = line_reader(parse_properties(properties, "--property"))
    except PropertyError as exc:
        _fail(tool, str(exc))
    cluster = _cluster(bootstrap, props.get("client.id", "console-producer"), tool)

    async def job() -> int:
        producer = Producer(cluster, topic, settings)
        try:
            await producer.start()
            await _produce_lines(producer, reader, sync)
        finally:
            await cluster.close()
        return producer.sent

    sent = _run(tool, job)
    log.info("sent %d records to %s", sent, topic)


# -- console-consumer ------------------------------------------------------------------


def _start_offset(offset: str | None, from_beginning: bool) -> int | None:
    """--offset earliest|latest|N as a ListOffsets timestamp or an offset."""
    if offset is None:
        return EARLIEST if from_beginning else LATEST
    if offset == "earliest":
        return EARLIEST
    if offset == "latest":
        return LATEST
    if not offset.isdigit():
        raise click.BadParameter(f"{offset!r}: expected earliest, latest or a non-negative offset",
                                 param_hint="--offset")
    return int(offset)


def _quiet_stdout() -> None:
    """stdout was closed under us (`| head`): send what is left to /dev/null and stop."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


@click.command("console-consumer")
@bootstrap_option
@click.option("--topic", required=True, help="The topic to consume.")
@click.option("--group", default=None, help="Consume as a member of this consumer group (commits offsets).")
@click.option("--from-beginning", is_flag=True, help="Start at the earliest offset when there is no committed one.")
@click.option("--partition", type=click.IntRange(min=0), default=None, help="Consume this partition only.")
@click.option("--offset", default=None, help="With --partition: earliest, latest (default) or an offset.")
@click.option("--max-messages", type=click.IntRange(min=1), default=None, help="Exit after this many records.")
@click.option("--timeout-ms", type=click.IntRange(min=1), default=None,
              help="Exit when no record arrived for this long.")
@click.option("--property", "properties", multiple=True, metavar="KEY=VALUE",
              help="Formatter: print.key, print.offset, print.partition, print.timestamp, print.headers, "
                   "print.value, key.separator, line.separator, headers.separator, null.literal.")
@click.option("--consumer-property", "consumer_properties", multiple=True, metavar="KEY=VALUE",
              help="Consumer configs: auto.offset.reset, enable.auto.commit, session.timeout.ms, ...")
@click.option("--consumer.config", "consumer_config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A properties file of consumer configs.")
@click.option("--isolation-level", type=click.Choice(["read_committed", "read_uncommitted"]), default=None,
              help="read_committed skips aborted transactions (default read_uncommitted).")
@log_level_option
def console_consumer(bootstrap: str, topic: str, group: str | None, from_beginning: bool, partition: int | None,
                     offset: str | None, max_messages: int | None, timeout_ms: int | None,
                     properties: tuple[str, ...], consumer_properties: tuple[str, ...],
                     consumer_config_file: Path | None, isolation_level: str | None, log_level: str) -> None:
    """Print the records of TOPIC, one per line (like kafka-console-consumer.sh)."""
    tool = "console-consumer"
    logging.basicConfig(level=log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    if offset is not None and partition is None:
        raise click.UsageError("The partition is required when offset is specified.")
    if offset is not None and from_beginning:
        raise click.UsageError("Options from-beginning and offset cannot be specified together.")
    props = _properties(consumer_properties, "--consumer-property", consumer_config_file, tool)
    try:
        config = consumer_config(props, group=group, from_beginning=from_beginning, isolation_level=isolation_level)
        fmt = record_format(parse_properties(properties, "--property"))
    except PropertyError as exc:
        _fail(tool, str(exc))
    if config.group is not None and partition is not None:
        raise click.UsageError("Options group and partition cannot be specified together.")
    settings = ConsumerSettings(
        topic=topic, fetch=config.fetch, group=config.group, partition=partition,
        start_offset=_start_offset(offset, from_beginning) if partition is not None else None,
        enable_auto_commit=config.enable_auto_commit, auto_commit_interval_ms=config.auto_commit_interval_ms,
        topic_wait_ms=timeout_ms if timeout_ms is not None else TOPIC_WAIT_MS,
    )
    cluster = _cluster(bootstrap, config.client_id, tool)
    out = sys.stdout.buffer

    async def job() -> int:
        consumer = Consumer(cluster, settings)
        count = 0
        try:
            await consumer.start()
            last_record = time.monotonic()
            while max_messages is None or count < max_messages:
                records = await consumer.poll()
                if not records:
                    if timeout_ms is not None and time.monotonic() - last_record >= timeout_ms / 1000:
                        log.info("no record for %d ms, exiting", timeout_ms)
                        break
                    continue
                last_record = time.monotonic()
                for record in records:
                    out.write(fmt.format(record))
                    count += 1
                    consumer.consumed(record)
                    if count == max_messages:
                        break
                else:
                    consumer.consumed_all()
                out.flush()
        except BrokenPipeError:
            _quiet_stdout()
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
        finally:
            with contextlib.suppress(BrokenPipeError):
                out.flush()
            await consumer.close()
        return count

    count = _run(tool, job)
    click.echo(f"Processed a total of {count} messages", err=True)

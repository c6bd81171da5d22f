"""`snakafka console-producer` / `console-consumer` (subprocesses) against the shared
broker subprocess, checked with confluent-kafka on the other side: records the console
producer sends are read back (keys on the partitions librdkafka's murmur2 partitioner
picks), records confluent-kafka sends (compressed too) are printed, consumer groups
share partitions and continue from committed offsets, read_committed hides aborted
transactions, and errors are one line with a non-zero exit.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer

from snakafka.protocol.partitioner import partition_for_key
from snakafka.testing.process import BrokerProcess, free_port

from .helpers import (
    BASE_TS,
    CODECS,
    Send,
    assert_stored_codec,
    confluent_consume,
    confluent_create_topic,
    confluent_produce,
    wait_until,
)

RUN_TIMEOUT = 60  # seconds, for every tool run
FAST_GROUP = ("--consumer-property", "heartbeat.interval.ms=200", "--consumer-property", "session.timeout.ms=6000")


def tool(broker: BrokerProcess | str, name: str, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    bootstrap = broker if isinstance(broker, str) else broker.bootstrap
    return subprocess.run([sys.executable, "-m", "snakafka", name, "--bootstrap-server", bootstrap, *args],
                          input=stdin, capture_output=True, timeout=RUN_TIMEOUT, check=False)


def spawn(broker: BrokerProcess, name: str, out: Path, *args: str) -> subprocess.Popen[bytes]:
    with open(out, "wb") as stdout, open(out.with_suffix(".err"), "wb") as stderr:
        return subprocess.Popen([sys.executable, "-m", "snakafka", name, "--bootstrap-server", broker.bootstrap, *args],
                                stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)


def columns(output: bytes) -> list[list[bytes]]:
    return [line.split(b"\t") for line in output.splitlines()]


def confluent_partitions(bootstrap: str, topic: str, keys: list[bytes]) -> dict[bytes, int]:
    """Where librdkafka's murmur2_random partitioner (Java's default for keyed records)
    puts each key, from the delivery reports."""
    acked = confluent_produce(bootstrap, topic, [Send(k, b"probe") for k in keys],
                              conf={"partitioner": "murmur2_random"})
    return {a.key: a.partition for a in acked if a.key is not None}


# -- console-producer --------------------------------------------------------------------


def test_producer_keys_land_where_murmur2_puts_them(broker: BrokerProcess, topic_name: str) -> None:
    partitions = 7
    confluent_create_topic(broker.bootstrap, topic_name, partitions)
    confluent_create_topic(broker.bootstrap, topic_name + "-probe", partitions)
    keys = [f"key-{i}".encode() for i in range(40)] + [b"", "ключ".encode(), b"a" * 33]
    lines = [k + b"\t" + b"value-%d" % i for i, k in enumerate(keys)]
    done = tool(broker, "console-producer", "--topic", topic_name, "--property", "parse.key=true",
                stdin=b"\n".join(lines) + b"\n")
    assert done.returncode == 0, done.stderr

    got = confluent_consume(broker.bootstrap, topic_name, range(partitions))
    assert sorted((r.key, r.value) for r in got) == sorted((k, b"value-%d" % i) for i, k in enumerate(keys))
    where = {r.key: r.partition for r in got if r.key is not None}
    librdkafka = confluent_partitions(broker.bootstrap, topic_name + "-probe", keys)
    assert where == librdkafka
    assert where == {k: partition_for_key(k, partitions) for k in keys}
    assert len(set(where.values())) > 1
    for p in range(partitions):  # a partition keeps the order of the lines
        values = [int(r.value.split(b"-")[1]) for r in got if r.partition == p and r.value]
        assert values == sorted(values)


def test_producer_keyless_lines_spread_and_keep_order(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 3)
    lines = [b"line %03d with\ttab" % i for i in range(60)]
    # tiny batches so that the sticky partition moves; the last line has no newline
    done = tool(broker, "console-producer", "--topic", topic_name, "--batch-size", "100", "--timeout", "5",
                stdin=b"\r\n".join(lines))
    assert done.returncode == 0, done.stderr
    got = confluent_consume(broker.bootstrap, topic_name, range(3))
    assert sorted(r.value for r in got if r.value) == lines, "every line once, \\r\\n stripped, tabs kept"
    assert all(r.key is None for r in got)
    assert len({r.partition for r in got}) == 3
    for p in range(3):
        values = [r.value or b"" for r in got if r.partition == p]
        assert values == sorted(values)


@pytest.mark.parametrize("codec", CODECS)
def test_producer_compression_codec(broker: BrokerProcess, topic_name: str, codec: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 1)
    lines = [b"compressible value %d " % i * 5 for i in range(200)]
    done = tool(broker, "console-producer", "--topic", topic_name, "--compression-codec", codec,
                "--request-required-acks", "1", stdin=b"\n".join(lines) + b"\n")
    assert done.returncode == 0, done.stderr
    assert_stored_codec(broker.bootstrap, topic_name, [0], codec)
    assert [r.value for r in confluent_consume(broker.bootstrap, topic_name, [0])] == lines


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_producer_acks(broker: BrokerProcess, topic_name: str, acks: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    lines = [b"%d" % i for i in range(30)]
    done = tool(broker, "console-producer", "--topic", topic_name, "--producer-property", f"acks={acks}",
                stdin=b"\n".join(lines) + b"\n")
    assert done.returncode == 0, done.stderr
    def all_there() -> list[bytes] | None:
        values = sorted(r.value for r in confluent_consume(broker.bootstrap, topic_name, range(2)) if r.value)
        return values if len(values) == len(lines) else None

    assert wait_until(all_there, message="all 30 records") == sorted(lines)


def test_producer_auto_creates_its_topic(broker: BrokerProcess, topic_name: str) -> None:
    done = tool(broker, "console-producer", "--topic", topic_name, stdin=b"first\nsecond\n")
    assert done.returncode == 0, done.stderr
    assert [r.value for r in confluent_consume(broker.bootstrap, topic_name, [0])] == [b"first", b"second"]


# -- console-consumer --------------------------------------------------------------------


@pytest.mark.parametrize("codec", ("none", *CODECS))
def test_consumer_prints_confluent_records(broker: BrokerProcess, topic_name: str, codec: str) -> None:
    partitions = 3
    confluent_create_topic(broker.bootstrap, topic_name, partitions)
    sends = [Send(b"k%d" % (i % 5), b"value %d " % i * 4, timestamp=BASE_TS + i) for i in range(90)]
    sends.append(Send(None, b"no key", timestamp=BASE_TS + 90, partition=1))
    acked = confluent_produce(broker.bootstrap, topic_name, sends,
                              conf={"compression.type": codec, "linger.ms": 50, "partitioner": "murmur2_random"})
    if codec != "none":
        assert_stored_codec(broker.bootstrap, topic_name, range(partitions), codec)
    done = tool(broker, "console-consumer", "--topic", topic_name, "--from-beginning", "--max-messages", str(len(sends)),
                "--timeout-ms", "10000", "--property", "print.key=true", "--property", "print.offset=true",
                "--property", "print.partition=true", "--property", "print.timestamp=true")
    assert done.returncode == 0, done.stderr
    assert f"Processed a total of {len(sends)} messages".encode() in done.stderr
    printed = {(int(p.removeprefix(b"Partition:")), int(o.removeprefix(b"Offset:"))): (ts, k, v)
               for ts, p, o, k, v in columns(done.stdout)}
    expected = {(a.partition, a.offset): (b"CreateTime:%d" % a.timestamp, a.key if a.key is not None else b"null", a.value)
                for a in acked}
    assert printed == expected
    for a in acked:
        if a.key is not None:
            assert a.partition == partition_for_key(a.key, partitions)


def test_consumer_partition_and_offset(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    confluent_produce(broker.bootstrap, topic_name, [Send(None, b"p%d-%d" % (i % 2, i // 2), partition=i % 2)
                                                     for i in range(20)])
    done = tool(broker, "console-consumer", "--topic", topic_name, "--partition", "1", "--offset", "7",
                "--timeout-ms", "1500")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [b"p1-%d" % i for i in range(7, 10)]
    done = tool(broker, "console-consumer", "--topic", topic_name, "--partition", "0", "--offset", "earliest",
                "--max-messages", "2")
    assert done.stdout.splitlines() == [b"p0-0", b"p0-1"]
    latest = tool(broker, "console-consumer", "--topic", topic_name, "--partition", "0", "--timeout-ms", "1500")
    assert latest.returncode == 0 and latest.stdout == b"", "latest by default: nothing old is printed"
    assert b"Processed a total of 0 messages" in latest.stderr


def test_consumer_without_group_follows_new_records(broker: BrokerProcess, topic_name: str, tmp_path: Path) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    out = tmp_path / "out"
    proc = spawn(broker, "console-consumer", out, "--topic", topic_name, "--max-messages", "10", "--log-level", "INFO")
    try:
        wait_until(lambda: b"fetching from" in out.with_suffix(".err").read_bytes(), 20, message="consumer started")
        confluent_produce(broker.bootstrap, topic_name, [Send(None, b"new-%d" % i, partition=i % 2) for i in range(10)])
        assert proc.wait(30) == 0, out.with_suffix(".err").read_text()
    finally:
        proc.kill()
    assert sorted(out.read_bytes().splitlines()) == sorted(b"new-%d" % i for i in range(10))


def test_read_committed_skips_aborted_transactions(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": f"console-{topic_name}", "linger.ms": 5})
    p.init_transactions(30)
    plain = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})

    def txn(values: list[bytes], commit: bool) -> None:
        p.begin_transaction()
        for i, v in enumerate(values):
            p.produce(topic_name, value=v, partition=i % 2)
        p.flush(30)
        (p.commit_transaction if commit else p.abort_transaction)(30)

    txn([b"c0", b"c1", b"c2"], True)
    txn([b"a0", b"a1", b"a2", b"a3"], False)
    plain.produce(topic_name, value=b"plain", partition=0)
    plain.flush(30)
    txn([b"c3", b"c4"], True)
    txn([b"a4"], False)
    committed = [b"c0", b"c1", b"c2", b"plain", b"c3", b"c4"]
    aborted = [b"a0", b"a1", b"a2", b"a3", b"a4"]

    def consume(*args: str) -> list[bytes]:
        done = tool(broker, "console-consumer", "--topic", topic_name, "--from-beginning", "--timeout-ms", "2000", *args)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    assert sorted(consume("--isolation-level", "read_committed")) == sorted(committed)
    assert sorted(consume("--consumer-property", "isolation.level=read_committed")) == sorted(committed)
    assert sorted(consume()) == sorted(committed + aborted), "read_uncommitted: all data, no markers"


# -- consumer groups ---------------------------------------------------------------------


def describe(broker: BrokerProcess, group: str) -> tuple[str, dict[int, tuple[str, str]]]:
    """(first line, partition -> (current offset, log end offset)) of `snakafka groups describe`."""
    done = subprocess.run([sys.executable, "-m", "snakafka", "groups", "describe", group, "--bootstrap-server",
                           broker.bootstrap], capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    rows = {int(cols[2]): (cols[3], cols[4]) for cols in (line.split() for line in lines[2:])}
    return lines[0], rows


def test_group_members_share_partitions_commit_and_resume(broker: BrokerProcess, topic_name: str, tmp_path: Path) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 4)
    group = f"console-{uuid.uuid4().hex[:8]}"
    args = ("--topic", topic_name, "--group", group, "--from-beginning", "--property", "print.partition=true",
            "--property", "print.offset=true", *FAST_GROUP)
    outs = [tmp_path / "c0.out", tmp_path / "c1.out"]
    procs = [spawn(broker, "console-consumer", out, *args) for out in outs]
    try:
        wait_until(lambda: "Stable (2 members)" in describe(broker, group)[0], 30, 0.3, message="two members, stable")
        acked = confluent_produce(broker.bootstrap, topic_name, [Send(None, b"v%d" % i, partition=i % 4)
                                                                 for i in range(200)])
        wait_until(lambda: sum(len(o.read_bytes().splitlines()) for o in outs) >= 200, 30, message="200 printed")
        procs[0].send_signal(signal.SIGINT)
        procs[1].send_signal(signal.SIGTERM)
        assert [p.wait(30) for p in procs] == [0, 0], [o.with_suffix(".err").read_text() for o in outs]
    finally:
        for p in procs:
            p.kill()
    printed = [{(int(c[0].removeprefix(b"Partition:")), int(c[1].removeprefix(b"Offset:"))) for c in columns(o.read_bytes())}
               for o in outs]
    lines = [len(o.read_bytes().splitlines()) for o in outs]
    assert lines == [len(s) for s in printed], "no record printed twice"
    assert printed[0].isdisjoint(printed[1])
    assert printed[0] | printed[1] == {(a.partition, a.offset) for a in acked}
    owners = [{p for p, _ in s} for s in printed]
    assert owners[0].isdisjoint(owners[1]) and owners[0] | owners[1] == {0, 1, 2, 3}
    for o in outs:
        assert b"Processed a total of" in o.with_suffix(".err").read_bytes()

    # committed at exit, and the members left
    header, rows = describe(broker, group)
    assert "Empty" in header
    assert rows == {p: ("50", "50") for p in range(4)}

    # a restart continues after the committed offsets (no --from-beginning needed, none re-read)
    more = confluent_produce(broker.bootstrap, topic_name, [Send(None, b"w%d" % i, partition=i % 4) for i in range(20)])
    done = tool(broker, "console-consumer", "--topic", topic_name, "--group", group, "--max-messages", "20",
                "--timeout-ms", "10000", "--property", "print.offset=true", *FAST_GROUP)
    assert done.returncode == 0, done.stderr
    assert sorted(v for _, v in columns(done.stdout)) == sorted(a.value for a in more if a.value)
    assert {int(o.removeprefix(b"Offset:")) for o, _ in columns(done.stdout)} == set(range(50, 55))
    assert describe(broker, group)[1] == {p: ("55", "55") for p in range(4)}


def test_group_without_committed_offsets_starts_at_latest(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    confluent_produce(broker.bootstrap, topic_name, [Send(None, b"old", partition=0)])
    group = f"console-{uuid.uuid4().hex[:8]}"
    done = tool(broker, "console-consumer", "--topic", topic_name, "--group", group, "--timeout-ms", "1500", *FAST_GROUP)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b""
    assert describe(broker, group)[1] == {0: ("1", "1"), 1: ("0", "0")}, "latest positions committed at exit"


# -- errors ------------------------------------------------------------------------------


def one_line_error(done: subprocess.CompletedProcess[bytes], tool_name: str, *fragments: str) -> None:
    assert done.returncode != 0
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"snakafka {tool_name}: "), lines
    for fragment in fragments:
        assert fragment in lines[0], lines


@pytest.mark.parametrize("name", ["console-producer", "console-consumer"])
def test_unreachable_bootstrap_servers(name: str) -> None:
    for bootstrap, fragment in (("nosuchhost.invalid:9092", "nosuchhost.invalid:9092"),
                                (f"127.0.0.1:{free_port()}", "cannot connect")):
        started = time.monotonic()
        done = tool(bootstrap, name, "--topic", "t", stdin=b"x\n")
        one_line_error(done, name, fragment)
        assert time.monotonic() - started < 30


@pytest.mark.parametrize(("args", "stdin", "fragments"), [
    (("--producer-property", "acks=2"), b"x\n", ("acks",)),
    (("--request-required-acks", "1", "--property", "parse.key=maybe"), b"x\n", ("parse.key",)),
    (("--producer-property", "novalue"), b"x\n", ("expected key=value",)),
    (("--property", "parse.key=true"), b"k\tv\nno separator here\n", ("No key separator found on line number 2",)),
])
def test_producer_bad_input(broker: BrokerProcess, topic_name: str, args: tuple[str, ...], stdin: bytes,
                            fragments: tuple[str, ...]) -> None:
    one_line_error(tool(broker, "console-producer", "--topic", topic_name, *args, stdin=stdin), "console-producer",
                   *fragments)


def test_producer_sends_lines_before_a_bad_one(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 1)
    done = tool(broker, "console-producer", "--topic", topic_name, "--property", "parse.key=true",
                stdin=b"k\tgood\nbad\n")
    assert done.returncode != 0
    assert [r.value for r in confluent_consume(broker.bootstrap, topic_name, [0])] == [b"good"]


@pytest.mark.parametrize(("args", "fragments"), [
    (("--consumer-property", "auto.offset.reset=sometimes"), ("auto.offset.reset",)),
    (("--property", "print.key=yes"), ("print.key",)),
    (("--group", "g", "--consumer-property", "group.id=h"), ("different groups",)),
])
def test_consumer_bad_properties(broker: BrokerProcess, topic_name: str, args: tuple[str, ...],
                                 fragments: tuple[str, ...]) -> None:
    one_line_error(tool(broker, "console-consumer", "--topic", topic_name, *args), "console-consumer", *fragments)


@pytest.mark.parametrize(("args", "message"), [
    (("--offset", "3"), b"partition is required"),
    (("--partition", "0", "--offset", "3", "--from-beginning"), b"cannot be specified together"),
    (("--partition", "0", "--offset", "soon"), b"expected earliest, latest"),
])
def test_consumer_usage_errors(broker: BrokerProcess, topic_name: str, args: tuple[str, ...], message: bytes) -> None:
    done = tool(broker, "console-consumer", "--topic", topic_name, *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_consumer_unknown_partition(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    one_line_error(tool(broker, "console-consumer", "--topic", topic_name, "--partition", "5"), "console-consumer",
                   "no partition 5")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_producer_signal_sends_buffered_lines(broker: BrokerProcess, topic_name: str, tmp_path: Path,
                                              signum: signal.Signals) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 1)
    err = tmp_path / "producer.err"
    with open(err, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "snakafka", "console-producer", "--bootstrap-server",
                                 broker.bootstrap, "--topic", topic_name, "--timeout", "600000", "--log-level", "INFO"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_until(lambda: b"producing to" in err.read_bytes(), 30, message="producer ready")  # signal handlers set
        assert proc.stdin is not None
        proc.stdin.write(b"one\ntwo\n")
        proc.stdin.flush()  # stdin stays open: the lines linger in a batch until the signal
        time.sleep(0.5)
        assert confluent_consume(broker.bootstrap, topic_name, [0]) == [], "still lingering"
        proc.send_signal(signum)
        assert proc.wait(30) == 0, err.read_text()
    finally:
        proc.kill()
    assert [r.value for r in confluent_consume(broker.bootstrap, topic_name, [0])] == [b"one", b"two"]


def test_tools_ride_out_a_broker_restart(fresh_broker: BrokerProcess, tmp_path: Path) -> None:
    """Lines typed while the broker is down wait for it (delivery.timeout.ms, not the
    retry count); the consumer reconnects and goes on from its positions."""
    topic = "restart"
    confluent_create_topic(fresh_broker.bootstrap, topic, 2)
    out = tmp_path / "consumer.out"
    consumer = spawn(fresh_broker, "console-consumer", out, "--topic", topic, "--from-beginning", "--log-level", "INFO")
    err = tmp_path / "producer.err"
    with open(err, "wb") as stderr:
        producer = subprocess.Popen([sys.executable, "-m", "snakafka", "console-producer", "--bootstrap-server",
                                     fresh_broker.bootstrap, "--topic", topic, "--sync"],
                                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr)
    assert producer.stdin is not None

    def type_lines(numbers: range) -> None:
        assert producer.stdin is not None
        producer.stdin.write(b"".join(b"line-%d\n" % i for i in numbers))
        producer.stdin.flush()

    def printed() -> list[bytes]:
        return out.read_bytes().splitlines()

    try:
        type_lines(range(10))
        wait_until(lambda: len(printed()) >= 10, 30, message="10 lines consumed")
        fresh_broker.stop()
        type_lines(range(10, 15))
        time.sleep(1.5)  # more than the producer's 3 retries would last if counted
        fresh_broker.start()
        type_lines(range(15, 20))
        producer.stdin.close()
        assert producer.wait(60) == 0, err.read_text()
        wait_until(lambda: len(printed()) >= 20, 30, message="20 lines consumed")
        consumer.send_signal(signal.SIGTERM)
        assert consumer.wait(30) == 0, out.with_suffix(".err").read_text()
    finally:
        producer.kill()
        consumer.kill()
    assert sorted(printed()) == sorted(b"line-%d" % i for i in range(20))


def test_consumer_of_a_missing_topic_gives_up_after_its_timeout(broker: BrokerProcess, topic_name: str) -> None:
    started = time.monotonic()
    done = tool(broker, "console-consumer", "--topic", topic_name, "--timeout-ms", "1500")
    one_line_error(done, "console-consumer", f"topic {topic_name} not available", "UNKNOWN_TOPIC_OR_PARTITION")
    assert time.monotonic() - started < 20

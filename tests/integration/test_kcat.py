"""kcat (librdkafka's command-line client) against a real snakafka broker subprocess.

kcat has no admin API: topics are created and deleted with confluent-kafka's
AdminClient. kcat does not report produced offsets, so the checks are on what a
consumer sees: per partition, offsets contiguous from 0 and the records in the order
kcat sent them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from integration.helpers import (
    BASE_TS,
    CODECS,
    LARGE_VALUE_SIZE,
    Send,
    assert_stored_codec,
    confluent_admin,
    confluent_create_topic,
    confluent_produce,
    now_ms,
    offsets_for_times_sends,
    wait_until,
)
from snakafka.testing.process import BrokerProcess

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed")
KCAT = shutil.which("kcat") or "kcat"


def kcat(bootstrap: str, *args: str, stdin: bytes | None = None, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    cmd = [KCAT, "-b", bootstrap, "-m", "10", "-X", "socket.timeout.ms=5000", *args]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, check=False)
    if check:
        assert proc.returncode == 0, f"{cmd} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-2000:]}"
    return proc


def produce(bootstrap: str, topic: str, lines: list[bytes], *args: str) -> None:
    kcat(bootstrap, "-P", "-t", topic, *args, stdin=b"".join(line + b"\n" for line in lines))


def consume_json(bootstrap: str, topic: str, *args: str) -> list[dict[str, Any]]:
    out = kcat(bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-J", *args).stdout.decode()
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def by_partition(msgs: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for m in msgs:
        out[m["partition"]].append(m)
    return out


def assert_contiguous(msgs: list[dict[str, Any]]) -> None:
    for p, ms in by_partition(msgs).items():
        assert [m["offset"] for m in ms] == list(range(len(ms))), f"partition {p}: offsets {[m['offset'] for m in ms]}"


def headers(m: dict[str, Any]) -> list[tuple[str, str]]:
    h = m.get("headers") or []  # kcat prints them as a flat [name, value, name, value, ...] list
    return list(zip(h[::2], h[1::2], strict=True))


# -- metadata ---------------------------------------------------------------------------


def test_metadata_json(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 3)
    md = json.loads(kcat(broker.bootstrap, "-L", "-J", "-t", topic_name).stdout)
    assert md["brokers"] == [{"id": 0, "name": broker.bootstrap}]
    assert md["controllerid"] == 0
    [t] = md["topics"]
    assert t["topic"] == topic_name and "error" not in t
    assert sorted(p["partition"] for p in t["partitions"]) == [0, 1, 2]
    for p in t["partitions"]:
        assert p["leader"] == 0 and p["replicas"] == [{"id": 0}] and p["isrs"] == [{"id": 0}] and "error" not in p
    everything = json.loads(kcat(broker.bootstrap, "-L", "-J").stdout)
    assert topic_name in {t["topic"] for t in everything["topics"]}


def test_deleted_topic_metadata_and_produce_without_auto_create(noauto_broker: BrokerProcess, topic_name: str) -> None:
    bootstrap = noauto_broker.bootstrap
    confluent_create_topic(bootstrap, topic_name, 2)
    produce(bootstrap, topic_name, [b"before"], "-p", "0")
    assert [m["payload"] for m in consume_json(bootstrap, topic_name)] == ["before"]
    admin = confluent_admin(bootstrap)
    admin.delete_topics([topic_name], request_timeout=10)[topic_name].result(10)

    def gone() -> bool:
        md = json.loads(kcat(bootstrap, "-L", "-J").stdout)
        return topic_name not in {t["topic"] for t in md["topics"]}
    wait_until(gone, 10, message="topic gone from kcat -L")
    md = json.loads(kcat(bootstrap, "-L", "-J", "-t", topic_name).stdout)
    [t] = md["topics"]
    assert "Unknown topic" in t.get("error", ""), t
    proc = kcat(bootstrap, "-P", "-t", topic_name, "-X", "message.timeout.ms=2000",
                "-X", "topic.metadata.propagation.max.ms=500", stdin=b"after\n", check=False)
    assert proc.returncode != 0 or b"fail" in proc.stderr.lower(), proc.stderr
    assert gone(), "producing re-created a deleted topic with auto-create off"


# -- produce / consume ------------------------------------------------------------------


def test_keys_null_keys_explicit_partitions_headers(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 3)
    before = now_ms()
    keyed = [b"key-%d:keyed-%02d" % (i % 4, i) for i in range(16)]
    produce(broker.bootstrap, topic_name, keyed, "-K", ":", "-H", "kind=keyed", "-H", "n=1")
    produce(broker.bootstrap, topic_name, [b"explicit-%02d" % i for i in range(6)], "-p", "2", "-k", "fixed",
            "-H", "kind=explicit")
    produce(broker.bootstrap, topic_name, [b"null-%02d" % i for i in range(6)], "-p", "1")
    after = now_ms()

    msgs = consume_json(broker.bootstrap, topic_name)
    assert len(msgs) == 28
    assert_contiguous(msgs)
    for m in msgs:
        assert m["tstype"] == "create" and before - 5 <= m["ts"] <= after + 5, m
    # keyed: one partition per key, each key's records in order, headers kept
    key_parts: dict[str, set[int]] = defaultdict(set)
    got_keyed = [m for m in msgs if m["payload"].startswith("keyed-")]
    assert sorted(m["payload"] for m in got_keyed) == sorted(line.split(b":")[1].decode() for line in keyed)
    for m in got_keyed:
        i = int(m["payload"].split("-")[1])
        assert m["key"] == f"key-{i % 4}"
        key_parts[m["key"]].add(m["partition"])
        assert headers(m) == [("kind", "keyed"), ("n", "1")]
    assert all(len(parts) == 1 for parts in key_parts.values()), key_parts
    for p, ms in by_partition(got_keyed).items():
        assert [m["payload"] for m in ms] == sorted(m["payload"] for m in ms), f"partition {p} out of order"
    # explicit partitions, in order after whatever the keys put there
    explicit = [m for m in by_partition(msgs)[2] if m["payload"].startswith("explicit-")]
    assert [(m["key"], m["payload"], headers(m)) for m in explicit] == \
        [("fixed", f"explicit-{i:02d}", [("kind", "explicit")]) for i in range(6)]
    nulls = [m for m in by_partition(msgs)[1] if m["payload"].startswith("null-")]
    assert [(m["key"], m["payload"], headers(m)) for m in nulls] == [(None, f"null-{i:02d}", []) for i in range(6)]

    # the brief's format string: key|value|offset|partition|timestamp
    out = kcat(broker.bootstrap, "-C", "-t", topic_name, "-p", "2", "-o", "beginning", "-e", "-q",
               "-f", "%k|%s|%o|%p|%T\n").stdout.decode().splitlines()
    p2 = by_partition(msgs)[2]
    assert out == [f"{m['key'] or ''}|{m['payload']}|{m['offset']}|2|{m['ts']}" for m in p2]


@pytest.mark.parametrize("codec", CODECS)
def test_compression(broker: BrokerProcess, topic_name: str, codec: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    lines = [b"k%d:%s-%04d-%s" % (i % 5, codec.encode(), i, b"abcdefgh" * 20) for i in range(200)]
    produce(broker.bootstrap, topic_name, lines, "-K", ":", "-z", codec, "-H", f"codec={codec}",
            "-X", "linger.ms=50")
    produce(broker.bootstrap, topic_name, [b"%s-explicit-%d" % (codec.encode(), i) for i in range(20)], "-p", "1",
            "-z", codec, "-X", "linger.ms=50")
    msgs = consume_json(broker.bootstrap, topic_name)
    assert_contiguous(msgs)
    assert sorted(m["payload"] for m in msgs if m["key"] is not None) == sorted(l.split(b":", 1)[1].decode() for l in lines)
    assert all(headers(m) == [("codec", codec)] for m in msgs if m["key"] is not None)
    explicit = [m["payload"] for m in by_partition(msgs)[1] if "-explicit-" in m["payload"]]
    assert explicit == [f"{codec}-explicit-{i}" for i in range(20)]
    assert_stored_codec(broker.bootstrap, topic_name, range(2), codec)  # librdkafka may fall back to none


def test_large_record_near_one_megabyte(broker: BrokerProcess, topic_name: str, tmp_path: Path) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 1)
    big = (b"0123456789abcdef" * (LARGE_VALUE_SIZE // 16 + 1))[:LARGE_VALUE_SIZE]
    big = big[:500] + b"MIDDLE" + big[506:]
    path = tmp_path / "big.bin"
    path.write_bytes(big)
    produce(broker.bootstrap, topic_name, [b"small-before"], "-p", "0")
    # a file argument is sent as one message
    kcat(broker.bootstrap, "-P", "-t", topic_name, "-p", "0", "-k", "big", "-X", "message.max.bytes=1048588", str(path))
    produce(broker.bootstrap, topic_name, [b"small-after"], "-p", "0")
    out = kcat(broker.bootstrap, "-C", "-t", topic_name, "-p", "0", "-o", "beginning", "-e", "-q",
               "-f", "%o|%k|%S\n").stdout.decode().splitlines()
    assert out == ["0||12", f"1|big|{LARGE_VALUE_SIZE}", "2||11"]
    raw = kcat(broker.bootstrap, "-C", "-t", topic_name, "-p", "0", "-o", "1", "-c", "1", "-e", "-q",
               "-f", "%s").stdout
    assert raw == big


def test_log_append_time(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 1, {"message.timestamp.type": "LogAppendTime"})
    before = now_ms()
    produce(broker.bootstrap, topic_name, [b"a", b"b", b"c"], "-p", "0")
    after = now_ms()
    msgs = consume_json(broker.bootstrap, topic_name)
    assert [(m["offset"], m["payload"], m["tstype"]) for m in msgs] == [(0, "a", "logappend"), (1, "b", "logappend"),
                                                                        (2, "c", "logappend")]
    assert all(before - 5 <= m["ts"] <= after + 5 for m in msgs), (before, [m["ts"] for m in msgs], after)


def test_query_offsets_by_timestamp(broker: BrokerProcess, topic_name: str) -> None:
    confluent_create_topic(broker.bootstrap, topic_name, 2)
    confluent_produce(broker.bootstrap, topic_name, offsets_for_times_sends(partition=0, n=10, step=1000))
    confluent_produce(broker.bootstrap, topic_name, [Send(b"x", b"p1", (), BASE_TS + 50_000, partition=1)])
    out = kcat(broker.bootstrap, "-Q", "-t", f"{topic_name}:0:{BASE_TS + 4500}", "-t", f"{topic_name}:1:{BASE_TS}").stdout
    lines = sorted(out.decode().split("\n"))
    assert f"{topic_name} [0] offset 5" in lines, out
    assert f"{topic_name} [1] offset 0" in lines, out
    # start consuming at a timestamp: s@ts, stop before e@ts
    got = kcat(broker.bootstrap, "-C", "-t", topic_name, "-p", "0", "-o", f"s@{BASE_TS + 6500}", "-o", f"e@{BASE_TS + 9000}",
               "-q", "-f", "%o|%s|%T\n").stdout.decode().splitlines()
    assert got == [f"7|ts-7|{BASE_TS + 7000}", f"8|ts-8|{BASE_TS + 8000}"]

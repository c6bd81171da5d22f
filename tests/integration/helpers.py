"""Shared helpers of the integration tests (real broker subprocess, real clients).

- `Rec` / `Send`: a record as produced (with the offset its acknowledgement gave) and as
  consumed, in one client-neutral shape, and `workload()`: keyed, null-key and
  explicit-partition records with headers and explicit CreateTime timestamps.
- `check_log()`: the check every client's round trip ends with: per partition, offsets
  contiguous from 0, exactly the acknowledged records at their acknowledged offsets,
  in order, with keys, values, headers and timestamps as sent.
- confluent-kafka helpers used by several files (kcat creates its topics through them,
  the robustness and durability tests produce and consume through them).
- Consumer-group helpers (members, settling) live next door in group_clients.py.
- `RawConnection`: a plain socket speaking Kafka framing, for hand-built requests.
- `wait_until()`: polling with a deadline instead of sleeps.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

CREATE_TIME = "CreateTime"
LOG_APPEND_TIME = "LogAppendTime"
# A fixed past base for CreateTime timestamps we set ourselves (2023-11-14T22:13:20Z):
# far from "now", so a broker that replaced them with its clock would be caught.
BASE_TS = 1_700_000_000_000
CODECS = ("gzip", "snappy", "lz4", "zstd")
LARGE_VALUE_SIZE = 1_000_000  # below message.max.bytes 1048588 with batch overhead

T = TypeVar("T")
Headers = tuple[tuple[str, bytes | None], ...]


def now_ms() -> int:
    return int(time.time() * 1000)


def wait_until(predicate: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.05, message: str = "condition") -> T:
    """Poll `predicate` until it returns something truthy (which is returned) or fail."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last one
            last_exc = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}" + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


# -- records ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """A record to produce. partition None: the client's partitioner chooses."""

    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp: int | None = None
    partition: int | None = None


@dataclass(frozen=True)
class Rec:
    """A record as acknowledged (offset from the produce answer) or as consumed."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp: int = -1
    timestamp_type: str = CREATE_TIME


def timestamp_type_name(code: int) -> str:
    """A record's timestamp type as kafka-python and aiokafka give it (Kafka's attribute
    bit: 0 CreateTime, 1 LogAppendTime) in the names `Rec` uses."""
    return {0: CREATE_TIME, 1: LOG_APPEND_TIME}.get(code, f"type-{code}")


def norm_headers(headers: Iterable[tuple[str, Any]] | None) -> Headers:
    """Client header lists (None, list or tuple; str or bytes values) as a tuple of (str, bytes)."""
    if not headers:
        return ()
    out = []
    for k, v in headers:
        if isinstance(v, str):
            v = v.encode()
        out.append((k, None if v is None else bytes(v)))
    return tuple(out)


def workload(partitions: int, *, keyed: int = 12, null_key: int = 6, explicit: int = 6, tag: str = "w",
             base_ts: int = BASE_TS, value_size: int = 0) -> list[Send]:
    """Keyed records over a few keys, null-key records and explicit-partition records
    (cycling over every partition), each with distinct headers and an explicit timestamp."""
    sends: list[Send] = []
    i = 0

    def value(kind: str) -> bytes:
        v = f"{tag}-{kind}-{i:05d}".encode()
        return v + os.urandom(value_size // 2).hex().encode()[: max(0, value_size - len(v))]

    for n in range(keyed):
        key = f"key-{n % 4}".encode()
        sends.append(Send(key, value("keyed"), (("h-idx", str(i).encode()), ("h-kind", b"keyed")), base_ts + i))
        i += 1
    if keyed:
        # a tombstone (null value) and an empty (not null) key and value
        sends.append(Send(b"key-0", None, (("h-idx", str(i).encode()),), base_ts + i))
        i += 1
        sends.append(Send(b"", b"", (("h-idx", str(i).encode()),), base_ts + i))
        i += 1
    for _ in range(null_key):
        sends.append(Send(None, value("null"), (("h-idx", str(i).encode()), ("h-empty", b"")), base_ts + i))
        i += 1
    for n in range(explicit):
        sends.append(Send(f"x-{n}".encode(), value("explicit"), (("h-idx", str(i).encode()), ("dup", b"1"), ("dup", b"2")),
                          base_ts + i, partition=n % partitions))
        i += 1
    return sends


def by_partition(recs: Iterable[Rec]) -> dict[int, list[Rec]]:
    out: dict[int, list[Rec]] = defaultdict(list)
    for r in recs:
        out[r.partition].append(r)
    return out


def check_log(sent: Sequence[Send], acked: Sequence[Rec], consumed: Sequence[Rec], *,
              timestamp_type: str = CREATE_TIME, append_window: tuple[int, int] | None = None,
              check_headers: bool = True) -> None:
    """Everything sent was acknowledged once, and consumed exactly as acknowledged.

    `acked` pairs each send (same order) with its partition/offset. Consumed records are
    in consumption order; per partition their offsets must be 0, 1, 2, ... and match the
    acknowledged record at that offset field by field. With LogAppendTime the timestamp
    must be the broker's (inside `append_window`, never the one we sent).
    """
    assert len(acked) == len(sent), f"{len(sent)} sent but {len(acked)} acknowledged"
    for s, a in zip(sent, acked, strict=True):
        assert (a.key, a.value) == (s.key, s.value), "acknowledgements do not pair with sends"
        if s.partition is not None:
            assert a.partition == s.partition, f"explicit partition {s.partition} but acked on {a.partition}"
    # same key, same partition (whatever the partitioner)
    key_parts: dict[bytes, set[int]] = defaultdict(set)
    for s, a in zip(sent, acked, strict=True):
        if s.key is not None and s.partition is None:
            key_parts[s.key].add(a.partition)
    for key, parts in key_parts.items():
        assert len(parts) == 1, f"key {key!r} went to several partitions {parts}"

    acked_at: dict[tuple[int, int], tuple[Send, Rec]] = {}
    for s, a in zip(sent, acked, strict=True):
        assert (a.partition, a.offset) not in acked_at, f"offset {a.offset} of partition {a.partition} acknowledged twice"
        acked_at[(a.partition, a.offset)] = (s, a)

    got = by_partition(consumed)
    want = by_partition(acked)
    assert sorted(got) == sorted(want), f"consumed partitions {sorted(got)} != acknowledged {sorted(want)}"
    for p, recs in got.items():
        offsets = [r.offset for r in recs]
        assert offsets == list(range(len(recs))), f"partition {p}: offsets {offsets[:20]}... not contiguous from 0"
        assert len(recs) == len(want[p]), f"partition {p}: consumed {len(recs)} records, acknowledged {len(want[p])}"
        for r in recs:
            s, a = acked_at[(p, r.offset)]
            where = f"partition {p} offset {r.offset}"
            assert r.key == s.key, f"{where}: key {r.key!r} != {s.key!r}"
            assert r.value == s.value, f"{where}: value {(r.value or b'')[:40]!r} != {(s.value or b'')[:40]!r}"
            if check_headers:
                assert r.headers == norm_headers(s.headers), f"{where}: headers {r.headers} != {s.headers}"
            assert r.timestamp_type == timestamp_type, f"{where}: timestamp type {r.timestamp_type} != {timestamp_type}"
            if timestamp_type == CREATE_TIME and s.timestamp is not None:
                assert r.timestamp == s.timestamp, f"{where}: timestamp {r.timestamp} != CreateTime {s.timestamp}"
            if timestamp_type == LOG_APPEND_TIME:
                assert append_window is not None
                lo, hi = append_window
                assert lo <= r.timestamp <= hi, f"{where}: LogAppendTime {r.timestamp} outside [{lo}, {hi}]"
    # order within a partition is the send order (one producer, in-order delivery)
    for p, recs in want.items():
        assert [a.offset for a in recs] == sorted(a.offset for a in recs), f"partition {p}: acks out of send order"


def large_send(partition: int = 0, ts: int = BASE_TS) -> Send:
    value = (os.urandom(16).hex().encode() * (LARGE_VALUE_SIZE // 32 + 1))[:LARGE_VALUE_SIZE]
    return Send(b"large", value, (("size", str(len(value)).encode()),), ts, partition=partition)


def offsets_for_times_sends(partition: int = 0, n: int = 10, step: int = 1000) -> list[Send]:
    """Records with timestamps BASE_TS, +step, ...: offset i has timestamp BASE_TS + i*step."""
    return [Send(b"t%d" % i, b"ts-%d" % i, (), BASE_TS + i * step, partition=partition) for i in range(n)]


# -- confluent-kafka -------------------------------------------------------------------


def confluent_admin(bootstrap: str) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000})


def confluent_create_topic(bootstrap: str, name: str, partitions: int = 1, config: dict[str, str] | None = None,
                           timeout: float = 10.0) -> None:
    from confluent_kafka.admin import NewTopic

    admin = confluent_admin(bootstrap)
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
                                  operation_timeout=timeout, request_timeout=timeout)
    futures[name].result(timeout)
    wait_until(lambda: _confluent_partition_count(admin, name) == partitions, timeout, message=f"{name} in metadata")


def confluent_topic_metadata(admin: Any, name: str) -> Any:
    """The topic's TopicMetadata from a metadata request for it alone (None if not listed)."""
    return admin.list_topics(topic=name, timeout=5).topics.get(name)


def _confluent_partition_count(admin: Any, name: str) -> int:
    t = confluent_topic_metadata(admin, name)
    if t is None or t.error is not None:
        return -1
    return len(t.partitions)


def confluent_producer(bootstrap: str, conf: dict[str, Any] | None = None) -> Any:
    from confluent_kafka import Producer

    full = {"bootstrap.servers": bootstrap, "linger.ms": 5, "message.timeout.ms": 15000,
            "socket.timeout.ms": 5000, "enable.idempotence": False, "acks": "all"}
    full.update(conf or {})
    return Producer(full)


def confluent_produce(bootstrap: str, topic: str, sends: Sequence[Send], *, conf: dict[str, Any] | None = None,
                      producer: Any = None, flush_timeout: float = 20.0) -> list[Rec]:
    """Produce `sends` in order; return one Rec per send (partition/offset from the delivery
    reports), failing on any delivery error."""
    p = producer or confluent_producer(bootstrap, conf)
    reports: list[Any] = [None] * len(sends)

    def callback(index: int) -> Callable[[Any, Any], None]:
        def cb(err: Any, msg: Any) -> None:
            reports[index] = (err, msg)
        return cb

    for i, s in enumerate(sends):
        kwargs: dict[str, Any] = {"value": s.value, "key": s.key, "on_delivery": callback(i)}
        if s.headers:
            kwargs["headers"] = list(s.headers)
        if s.timestamp is not None:
            kwargs["timestamp"] = s.timestamp
        if s.partition is not None:
            kwargs["partition"] = s.partition
        while True:
            try:
                p.produce(topic, **kwargs)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    remaining = p.flush(flush_timeout)
    assert remaining == 0, f"{remaining} messages still undelivered after {flush_timeout}s"
    out = []
    for i, rep in enumerate(reports):
        assert rep is not None, f"no delivery report for message {i}"
        err, msg = rep
        assert err is None, f"delivery of message {i} failed: {err}"
        out.append(confluent_rec(msg))
    return out


def confluent_rec(msg: Any) -> Rec:
    """A confluent-kafka Message (consumed, or in a delivery report) as a `Rec`."""
    from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME

    ts_type, ts = msg.timestamp()
    type_name = {TIMESTAMP_CREATE_TIME: CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME: LOG_APPEND_TIME}.get(ts_type, f"type-{ts_type}")
    return Rec(msg.partition(), msg.offset(), msg.key(), msg.value(), norm_headers(msg.headers()), ts, type_name)


def confluent_consumer(bootstrap: str, conf: dict[str, Any] | None = None) -> Any:
    """A consumer for assign() with explicit start offsets and no commits: librdkafka
    requires a group.id, but the tests that use it never touch the group APIs."""
    from confluent_kafka import Consumer

    full = {"bootstrap.servers": bootstrap, "group.id": "snakafka-it-assign", "enable.auto.commit": False,
            "enable.auto.offset.store": False, "socket.timeout.ms": 5000, "fetch.wait.max.ms": 100,
            "enable.partition.eof": True}
    full.update(conf or {})
    return Consumer(full)


def confluent_high_watermarks(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    from confluent_kafka import TopicPartition

    c = confluent_consumer(bootstrap)
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1] for p in range(partitions)}
    finally:
        c.close()


def confluent_consume(bootstrap: str, topic: str, partitions: Iterable[int], *, timeout: float = 20.0,
                      start: int = 0, conf: dict[str, Any] | None = None) -> list[Rec]:
    """Read every partition from `start` (assign, no group) up to its end, as seen by
    partition-EOF events; returns records in consumption order."""
    return confluent_consume_topics(bootstrap, {topic: partitions}, timeout=timeout, start=start, conf=conf)[topic]


def confluent_consume_topics(bootstrap: str, partitions: Mapping[str, Iterable[int]], *, timeout: float = 20.0,
                             start: int = 0, conf: dict[str, Any] | None = None) -> dict[str, list[Rec]]:
    """`confluent_consume` of several topics by one consumer: topic -> its records in
    consumption order."""
    from confluent_kafka import KafkaError, TopicPartition

    parts = [(topic, p) for topic, ps in partitions.items() for p in ps]
    c = confluent_consumer(bootstrap, conf)
    out: dict[str, list[Rec]] = {topic: [] for topic in partitions}
    try:
        c.assign([TopicPartition(topic, p, start) for topic, p in parts])
        at_eof: set[tuple[str, int]] = set()
        deadline = time.monotonic() + timeout
        while at_eof != set(parts):
            assert time.monotonic() < deadline, f"consume of {sorted(out)} timed out; partitions at end: {sorted(at_eof)} of {parts}"
            msg = c.poll(0.2)
            if msg is None:
                continue
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    at_eof.add((msg.topic(), msg.partition()))
                    continue
                raise AssertionError(f"consumer error: {msg.error()}")
            at_eof.discard((msg.topic(), msg.partition()))
            out[msg.topic()].append(confluent_rec(msg))
    finally:
        c.close()
    return out


def confluent_smoke(bootstrap: str, topic: str | None = None) -> None:
    """Another client still works on this broker: create a topic, produce, consume back."""
    import uuid

    topic = topic or f"smoke-{uuid.uuid4().hex[:8]}"
    confluent_create_topic(bootstrap, topic, 2)
    sends = workload(2, keyed=4, null_key=2, explicit=2, tag="smoke")
    acked = confluent_produce(bootstrap, topic, sends, conf={"linger.ms": 0})
    check_log(sends, acked, confluent_consume(bootstrap, topic, range(2)))


# -- raw sockets -------------------------------------------------------------------------


class ConnectionClosed(Exception):
    pass


class RawConnection:
    """A plain TCP connection speaking Kafka's framing (4-byte big-endian size prefix)."""

    def __init__(self, bootstrap: str, timeout: float = 5.0) -> None:
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.settimeout(timeout)
        self._correlation = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawConnection:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except ConnectionResetError as exc:
                raise ConnectionClosed("reset") from exc
            if not chunk:
                raise ConnectionClosed(f"EOF after {len(buf)} of {n} bytes")
            buf += chunk
        return bytes(buf)

    def recv_frame(self) -> bytes:
        (size,) = struct.unpack(">i", self._recv_exact(4))
        return self._recv_exact(size)

    def request(self, request: Any, client_id: str | None = "snakafka-it") -> Any:
        """Send a kio request, return the decoded response body (correlation id checked)."""
        from snakafka.protocol.codec import decode_response, encode_request

        self._correlation += 1
        self.send_raw(encode_request(self._correlation, request, client_id=client_id))
        correlation, body = decode_response(int(request.__api_key__), int(request.__version__), self.recv_frame())
        assert correlation == self._correlation, f"correlation id {correlation} != {self._correlation}"
        return body

    def closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True when the broker closes the connection (EOF or reset) within `timeout`
        without sending anything; False if it stays open; AssertionError if it answers."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
        assert not data, f"expected the connection to be closed, got {len(data)} bytes: {data[:64]!r}"
        return True


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def legacy_header(api_key: int, version: int, correlation_id: int, client_id: str | None = "raw") -> bytes:
    """Request header v1: api key i16, version i16, correlation id i32, client id as a
    legacy (i16-length) nullable string."""
    cid = b"\xff\xff" if client_id is None else struct.pack(">h", len(client_id)) + client_id.encode()
    return struct.pack(">hhi", api_key, version, correlation_id) + cid


@dataclass
class ApiVersionsV0:
    correlation_id: int
    error_code: int
    api_keys: dict[int, tuple[int, int]] = field(default_factory=dict)


def parse_api_versions_v0(frame_body: bytes) -> ApiVersionsV0:
    """Parse an ApiVersionsResponse v0 by hand: correlation id, error code i16, array
    (i32 count) of (api key i16, min i16, max i16)."""
    correlation_id, error_code, count = struct.unpack_from(">ihi", frame_body, 0)
    pos = 10
    keys = {}
    for _ in range(count):
        k, lo, hi = struct.unpack_from(">hhh", frame_body, pos)
        keys[k] = (lo, hi)
        pos += 6
    assert pos == len(frame_body), f"ApiVersions v0 response has {len(frame_body) - pos} trailing bytes"
    return ApiVersionsV0(correlation_id, error_code, keys)


def raw_fetch_bytes(bootstrap: str, topic: str, partition: int, offset: int = 0, max_bytes: int = 10 << 20,
                    max_wait_ms: int = 0) -> tuple[int, int, bytes]:
    """One Fetch v12 over a raw connection: (error code, high watermark, the records
    field's bytes exactly as the broker stores and sends them)."""
    import datetime

    from kio.schema.fetch.v12.request import FetchPartition, FetchRequest, FetchTopic
    from kio.schema.types import TopicName
    from kio.static.primitive import i32, i32Timedelta, i64

    request = FetchRequest(max_wait=i32Timedelta.parse(datetime.timedelta(milliseconds=max_wait_ms)), min_bytes=i32(1),
                           max_bytes=i32(max_bytes), topics=(FetchTopic(topic=TopicName(topic), partitions=(FetchPartition(
                               partition=i32(partition), fetch_offset=i64(offset), partition_max_bytes=i32(max_bytes)),)),),
                           forgotten_topics_data=())
    with RawConnection(bootstrap) as conn:
        resp = conn.request(request)
    [t] = resp.responses
    [p] = t.partitions
    return int(p.error_code.value), int(p.high_watermark), bytes(p.records or b"")


def raw_fetch(bootstrap: str, topic: str, partition: int, offset: int = 0, max_bytes: int = 10 << 20,
              max_wait_ms: int = 0) -> tuple[int, int, list[tuple[Any, list[Any]]]]:
    """raw_fetch_bytes, decoded: (error code, high watermark, [(batch header, records)])
    with the batches as stored (so their codec and timestamp type can be checked). A
    trailing partial batch is dropped."""
    from snakafka.protocol.batch import LOG_OVERHEAD
    from snakafka.protocol.records import decode_batch

    error, high_watermark, data = raw_fetch_bytes(bootstrap, topic, partition, offset, max_bytes, max_wait_ms)
    batches = []
    pos = 0
    while pos + LOG_OVERHEAD <= len(data):
        size = struct.unpack_from(">i", data, pos + 8)[0] + LOG_OVERHEAD
        if pos + size > len(data):
            break
        batches.append(decode_batch(data[pos:pos + size]))
        pos += size
    return error, high_watermark, batches


CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def assert_stored_codec(bootstrap: str, topic: str, partitions: Iterable[int], codec: str) -> None:
    """The batches the broker holds really use `codec` (a client may silently fall back
    to no compression; tiny batches it may leave uncompressed, but never all of them)."""
    want = CODEC_IDS[codec]
    seen = []
    for p in partitions:
        err, _, batches = raw_fetch(bootstrap, topic, p)
        assert err == 0, err
        seen += [h.compression for h, _ in batches]
    assert seen, f"no batches in {topic}"
    assert set(seen) <= {0, want}, f"stored codecs {sorted(set(seen))}, expected {codec} ({want})"
    assert want in seen, f"no batch of {topic} is stored with {codec} ({want}): codecs {sorted(set(seen))}"

"""Produce validation (Kafka's LogValidator) against a real broker subprocess: hand-built
batches for no compression and every codec over a raw connection (Produce v9), lookups
through confluent-kafka's offsets_for_times, and real clients' batches stored as sent."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from confluent_kafka import KafkaError, TopicPartition
from kio.schema.produce.v9.request import (
    PartitionProduceData,
    ProduceRequest,
    TopicProduceData,
)
from kio.schema.types import TopicName
from kio.static.primitive import Records, i16, i32, i32Timedelta
from support.batches import hand_batch, make_batch, raw_record

from integration.helpers import (
    BASE_TS,
    RawConnection,
    Send,
    confluent_consumer,
    confluent_create_topic,
    confluent_producer,
    now_ms,
    raw_fetch_bytes,
)
from snakafka.protocol.batch import HEADER_SIZE, iter_batches, validate_batch
from snakafka.testing.process import BrokerProcess

CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
INVALID_TIMESTAMP = 32
INVALID_RECORD = 87


def produce(bootstrap: str, topic: str, partitions: dict[int, bytes]) -> dict[int, Any]:
    """One Produce v9 (acks=1); {partition: its PartitionProduceResponse}."""
    request = ProduceRequest(transactional_id=None, acks=i16(1), timeout=i32Timedelta.parse(datetime.timedelta(seconds=5)),
                             topic_data=(TopicProduceData(name=TopicName(topic), partition_data=tuple(
                                 PartitionProduceData(index=i32(p), records=Records(data))
                                 for p, data in partitions.items())),))
    with RawConnection(bootstrap) as conn:
        resp = conn.request(request)
    [t] = resp.responses
    return {int(p.index): p for p in t.partition_responses}


def new_topic(broker: BrokerProcess, partitions: int, config: dict[str, str] | None = None) -> str:
    name = f"validation-{uuid.uuid4().hex[:8]}"
    confluent_create_topic(broker.bootstrap, name, partitions, config)
    return name


def section(deltas: list[int]) -> bytes:
    return b"".join(raw_record(i, d, key=b"k%d" % i, value=b"v%d" % i) for i, d in enumerate(deltas))


def test_wrong_max_timestamps_are_corrected_and_found_by_offsets_for_times(broker: BrokerProcess) -> None:
    """One partition per codec; batches whose header max timestamp is -1, too low or too
    high are stored with the records' real maximum (CRC valid), so a real client's
    offsets_for_times lands on the right records."""
    topic = new_topic(broker, len(CODECS))
    deltas = [0, 3_000, 1_000, 5_000]  # records at BASE_TS + these, offsets 0..3
    for p, codec in enumerate(CODECS.values()):
        for claimed in (-1, BASE_TS, BASE_TS + 60_000):
            batch = hand_batch(section(deltas), count=4, codec=codec, base_timestamp=BASE_TS, max_timestamp=claimed)
            [answer] = produce(broker.bootstrap, topic, {p: batch}).values()
            assert int(answer.error_code.value) == 0, answer
        error, _, stored = raw_fetch_bytes(broker.bootstrap, topic, p)
        assert error == 0
        headers = [validate_batch(stored, pos) for pos, _ in iter_batches(stored)]  # CRC-32C checked
        assert [(h.base_offset, h.max_timestamp, h.compression) for h in headers] == [
            (0, BASE_TS + 5_000, codec), (4, BASE_TS + 5_000, codec), (8, BASE_TS + 5_000, codec)]
    consumer = confluent_consumer(broker.bootstrap)
    try:
        for target, want in ((BASE_TS, 0), (BASE_TS + 1, 1), (BASE_TS + 2_500, 1), (BASE_TS + 4_000, 3),
                             (BASE_TS + 5_000, 3)):
            found = consumer.offsets_for_times([TopicPartition(topic, p, target) for p in range(len(CODECS))], 10)
            assert [tp.offset for tp in found] == [want] * len(CODECS), (target, found)
        found = consumer.offsets_for_times([TopicPartition(topic, 0, BASE_TS + 5_001)], 10)
        assert found[0].offset == -1  # nothing later (librdkafka's answer for "none")
    finally:
        consumer.close()


MALFORMED = [
    ("count above the records", section([0, 1]), 3),
    ("offset deltas not contiguous", raw_record(0) + raw_record(2), 2),
    ("truncated record", section([0, 1])[:-2], 2),
    ("overlong record", raw_record(0, length_adjust=2) + b"xx", 1),
    ("bad varint", raw_record(0) + b"\x18\x00" + b"\xff" * 11, 2),
]


@pytest.mark.parametrize("codec", list(CODECS))
def test_malformed_records_are_refused_with_record_errors(broker: BrokerProcess, codec: str) -> None:
    topic = new_topic(broker, len(MALFORMED) + 1)
    partitions = {p: hand_batch(data, count=count, codec=CODECS[codec]) for p, (_, data, count) in enumerate(MALFORMED)}
    partitions[len(MALFORMED)] = hand_batch(section([0, 1]), count=2, codec=CODECS[codec])  # a good one alongside
    answers = produce(broker.bootstrap, topic, partitions)
    for p, (name, _, _) in enumerate(MALFORMED):
        answer = answers[p]
        assert int(answer.error_code.value) == INVALID_RECORD, (name, answer)
        assert answer.error_message and f"in topic partition {topic}-{p}" in answer.error_message, name
        [record_error] = answer.record_errors
        assert record_error.batch_index >= 0 and record_error.batch_index_error_message, name
    assert int(answers[len(MALFORMED)].error_code.value) == 0
    assert int(answers[len(MALFORMED)].base_offset) == 0
    for p in range(len(MALFORMED)):  # nothing of a refused batch was stored
        assert raw_fetch_bytes(broker.bootstrap, topic, p)[1] == 0


@pytest.mark.parametrize("config", [
    {"message.timestamp.before.max.ms": "3600000", "message.timestamp.after.max.ms": "3600000"},
    {"message.timestamp.difference.max.ms": "3600000"},  # the pre-KIP-937 key bounds both sides
])
def test_timestamps_out_of_bounds_are_invalid_timestamp(broker: BrokerProcess, config: dict[str, str]) -> None:
    topic = new_topic(broker, len(CODECS), config)
    now = now_ms()
    for p, codec in enumerate(CODECS.values()):
        old = hand_batch(section([0, 7_200_000, 7_300_000]), count=3, codec=codec, base_timestamp=now - 7_300_000)
        future = hand_batch(section([0, 7_200_000]), count=2, codec=codec, base_timestamp=now)
        fine = hand_batch(section([0, 1_000]), count=2, codec=codec, base_timestamp=now - 1_000, max_timestamp=-1)
        for batch, bad in ((old, [0]), (future, [1])):
            [answer] = produce(broker.bootstrap, topic, {p: batch}).values()
            assert int(answer.error_code.value) == INVALID_TIMESTAMP, answer
            assert answer.error_message == "One or more records have been rejected due to invalid timestamp"
            assert [e.batch_index for e in answer.record_errors] == bad
            assert "is out of range" in (answer.record_errors[0].batch_index_error_message or "")
        [answer] = produce(broker.bootstrap, topic, {p: fine}).values()
        assert (int(answer.error_code.value), int(answer.base_offset)) == (0, 0)
    # a real client gets the error in its delivery report
    producer = confluent_producer(broker.bootstrap, {"linger.ms": 0, "acks": 1, "retries": 0})
    reports: list[Any] = []
    producer.produce(topic, b"late", partition=0, timestamp=now - 7_200_000, on_delivery=lambda e, m: reports.append(e))
    producer.produce(topic, b"now", partition=1, timestamp=now_ms(), on_delivery=lambda e, m: reports.append(e))
    assert producer.flush(15) == 0
    codes = sorted(e.code() if e is not None else 0 for e in reports)
    assert codes == [0, KafkaError.INVALID_TIMESTAMP], reports


@pytest.mark.parametrize("codec", list(CODECS))
def test_a_real_clients_batches_are_stored_byte_identical(broker: BrokerProcess, codec: str) -> None:
    """kafka-python's encoder (a real client's bytes), every codec: only the base offset
    and partition leader epoch (not CRC-covered) are the broker's; every other byte,
    header and records, is as sent."""
    topic = new_topic(broker, 1)
    sent = [make_batch(50, timestamp=now_ms() - 100, value_size=30, compression=CODECS[codec]) for _ in range(3)]
    for batch in sent:
        [answer] = produce(broker.bootstrap, topic, {0: batch}).values()
        assert int(answer.error_code.value) == 0, answer
    error, _, stored = raw_fetch_bytes(broker.bootstrap, topic, 0)
    assert error == 0 and len(stored) == sum(map(len, sent))
    pos = 0
    for i, batch in enumerate(sent):
        got = stored[pos : pos + len(batch)]
        assert int.from_bytes(got[:8], "big") == 50 * i
        assert got[8:12] == batch[8:12] and got[16:] == batch[16:]
        assert got[HEADER_SIZE:] == batch[HEADER_SIZE:]
        pos += len(batch)


def test_confluent_batches_round_trip_with_their_timestamps(broker: BrokerProcess) -> None:
    """librdkafka's own batches, every codec, pass validation and keep their timestamps."""
    topic = new_topic(broker, len(CODECS))
    sends = [Send(b"k%d" % i, b"v%d" % i * 20, (), BASE_TS + i * 10, partition=p)
             for p in range(len(CODECS)) for i in range(20)]
    for p, codec in enumerate(CODECS):
        producer = confluent_producer(broker.bootstrap, {"compression.type": codec, "linger.ms": 50})
        for s in sends:
            if s.partition == p:
                producer.produce(topic, s.value, s.key, partition=p, timestamp=s.timestamp)
        assert producer.flush(15) == 0
    consumer = confluent_consumer(broker.bootstrap)
    try:
        found = consumer.offsets_for_times([TopicPartition(topic, p, BASE_TS + 95) for p in range(len(CODECS))], 10)
        assert [tp.offset for tp in found] == [10] * len(CODECS)
    finally:
        consumer.close()

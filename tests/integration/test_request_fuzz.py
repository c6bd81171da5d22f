"""Well-formed requests with hostile contents, for every API and version the broker serves.

hypothesis builds each request from kio's schema types (any strings, any integers in the
field's range, empty and long arrays, null where the schema allows it), so the frame
decodes and the handler runs on values no client would send. Kafka answers such a
request with error codes; so must we: every request gets its answer, on the same
connection, and the broker stays up for everyone else. A handler that raises closes
the connection instead, which fails this test.

A few fields are bounded so that a request cannot legitimately take long: Fetch waits
at most 50 ms, acks=0 (no answer at all) is left out, new topics get at most a few
partitions, and group ids are made unique per example so that no join waits on a member
of an earlier example. The broker is this module's own, as it ends up with odd topics.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from kio.static.primitive import Records

from integration.helpers import RawConnection
from snakafka.protocol import codec
from snakafka.protocol.records import NewRecord, encode_batch
from snakafka.server.apis import BROKER_APIS
from snakafka.testing.process import BrokerProcess

ANSWER_TIMEOUT = 10.0
VERSIONS = [(api.key, v) for api in BROKER_APIS for v in range(api.min_version, api.max_version + 1)]
_ids = itertools.count(1)

# record data: noise, or a real batch (so Produce gets past the batch checks sometimes)
st.register_type_strategy(Records, st.one_of(
    st.binary(max_size=80),
    st.builds(lambda n, key: encode_batch([NewRecord(key=key, value=b"v", offset_delta=i) for i in range(n)]),
              st.integers(1, 3), st.one_of(st.none(), st.binary(max_size=4))),
).map(Records))


@pytest.fixture(scope="module")
def fuzz_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(tmp_path_factory.mktemp("fuzz") / "data", overrides={"group.initial.rebalance.delay.ms": "0"})
    proc.start()
    yield proc
    proc.stop()


def _bounded(value: Any) -> Any:
    """The request with the fields that could make a correct broker slow put in bounds."""
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        if isinstance(value, tuple):
            return tuple(_bounded(v) for v in value)
        return value
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(value):
        current = getattr(value, f.name)
        if f.name == "max_wait":
            changes[f.name] = min(current, datetime.timedelta(milliseconds=50))
        elif f.name == "acks" and current == 0:
            changes[f.name] = type(current)(1)
        elif f.name in ("num_partitions", "count") and current > 4:
            changes[f.name] = type(current)(current % 5)
        elif f.name == "replication_factor" and current > 1:
            changes[f.name] = type(current)(1)
        elif f.name == "group_id" and isinstance(current, str):
            changes[f.name] = type(current)(f"{current[:20]}-{uuid.uuid4().hex[:8]}")
        else:
            changes[f.name] = _bounded(current)
    return dataclasses.replace(value, **changes)


@st.composite
def requests(draw: st.DrawFn) -> tuple[int, int, Any]:
    key, version = draw(st.sampled_from(VERSIONS))
    request = draw(st.from_type(codec.request_type(key, version)))
    return key, version, _bounded(request)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=requests())
def test_every_well_formed_request_is_answered(fuzz_broker: BrokerProcess, case: tuple[int, int, Any]) -> None:
    key, version, request = case
    correlation_id = next(_ids)
    try:
        frame = codec.encode_request(correlation_id, request, client_id="fuzz")
    except Exception:  # noqa: BLE001 - a value kio cannot encode (e.g. a string over 32767 bytes)
        assume(False)
    assume(len(frame) < 1_000_000)
    with RawConnection(fuzz_broker.bootstrap, timeout=ANSWER_TIMEOUT) as conn:
        conn.send_raw(frame)
        try:
            answer = conn.recv_frame()
        except Exception as exc:
            raise AssertionError(f"no answer to api {key} v{version}: {exc!r}\nrequest: {request!r}") from exc
    got, _ = codec.decode_response(key, version, answer)
    assert got == correlation_id
    assert fuzz_broker.proc is not None and fuzz_broker.proc.poll() is None
    log = broker_log(fuzz_broker)
    assert "unexpected error handling a request" not in log, log[log.find("unexpected error"):][:3000]


def broker_log(broker: BrokerProcess) -> str:
    return (broker.data_dir.parent / f"broker-{broker.port}.log").read_text(errors="replace")

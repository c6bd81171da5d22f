"""Adapter between frames and kio's schema-generated message types.

kio (generated from Kafka's JSON message definitions) owns every message struct; this
module only picks the right header and body schema for an (api key, version) pair and
frames the result. It is sans-I/O: bytes in, dataclasses out, and back.
"""

from __future__ import annotations

import dataclasses
import io
import struct
from dataclasses import dataclass
from functools import cache
from typing import Any

from kio.index import load_request_schema, load_response_schema
from kio.schema.request_header.v1.header import RequestHeader as RequestHeaderV1
from kio.schema.request_header.v2.header import RequestHeader as RequestHeaderV2
from kio.serial import entity_reader, entity_writer
from kio.static.primitive import i16, i32

from snakafka.protocol.framing import Frame

API_VERSIONS_KEY = 18

_API_KEY_VERSION = struct.Struct(">hh")
_CORRELATION = struct.Struct(">ii")  # size prefix, correlation id
_read_header_v1 = entity_reader(RequestHeaderV1)
_read_header_v2 = entity_reader(RequestHeaderV2)
_INT16 = struct.Struct(">h")
_INT64 = struct.Struct(">q")
OFFSET_COMMIT_KEY = 8
# kio turns OffsetCommit v2-v4's retention_time (an int64 of milliseconds) into a timedelta
# through int64 microseconds, so it refuses what Java's long holds beyond +-292,000 years.
_TIMEDELTA_MS_LIMIT = (2**63 - 1) // 1000


class RequestDecodeError(Exception):
    """A frame whose header or body cannot be parsed: Kafka closes such connections."""


@dataclass(frozen=True, slots=True)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None


@cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls))


def build(cls: type, **values: Any) -> Any:
    """Instantiate a kio class with the subset of `values` it has fields for: one set of
    keyword arguments fills a request or response of any version."""
    names = _field_names(cls)
    return cls(**{k: v for k, v in values.items() if k in names})


def has_field(cls: type, name: str) -> bool:
    return name in _field_names(cls)


def peek_api(frame: Frame) -> tuple[int, int]:
    """The api key and version of a frame, read before choosing a header schema."""
    if len(frame) < 8:
        raise RequestDecodeError(f"request frame of {len(frame)} bytes is shorter than a header")
    return _API_KEY_VERSION.unpack_from(frame, 0)


def peek_correlation_id(frame: Frame) -> int:
    if len(frame) < 8:
        raise RequestDecodeError("request frame too short for a correlation id")
    return struct.unpack_from(">i", frame, 4)[0]


@cache
def request_type(api_key: int, api_version: int) -> type[Any]:
    return load_request_schema(api_key, api_version)


@cache
def response_type(api_key: int, api_version: int) -> type[Any]:
    return load_response_schema(api_key, api_version)


@cache
def _body_reader(api_key: int, api_version: int) -> Any:
    return entity_reader(request_type(api_key, api_version))


@cache
def _body_writer(api_key: int, api_version: int) -> Any:
    return entity_writer(response_type(api_key, api_version))


@cache
def _request_writer(api_key: int, api_version: int) -> Any:
    return entity_writer(request_type(api_key, api_version))


def decode_request(frame: Frame) -> tuple[RequestHeader, Any]:
    """Parse header and body of a request whose (key, version) we support.

    Callers check support with peek_api first; any parse failure becomes RequestDecodeError.
    """
    api_key, api_version = peek_api(frame)
    try:
        flexible = request_type(api_key, api_version).__flexible__
        kio_header, offset = (_read_header_v2 if flexible else _read_header_v1)(frame, 0)
        if api_key == OFFSET_COMMIT_KEY and 2 <= api_version <= 4:
            frame = _clamp_retention_time(frame, offset)
        body, size = _body_reader(api_key, api_version)(frame, offset)
    except RequestDecodeError:
        raise
    except Exception as exc:  # kio raises assorted errors on malformed input
        raise RequestDecodeError(f"malformed {api_key=} v{api_version} request: {exc}") from exc
    if offset + size > len(frame):
        raise RequestDecodeError("request body overruns its frame")
    header = RequestHeader(api_key, api_version, kio_header.correlation_id, kio_header.client_id)
    return header, body


def _clamp_retention_time(frame: Frame, pos: int) -> Frame:
    """Kafka takes any retention_time (-1 is the broker default; a few thousand centuries
    means "never"), so a value beyond what kio can decode is clamped rather than refused."""
    for _string in range(2):  # group_id, then member_id, with generation_id between
        length = _INT16.unpack_from(frame, pos)[0]
        pos += 2 + max(length, 0) + (4 if _string == 0 else 0)
    if pos + 8 > len(frame):
        return frame  # truncated: kio's own error says so
    value = _INT64.unpack_from(frame, pos)[0]
    if -_TIMEDELTA_MS_LIMIT <= value <= _TIMEDELTA_MS_LIMIT:
        return frame
    clamped = bytearray(frame)
    _INT64.pack_into(clamped, pos, max(-_TIMEDELTA_MS_LIMIT, min(value, _TIMEDELTA_MS_LIMIT)))
    return bytes(clamped)


def encode_response(api_key: int, api_version: int, correlation_id: int, response: Any) -> bytes:
    """Frame a response: size, header (v1 with tagged fields for flexible versions, but
    always v0 for ApiVersions so that clients can read it before negotiating), body."""
    buf = io.BytesIO()
    buf.write(b"\0\0\0\0")
    buf.write(correlation_id.to_bytes(4, "big", signed=True))
    if response.__flexible__ and api_key != API_VERSIONS_KEY:
        buf.write(b"\0")  # empty tagged fields
    _body_writer(api_key, api_version)(buf, response)
    data = buf.getbuffer()
    struct.pack_into(">i", data, 0, len(data) - 4)
    del data
    return buf.getvalue()


def encode_request(correlation_id: int, request: Any, client_id: str | None = "snakafka") -> bytes:
    """Frame a request (for tests and for our own inter-broker client)."""
    api_key, api_version = int(request.__api_key__), int(request.__version__)
    buf = io.BytesIO()
    buf.write(b"\0\0\0\0")
    header_type = RequestHeaderV2 if request.__flexible__ else RequestHeaderV1
    header = header_type(
        request_api_key=i16(api_key), request_api_version=i16(api_version), correlation_id=i32(correlation_id),
        client_id=client_id,
    )
    entity_writer(header_type)(buf, header)
    _request_writer(api_key, api_version)(buf, request)
    data = buf.getbuffer()
    struct.pack_into(">i", data, 0, len(data) - 4)
    del data
    return buf.getvalue()


def decode_response(api_key: int, api_version: int, frame: bytes) -> tuple[int, Any]:
    """Parse a response frame (without size prefix): (correlation id, body)."""
    correlation_id = struct.unpack_from(">i", frame, 0)[0]
    rtype = response_type(api_key, api_version)
    offset = 4
    if rtype.__flexible__ and api_key != API_VERSIONS_KEY:
        offset += 1  # we only ever receive empty header tagged fields from ourselves
    body, _ = entity_reader(rtype)(frame, offset)
    return correlation_id, body

"""ApiVersions: which api keys and version ranges this broker fully implements.

One exception, as in Kafka 4.0 (KAFKA-18659): Produce is advertised from v0 although
v0-v2 requests are refused, because librdkafka keys gzip/snappy (and lz4) support on
the broker listing Produce v2 and would otherwise silently stop compressing.
"""

from __future__ import annotations

from typing import Any

from kio.schema.api_versions.v0.response import ApiVersion as ApiVersionV0
from kio.schema.api_versions.v0.response import (
    ApiVersionsResponse as ApiVersionsResponseV0,
)
from kio.schema.errors import ErrorCode
from kio.static.primitive import i16

from snakafka.protocol import codec
from snakafka.server.context import ZERO, RequestContext, build
from snakafka.server.services import ApiRange, ApiTable

PRODUCE_KEY = 0


def advertised_min_version(api: ApiRange) -> int:
    return 0 if api.key == PRODUCE_KEY else int(api.min_version)


async def handle_api_versions(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    keys = tuple(
        build(schema.ApiVersion, api_key=i16(api.key), min_version=i16(advertised_min_version(api)),
              max_version=i16(api.max_version))
        for api in sorted(ctx.broker.dispatcher.apis.values(), key=lambda a: a.key) if api.advertised
    )
    return build(
        schema.ApiVersionsResponse,
        error_code=ErrorCode.none,
        api_keys=keys,
        throttle_time=ZERO,
        supported_features=(),
        finalized_features_epoch=-1,
        finalized_features=(),
        zk_migration_ready=False,
    )


def unsupported_version_response(correlation_id: int, dispatcher: ApiTable) -> bytes:
    """Kafka's fallback: a v0 response with UNSUPPORTED_VERSION and our ranges."""
    keys = tuple(
        ApiVersionV0(api_key=i16(api.key), min_version=i16(advertised_min_version(api)), max_version=i16(api.max_version))
        for api in sorted(dispatcher.apis.values(), key=lambda a: a.key) if api.advertised
    )
    response = ApiVersionsResponseV0(error_code=ErrorCode.unsupported_version, api_keys=keys)
    return codec.encode_response(codec.API_VERSIONS_KEY, 0, correlation_id, response)

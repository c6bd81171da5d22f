"""The api table: every api key we serve, the versions we fully implement, its handler.

ApiVersions advertises exactly this table. Ranges stop where a later version needs
something we lack (e.g. topic ids in Fetch v13+ / Produce v13).
"""

from __future__ import annotations

from snakafka.server.dispatch import Api
from snakafka.server.handlers.api_versions import handle_api_versions
from snakafka.server.handlers.configs import (
    handle_alter_configs,
    handle_describe_configs,
    handle_incremental_alter_configs,
)
from snakafka.server.handlers.fetch import handle_fetch
from snakafka.server.handlers.list_offsets import handle_list_offsets
from snakafka.server.handlers.metadata import handle_metadata
from snakafka.server.handlers.produce import handle_produce
from snakafka.server.handlers.producer import handle_init_producer_id
from snakafka.server.handlers.topics import (
    handle_create_partitions,
    handle_create_topics,
    handle_delete_topics,
    handle_describe_cluster,
)

BROKER_APIS: list[Api] = [
    Api(0, 3, 9, handle_produce),
    Api(1, 4, 12, handle_fetch),
    Api(2, 1, 7, handle_list_offsets),
    Api(3, 0, 12, handle_metadata),
    Api(18, 0, 3, handle_api_versions),
    Api(19, 2, 7, handle_create_topics),
    Api(20, 1, 6, handle_delete_topics),
    Api(22, 0, 4, handle_init_producer_id),
    Api(32, 1, 4, handle_describe_configs),
    Api(33, 0, 2, handle_alter_configs),
    Api(37, 0, 3, handle_create_partitions),
    Api(44, 0, 1, handle_incremental_alter_configs),
    Api(60, 0, 1, handle_describe_cluster),
]

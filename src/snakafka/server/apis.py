"""The api table: every api key we serve, the versions we fully implement, its handler.

ApiVersions advertises exactly this table. Ranges stop where a later version needs
something we lack (e.g. topic ids in Fetch v13+ / Produce v13).
"""

from __future__ import annotations

from snakafka.server.dispatch import Api
from snakafka.server.handlers.acls import (
    handle_create_acls,
    handle_delete_acls,
    handle_describe_acls,
)
from snakafka.server.handlers.api_versions import handle_api_versions
from snakafka.server.handlers.configs import (
    handle_alter_configs,
    handle_describe_configs,
    handle_incremental_alter_configs,
)
from snakafka.server.handlers.controlled_shutdown import handle_broker_heartbeat
from snakafka.server.handlers.fetch import handle_fetch
from snakafka.server.handlers.groups import (
    handle_delete_groups,
    handle_describe_groups,
    handle_find_coordinator,
    handle_heartbeat,
    handle_join_group,
    handle_leave_group,
    handle_list_groups,
    handle_offset_commit,
    handle_offset_delete,
    handle_offset_fetch,
    handle_sync_group,
)
from snakafka.server.handlers.leader_election import handle_elect_leaders
from snakafka.server.handlers.list_offsets import (
    handle_list_offsets,
    handle_offset_for_leader_epoch,
)
from snakafka.server.handlers.metadata import handle_metadata
from snakafka.server.handlers.partition_admin import (
    handle_delete_records,
    handle_describe_log_dirs,
    handle_describe_producers,
)
from snakafka.server.handlers.produce import handle_produce
from snakafka.server.handlers.producer import handle_init_producer_id
from snakafka.server.handlers.reassignments import (
    handle_alter_partition_reassignments,
    handle_list_partition_reassignments,
)
from snakafka.server.handlers.sasl import (
    handle_alter_user_scram_credentials,
    handle_describe_user_scram_credentials,
    handle_sasl_authenticate,
    handle_sasl_handshake,
)
from snakafka.server.handlers.topics import (
    handle_create_partitions,
    handle_create_topics,
    handle_delete_topics,
    handle_describe_cluster,
)
from snakafka.server.handlers.txn import (
    handle_add_offsets_to_txn,
    handle_add_partitions_to_txn,
    handle_describe_transactions,
    handle_end_txn,
    handle_list_transactions,
    handle_txn_offset_commit,
    handle_write_txn_markers,
)

BROKER_APIS: list[Api] = [
    Api(0, 3, 9, handle_produce),
    Api(1, 4, 12, handle_fetch),
    Api(2, 1, 7, handle_list_offsets),
    Api(3, 0, 12, handle_metadata),
    Api(8, 2, 9, handle_offset_commit),
    Api(9, 1, 9, handle_offset_fetch),
    Api(10, 0, 4, handle_find_coordinator),
    Api(11, 0, 9, handle_join_group),
    Api(12, 0, 4, handle_heartbeat),
    Api(13, 0, 5, handle_leave_group),
    Api(14, 0, 5, handle_sync_group),
    Api(15, 0, 5, handle_describe_groups),
    Api(16, 0, 4, handle_list_groups),
    Api(17, 0, 1, handle_sasl_handshake),  # during authentication the listener's authenticator answers
    Api(18, 0, 3, handle_api_versions),
    Api(19, 2, 7, handle_create_topics),
    Api(20, 1, 6, handle_delete_topics),
    Api(22, 0, 4, handle_init_producer_id),
    Api(23, 2, 4, handle_offset_for_leader_epoch),
    Api(24, 0, 3, handle_add_partitions_to_txn),
    Api(25, 0, 3, handle_add_offsets_to_txn),
    Api(26, 0, 3, handle_end_txn),
    Api(27, 1, 1, handle_write_txn_markers),
    Api(28, 0, 3, handle_txn_offset_commit),
    Api(29, 1, 3, handle_describe_acls),  # v0 (literal patterns only) is not in kio
    Api(30, 1, 3, handle_create_acls),
    Api(31, 1, 3, handle_delete_acls),
    Api(32, 1, 4, handle_describe_configs),
    Api(33, 0, 2, handle_alter_configs),
    Api(36, 0, 2, handle_sasl_authenticate),
    Api(37, 0, 3, handle_create_partitions),
    Api(42, 0, 2, handle_delete_groups),
    Api(44, 0, 1, handle_incremental_alter_configs),
    Api(45, 0, 0, handle_alter_partition_reassignments),
    Api(46, 0, 0, handle_list_partition_reassignments),
    Api(47, 0, 0, handle_offset_delete),
    Api(50, 0, 0, handle_describe_user_scram_credentials),
    Api(51, 0, 0, handle_alter_user_scram_credentials),
    Api(60, 0, 1, handle_describe_cluster),
    Api(63, 0, 2, handle_broker_heartbeat, advertised=False),  # controlled shutdown (wantShutDown), see its module
    Api(65, 0, 0, handle_describe_transactions),
    Api(66, 0, 1, handle_list_transactions),
    # -- operations (issue 12): what admin tools, web UIs and balancers call ---------------
    Api(21, 0, 2, handle_delete_records),
    Api(35, 1, 4, handle_describe_log_dirs),
    Api(43, 0, 2, handle_elect_leaders),
    Api(61, 0, 0, handle_describe_producers),
]

"""The api table: every api key we serve, the versions we fully implement, its handler.

ApiVersions advertises exactly this table. Ranges stop where a later version needs
something we lack (e.g. topic ids in Fetch v13+ / Produce v13).

Handlers are named, not imported: each handler module (and the kio schemas it uses) loads
on its API's first request, so a broker's start does not pay for the APIs a client never
calls (see `LazyHandler`).
"""

from __future__ import annotations

from snakafka.server.dispatch import Api, LazyHandler

lazy = LazyHandler  # a short name for the table

BROKER_APIS: list[Api] = [
    Api(0, 3, 9, lazy("produce:handle_produce")),
    Api(1, 4, 12, lazy("fetch:handle_fetch")),
    Api(2, 1, 7, lazy("list_offsets:handle_list_offsets")),
    Api(3, 0, 12, lazy("metadata:handle_metadata")),
    Api(8, 2, 9, lazy("groups:handle_offset_commit")),
    Api(9, 1, 9, lazy("groups:handle_offset_fetch")),
    Api(10, 0, 4, lazy("groups:handle_find_coordinator")),
    Api(11, 0, 9, lazy("groups:handle_join_group")),
    Api(12, 0, 4, lazy("groups:handle_heartbeat")),
    Api(13, 0, 5, lazy("groups:handle_leave_group")),
    Api(14, 0, 5, lazy("groups:handle_sync_group")),
    Api(15, 0, 5, lazy("groups:handle_describe_groups")),
    Api(16, 0, 4, lazy("groups:handle_list_groups")),
    Api(17, 0, 1, lazy("sasl:handle_sasl_handshake")),  # during authentication the listener's authenticator answers
    Api(18, 0, 3, lazy("api_versions:handle_api_versions")),
    Api(19, 2, 7, lazy("topics:handle_create_topics")),
    Api(20, 1, 6, lazy("topics:handle_delete_topics")),
    Api(22, 0, 4, lazy("producer:handle_init_producer_id")),
    Api(23, 2, 4, lazy("list_offsets:handle_offset_for_leader_epoch")),
    Api(24, 0, 3, lazy("txn:handle_add_partitions_to_txn")),
    Api(25, 0, 3, lazy("txn:handle_add_offsets_to_txn")),
    Api(26, 0, 3, lazy("txn:handle_end_txn")),
    Api(27, 1, 1, lazy("txn:handle_write_txn_markers")),
    Api(28, 0, 3, lazy("txn:handle_txn_offset_commit")),
    Api(29, 1, 3, lazy("acls:handle_describe_acls")),  # v0 (literal patterns only) is not in kio
    Api(30, 1, 3, lazy("acls:handle_create_acls")),
    Api(31, 1, 3, lazy("acls:handle_delete_acls")),
    Api(32, 1, 4, lazy("configs:handle_describe_configs")),
    Api(33, 0, 2, lazy("configs:handle_alter_configs")),
    Api(36, 0, 2, lazy("sasl:handle_sasl_authenticate")),
    Api(37, 0, 3, lazy("topics:handle_create_partitions")),
    Api(42, 0, 2, lazy("groups:handle_delete_groups")),
    Api(44, 0, 1, lazy("configs:handle_incremental_alter_configs")),
    Api(45, 0, 0, lazy("reassignments:handle_alter_partition_reassignments")),
    Api(46, 0, 0, lazy("reassignments:handle_list_partition_reassignments")),
    Api(47, 0, 0, lazy("groups:handle_offset_delete")),
    Api(50, 0, 0, lazy("sasl:handle_describe_user_scram_credentials")),
    Api(51, 0, 0, lazy("sasl:handle_alter_user_scram_credentials")),
    Api(60, 0, 1, lazy("topics:handle_describe_cluster")),
    Api(63, 0, 2, lazy("controlled_shutdown:handle_broker_heartbeat"), advertised=False),  # controlled shutdown (wantShutDown), see its module
    Api(65, 0, 0, lazy("txn:handle_describe_transactions")),
    Api(66, 0, 1, lazy("txn:handle_list_transactions")),
    # -- operations (issue 12): what admin tools, web UIs and balancers call ---------------
    Api(21, 0, 2, lazy("partition_admin:handle_delete_records")),
    Api(35, 1, 4, lazy("partition_admin:handle_describe_log_dirs")),
    Api(43, 0, 2, lazy("leader_election:handle_elect_leaders")),
    Api(61, 0, 0, lazy("partition_admin:handle_describe_producers")),
]

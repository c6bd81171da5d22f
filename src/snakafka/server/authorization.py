"""Authorization in the request layer: what Kafka's KafkaApis (AuthHelper) checks, in one
place, so each handler makes one call.

Without authorizer.class.name every check passes (and authorized-operations fields list
every supported operation, as Kafka answers without an authorizer). With it, decisions
come from the broker's AclAuthorizer for the request's principal and client host;
refusals are logged as Kafka's kafka.authorizer.logger logs them (INFO for a resource
the client asked for, DEBUG/TRACE-like silence for filters and authorized operations):

    Principal = User:bob is Denied Operation = Read from host = 127.0.0.1 on resource =
    Topic:LITERAL:orders for request = Fetch with resourceRefCount = 1
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from snakafka.protocol.codec import request_type
from snakafka.replication.replica_manager import FetchRequestPartition, FetchResult
from snakafka.security.acl import (
    CLUSTER_NAME,
    SUPPORTED_OPERATIONS,
    AclOperation,
    ResourcePattern,
    ResourceType,
    to_bitfield,
)
from snakafka.server.context import RequestContext

if TYPE_CHECKING:  # loaded with the group coordinator, on first use
    from snakafka.coordinator.group import FetchedOffset

AUTH_LOG = logging.getLogger("kafka.authorizer.logger")
NOT_REQUESTED = -2147483648  # the schemas' default: authorized operations not asked for

Op = AclOperation
TOPIC, GROUP, CLUSTER, TXN_ID = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER, ResourceType.TRANSACTIONAL_ID


def enabled(ctx: RequestContext) -> bool:
    return ctx.broker.acls.authorizer is not None


def allowed(ctx: RequestContext, op: AclOperation, resource_type: ResourceType, name: str, *,
            log_if_denied: bool = True, count: int = 1) -> bool:
    """Whether the request's principal may do `op` on the literal resource."""
    authorizer = ctx.broker.acls.authorizer
    if authorizer is None:
        return True
    ok = authorizer.authorize(ctx.principal, ctx.client_host, op, resource_type, name)
    if not ok and log_if_denied and AUTH_LOG.isEnabledFor(logging.INFO):
        AUTH_LOG.info(_audit(ctx, op, ResourcePattern(resource_type, name), "Denied", count))
    elif ok and AUTH_LOG.isEnabledFor(logging.DEBUG):
        AUTH_LOG.debug(_audit(ctx, op, ResourcePattern(resource_type, name), "Allowed", count))
    return ok


def cluster_allowed(ctx: RequestContext, op: AclOperation, *, log_if_denied: bool = True) -> bool:
    return allowed(ctx, op, CLUSTER, CLUSTER_NAME, log_if_denied=log_if_denied)


def denied(ctx: RequestContext, op: AclOperation, resource_type: ResourceType, names: Iterable[str], *,
           log_if_denied: bool = True) -> set[str]:
    """The names (of one request) the principal may not `op`: Kafka's filterByAuthorized,
    complemented, one decision per distinct name."""
    if ctx.broker.acls.authorizer is None:
        return set()
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return {n for n, c in counts.items() if not allowed(ctx, op, resource_type, n, log_if_denied=log_if_denied, count=c)}


def by_resource_type(ctx: RequestContext, op: AclOperation, resource_type: ResourceType) -> bool:
    """May the principal do `op` on some resource of the type (Kafka's authorizeByResourceType)."""
    authorizer = ctx.broker.acls.authorizer
    if authorizer is None:
        return True
    ok = authorizer.authorize_by_resource_type(ctx.principal, ctx.client_host, op, resource_type)
    if not ok:
        AUTH_LOG.info(_audit(ctx, op, ResourcePattern(resource_type, "NONE"), "Denied", 0))
    return ok


def operations(ctx: RequestContext, resource_type: ResourceType, name: str) -> int:
    """The authorized-operations bitfield of a resource (Kafka's authorizedOperations)."""
    authorizer = ctx.broker.acls.authorizer
    if authorizer is None:
        return to_bitfield(set(SUPPORTED_OPERATIONS[resource_type]))
    return to_bitfield(authorizer.authorized_operations(ctx.principal, ctx.client_host, resource_type, name))


def cluster_operations(ctx: RequestContext, requested: bool) -> int:
    """Metadata (v8-10) and DescribeCluster: the cluster's authorized operations when asked
    for and Describe on the cluster is allowed, 0 when it is not."""
    if not requested:
        return NOT_REQUESTED
    if not cluster_allowed(ctx, Op.DESCRIBE):
        return 0
    return operations(ctx, CLUSTER, CLUSTER_NAME)


# -- per-API helpers where KafkaApis' rules take more than one call ---------------------------

def produce_errors(ctx: RequestContext, request: Any) -> dict[tuple[str, int], ErrorCode]:
    """Produce: TRANSACTIONAL_ID_AUTHORIZATION_FAILED for every partition when a
    transactional producer may not Write its transactional id, else
    TOPIC_AUTHORIZATION_FAILED for the partitions of topics it may not Write."""
    if not enabled(ctx):
        return {}
    partitions = [(t.name, p.index) for t in request.topic_data for p in t.partition_data]
    txn_id = getattr(request, "transactional_id", None)
    if txn_id is not None and not allowed(ctx, Op.WRITE, TXN_ID, txn_id):
        return dict.fromkeys(partitions, ErrorCode.transactional_id_authorization_failed)
    refused = denied(ctx, Op.WRITE, TOPIC, (t for t, _ in partitions))
    return {tp: ErrorCode.topic_authorization_failed for tp in partitions if tp[0] in refused}


def metadata_refusals(ctx: RequestContext, names: list[str], *, listing_all: bool, auto_create: bool) -> set[str]:
    """Metadata: the topics not to describe. Those the principal may not Describe (not
    logged when listing all), and, when auto-creation is on, the missing ones it may not
    Create (on the cluster, or else on the topic)."""
    if not enabled(ctx):
        return set()
    refused = denied(ctx, Op.DESCRIBE, TOPIC, names, log_if_denied=not listing_all)
    if auto_create:
        topics = ctx.broker.cache.topics
        missing = [n for n in names if n not in refused and n not in topics]
        if missing and not cluster_allowed(ctx, Op.CREATE, log_if_denied=False):
            refused |= denied(ctx, Op.CREATE, TOPIC, missing)
    return refused


CONFIG_TOPIC, CONFIG_BROKER, CONFIG_BROKER_LOGGER = 2, 4, 8  # DescribeConfigs resource types


def config_refusal(ctx: RequestContext, resource_type: int, name: str, op: AclOperation) -> tuple[ErrorCode, str] | None:
    """Describe/Alter(Incremental)Configs: DescribeConfigs / AlterConfigs on the topic, or
    on the cluster for broker configs; the error and Kafka's message, or None if allowed."""
    if resource_type == CONFIG_TOPIC and not allowed(ctx, op, TOPIC, name):
        return ErrorCode.topic_authorization_failed, "Topic authorization failed."
    if resource_type in (CONFIG_BROKER, CONFIG_BROKER_LOGGER) and not cluster_allowed(ctx, op):
        return ErrorCode.cluster_authorization_failed, "Cluster authorization failed."
    return None


def offset_commit_errors(ctx: RequestContext, group_id: str,
                         partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], ErrorCode]:
    """OffsetCommit (and TxnOffsetCommit after its transactional id check): Read on the
    group, else GROUP_AUTHORIZATION_FAILED for every partition; Read on each topic, else
    TOPIC_AUTHORIZATION_FAILED for its partitions."""
    partitions = list(partitions)
    if not enabled(ctx):
        return {}
    if not allowed(ctx, Op.READ, GROUP, group_id):
        return dict.fromkeys(partitions, ErrorCode.group_authorization_failed)
    refused = denied(ctx, Op.READ, TOPIC, (t for t, _ in partitions))
    return {tp: ErrorCode.topic_authorization_failed for tp in partitions if tp[0] in refused}


FetchedOffsets = dict[tuple[str, int], "FetchedOffset"]


async def fetch_offsets(ctx: RequestContext, group_id: str, wanted: list[tuple[str, int]] | None,
                        require_stable: bool) -> tuple[ErrorCode, FetchedOffsets]:
    """OffsetFetch of one group: Describe on the group, else GROUP_AUTHORIZATION_FAILED;
    partitions asked for on topics the principal may not Describe answer
    TOPIC_AUTHORIZATION_FAILED, and a fetch of all offsets leaves such topics out."""
    # with the coordinator, on first use
    from snakafka.coordinator.group import FetchedOffset

    groups = ctx.broker.groups
    if not enabled(ctx):
        return await groups.fetch_offsets(group_id, wanted, require_stable)
    if not allowed(ctx, Op.DESCRIBE, GROUP, group_id):
        # v0-1 have no top-level error code: Kafka puts the error on each partition asked for
        refused_all = FetchedOffset(-1, -1, "", ErrorCode.group_authorization_failed)
        return ErrorCode.group_authorization_failed, dict.fromkeys(wanted or (), refused_all) if ctx.version < 2 else {}
    if wanted is None:
        error, fetched = await groups.fetch_offsets(group_id, None, require_stable)
        refused = denied(ctx, Op.DESCRIBE, TOPIC, {t for t, _ in fetched}, log_if_denied=False)
        return error, {tp: v for tp, v in fetched.items() if tp[0] not in refused}
    refused = denied(ctx, Op.DESCRIBE, TOPIC, (t for t, _ in wanted))
    allowed_parts = [tp for tp in wanted if tp[0] not in refused]
    error, fetched = await groups.fetch_offsets(group_id, allowed_parts, require_stable) if allowed_parts \
        else (ErrorCode.none, {})
    result: FetchedOffsets = dict(fetched)
    for tp in wanted:
        if tp[0] in refused:
            result[tp] = FetchedOffset(-1, -1, "", ErrorCode.topic_authorization_failed)
    return error, result


def init_producer_id_refusal(ctx: RequestContext, transactional_id: str | None) -> ErrorCode | None:
    """InitProducerId: Write on the transactional id; an idempotent producer needs
    IdempotentWrite on the cluster or Write on some topic (KIP-679, Kafka 3.x)."""
    if not enabled(ctx):
        return None
    if transactional_id is not None:
        return None if allowed(ctx, Op.WRITE, TXN_ID, transactional_id) else ErrorCode.transactional_id_authorization_failed
    if cluster_allowed(ctx, Op.IDEMPOTENT_WRITE, log_if_denied=False) or by_resource_type(ctx, Op.WRITE, TOPIC):
        return None
    return ErrorCode.cluster_authorization_failed


def offset_for_leader_epoch_denied(ctx: RequestContext, topics: list[str]) -> set[str]:
    """OffsetForLeaderEpoch: all topics with ClusterAction on the cluster (followers),
    else those the principal may Describe."""
    if not enabled(ctx) or cluster_allowed(ctx, Op.CLUSTER_ACTION, log_if_denied=False):
        return set()
    return denied(ctx, Op.DESCRIBE, TOPIC, topics)


def split_fetch(ctx: RequestContext, replica_id: int,
                wanted: list[FetchRequestPartition]) -> tuple[list[FetchRequestPartition], list[FetchResult]]:
    """Fetch: a follower (replica_id >= 0) needs ClusterAction on the cluster, a consumer
    Read on each topic; refused partitions answer TOPIC_AUTHORIZATION_FAILED (as Kafka
    answers both)."""
    if not enabled(ctx):
        return wanted, []
    if replica_id >= 0:
        refused = {p.topic for p in wanted} if not cluster_allowed(ctx, Op.CLUSTER_ACTION) else set()
    else:
        refused = denied(ctx, Op.READ, TOPIC, (p.topic for p in wanted))
    if not refused:
        return wanted, []
    return ([p for p in wanted if p.topic not in refused],
            [FetchResult(p.topic, p.partition, error=ErrorCode.topic_authorization_failed)
             for p in wanted if p.topic in refused])


def _audit(ctx: RequestContext, op: AclOperation, pattern: ResourcePattern, result: str, count: int) -> str:
    return (f"Principal = {ctx.principal} is {result} Operation = {op.kafka_name} from host = {ctx.client_host} "
            f"on resource = {pattern} for request = {_api_name(ctx.header.api_key, ctx.version)} "
            f"with resourceRefCount = {count}")


def _api_name(api_key: int, version: int) -> str:
    try:
        return request_type(api_key, version).__name__.removesuffix("Request")
    except (KeyError, ValueError, ImportError):
        return str(api_key)

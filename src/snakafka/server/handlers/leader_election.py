"""ElectLeaders (KIP-460): preferred or unclean leader elections an admin asks for, as
kafka-leader-election.sh and AdminClient.electLeaders send them.

The controller decides (Controller.elect_leaders); in a cluster only the active
controller does, and other brokers answer NOT_CONTROLLER per partition, as Kafka's
ZooKeeper-mode controller does, so clients send this request to the controller. v0 has
no election type: it asks for preferred elections.
"""

from __future__ import annotations

from typing import Any

from kio.static.primitive import i32

from snakafka.cluster.election import PREFERRED_ELECTION, UNCLEAN_ELECTION
from snakafka.protocol.errors import ErrorCode
from snakafka.server.context import ZERO, RequestContext, build


async def handle_elect_leaders(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    election_type = int(getattr(request, "election_type", PREFERRED_ELECTION))
    if election_type not in (PREFERRED_ELECTION, UNCLEAN_ELECTION):
        return build(schema.ElectLeadersResponse, throttle_time=ZERO, error_code=ErrorCode.invalid_request,
                     replica_election_results=())
    partitions = None if request.topic_partitions is None else [
        (t.topic, int(p)) for t in request.topic_partitions for p in t.partitions]
    results = await ctx.broker.controller.elect_leaders(election_type, partitions)
    by_topic: dict[str, list[Any]] = {}
    for (topic, p), (error, message) in results.items():
        by_topic.setdefault(topic, []).append(
            build(schema.PartitionResult, partition_id=i32(p), error_code=error, error_message=message))
    return build(schema.ElectLeadersResponse, throttle_time=ZERO, error_code=ErrorCode.none,
                 replica_election_results=tuple(
                     build(schema.ReplicaElectionResult, topic=topic, partition_result=tuple(parts))
                     for topic, parts in by_topic.items()))

"""The one place this broker writes transaction markers to partitions it leads.

Both the transaction coordinator (for partitions led here) and the WriteTxnMarkers
handler (markers sent by the coordinator of another broker) come through here:
ReplicaManager.write_txn_markers appends the COMMIT/ABORT control batch and waits for the
ISR; then the group coordinator hears about the __consumer_offsets partitions among
them, so that offsets committed in the transaction become visible (or are dropped), as
Kafka's KafkaApis.handleWriteTxnMarkersRequest calls onTransactionCompleted.
"""

from __future__ import annotations

import logging

from snakafka.cluster.model import OFFSETS_TOPIC
from snakafka.protocol.control import TxnMarker
from snakafka.protocol.errors import ErrorCode
from snakafka.server.services import BrokerServices

log = logging.getLogger(__name__)

MARKER_TIMEOUT_MS = 30000  # Kafka's request.timeout.ms for its marker requests


async def write_markers_locally(broker: BrokerServices, marker: TxnMarker, partitions: list[tuple[str, int]],
                                timeout_ms: int = MARKER_TIMEOUT_MS) -> dict[tuple[str, int], ErrorCode]:
    """Write `marker` to `partitions` (led by this broker); the error of each."""
    if not partitions:
        return {}
    results = await broker.replica_manager.write_txn_markers(marker, partitions, timeout_ms)
    offsets = [p for (topic, p) in partitions if topic == OFFSETS_TOPIC
               and results.get((topic, p), ErrorCode.unknown_server_error) == ErrorCode.none]
    if offsets:
        broker.groups.complete_txn(marker.producer_id, offsets, marker.commit)
    failed = {tp: code for tp, code in results.items() if code != ErrorCode.none}
    if failed:
        log.info("broker %d: %s marker of producer %d epoch %d not written to %s", broker.config.broker_id,
                 "COMMIT" if marker.commit else "ABORT", marker.producer_id, marker.producer_epoch,
                 ", ".join(f"{t}-{p}: {c.name}" for (t, p), c in sorted(failed.items())))
    return results

"""The transaction coordinator (KIP-98): `__transaction_state`, the per-transactional-id
state machine, and the markers that end transactions.

state.py is the pure state machine, schema.py the record format, coordinator.py the
coordinator that writes, replays and completes transactions.
"""

from snakafka.coordinator.transaction.coordinator import (
    InitProducerIdResult,
    MarkerWriter,
    TransactionCoordinator,
    TxnConfig,
    TxnStateLog,
)
from snakafka.coordinator.transaction.state import TxnMetadata, TxnState

__all__ = [
    "InitProducerIdResult",
    "MarkerWriter",
    "TransactionCoordinator",
    "TxnConfig",
    "TxnMetadata",
    "TxnState",
    "TxnStateLog",
]

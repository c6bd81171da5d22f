"""Producer ids for idempotent producers, handed out from blocks reserved in the
metadata store so ids stay unique across restarts and brokers (Kafka's ProducerIdManager)."""

from __future__ import annotations

from snakafka.cluster.store.base import MetadataStore

BLOCK_SIZE = 1000


class ProducerIdManager:
    def __init__(self, store: MetadataStore, block_size: int = BLOCK_SIZE) -> None:
        self.store = store
        self.block_size = block_size
        self._next = 0
        self._end = 0

    async def generate(self) -> int:
        if self._next >= self._end:
            self._next = await self.store.allocate_producer_ids(self.block_size)
            self._end = self._next + self.block_size
        pid = self._next
        self._next += 1
        return pid

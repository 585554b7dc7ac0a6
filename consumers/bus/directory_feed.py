"""Keeps a :class:`DirectoryStore` current from the compacted docbus.directory topic.

Every entry must carry the directory authority's seal (``G03``), checked with the trust core;
an entry that fails is logged and skipped. ``catch_up()`` reads to the topic's high watermark and
applies what it read as one batch, so a freshly started bus builds the same snapshot the
publisher built (one snapshot per published set, not one per partial read). The validate agent
calls it at start and again before refusing an envelope with DIRECTORY_MISMATCH.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from consumers.trust import TrustError, TrustPolicy
from schemas.codec import decode
from schemas.connection import KafkaConnection
from schemas.directory import DirectoryEntry, check_entry_times, directory_entry_signing_input
from schemas.directory_store import DirectoryError, DirectoryStore
from schemas.errors import ContractError
from schemas.fields import from_millis
from schemas.topics import DIRECTORY_TOPIC

__all__ = ["DirectoryFeed", "verify_entry"]

logger = logging.getLogger(__name__)


def verify_entry(
    raw: bytes, trust: TrustPolicy, authority: str, now: datetime, published_at: datetime
) -> DirectoryEntry:
    """Decode an entry, check its times against ``published_at`` (the record's broker timestamp) and
    the authority's seal; raises ContractError or TrustError."""
    entry = decode(raw, DirectoryEntry)
    check_entry_times(entry, published_at)
    trust.verify_seal(directory_entry_signing_input(entry), entry.signatures, authority, now)
    return entry


class DirectoryFeed:
    def __init__(
        self,
        kafka: KafkaConnection,
        store: DirectoryStore,
        trust: TrustPolicy,
        *,
        authority: str = "G03",
        topic: str = DIRECTORY_TOPIC,
    ) -> None:
        self.kafka = kafka
        self.store = store
        self.trust = trust
        self.authority = authority
        self.topic = topic
        self.refused = 0  # entries skipped because their seal or encoding failed
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()

    async def _start(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(**self.kafka.client_kwargs(), group_id=None, enable_auto_commit=False)
            await consumer.start()
            # aiokafka keeps fetched metadata apart from the consumer's cache; ask it directly
            cluster = await consumer._client.fetch_all_metadata()
            partitions = cluster.partitions_for_topic(self.topic)
            if not partitions:
                await consumer.stop()
                raise RuntimeError(f"topic {self.topic} does not exist (docbus topics apply)")
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            self._consumer = consumer
        return self._consumer

    async def catch_up(self, timeout: float = 30.0) -> int:
        """Read to the current high watermark and apply the new entries; returns how many were
        read. Raises TimeoutError when the broker does not deliver them within ``timeout``."""
        async with self._lock:
            return await asyncio.wait_for(self._catch_up(), timeout)

    async def _catch_up(self) -> int:
        consumer = await self._start()
        tps = list(consumer.assignment())
        ends = await consumer.end_offsets(tps)
        entries: list[DirectoryEntry] = []
        refused: list[str] = []
        now = datetime.now(UTC)
        while await self._behind(consumer, ends):
            batches = await consumer.getmany(*tps, timeout_ms=500)
            for records in batches.values():
                for record in records:
                    if record.value is None:
                        continue  # a tombstone: codes are closed, never deleted
                    try:
                        published = from_millis(record.timestamp)
                        entries.append(verify_entry(record.value, self.trust, self.authority, now, published))
                    except (ContractError, TrustError) as exc:
                        refused.append(f"offset {record.offset}: {exc}")
        if refused:  # e.g. entries sealed under a replaced authority key, until compaction drops them
            self.refused += len(refused)
            logger.warning("%d directory entries refused; first: %s", len(refused), refused[0])
        if entries:
            try:
                snapshot = self.store.apply(entries)
                logger.info("directory snapshot %s (%d codes)", snapshot.hash.hex()[:16], len(snapshot))
            except DirectoryError as exc:
                logger.warning("directory entries held back: %s", exc)
        return len(entries)

    @staticmethod
    async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
        for tp, end in ends.items():
            if await consumer.position(tp) < end:
                return True
        return False

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

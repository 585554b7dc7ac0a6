"""The node's view of the sector directory, read from the compacted ``docbus.directory`` topic.

A sender names the snapshot its addresses were chosen against (``directory_snapshot``); a
recipient resolves group addresses against the snapshot an envelope names. Entries are kept only
when the directory authority's seal verifies (when a trust policy is given).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from producers.ports import SealVerifier
from producers.reader import read_to_end
from schemas.codec import decode
from schemas.connection import KafkaConnection
from schemas.directory import DirectoryEntry, check_entry_times, directory_entry_signing_input
from schemas.directory_store import DirectoryError, DirectorySnapshot, DirectoryStore
from schemas.errors import ContractError, TrustError
from schemas.fields import from_millis
from schemas.topics import DIRECTORY_TOPIC

__all__ = ["DirectoryView"]

logger = logging.getLogger(__name__)


class DirectoryView:
    """A :class:`DirectoryStore` filled from the directory topic; ``refresh()`` reads it again."""

    def __init__(
        self,
        kafka: KafkaConnection,
        *,
        topic: str = DIRECTORY_TOPIC,
        policy: SealVerifier | None = None,
        authority: str = "G03",
        capacity: int = 8,
    ) -> None:
        self.kafka, self.topic, self.policy, self.authority = kafka, topic, policy, authority
        self.store = DirectoryStore(capacity)

    def _trusted(self, entry: DirectoryEntry, published_at: datetime) -> bool:
        if self.policy is None:
            return True
        try:
            check_entry_times(entry, published_at)
            data = directory_entry_signing_input(entry)
            self.policy.verify_seal(data, entry.signatures, self.authority, datetime.now(UTC))
        except (ContractError, TrustError) as exc:
            logger.info("directory entry %s v%d refused: %s", entry.code, entry.version, exc)
            return False
        return True

    async def refresh(self, *, timeout: float = 30.0) -> DirectorySnapshot | None:
        """Read the topic to its end and apply every entry; the current snapshot afterwards."""
        entries = []
        for record in await read_to_end(self.kafka, self.topic, timeout=timeout):
            if record.value is None:
                continue
            try:
                entry = decode(record.value, DirectoryEntry)
            except ContractError:
                continue  # another record type (a published snapshot record) or garbage
            if self._trusted(entry, from_millis(record.timestamp)):
                entries.append(entry)
        if entries:
            try:
                self.store.apply(entries)
            except DirectoryError as exc:
                logger.warning("directory not consistent yet: %s", exc)
        return self.store.current

    async def catch_up(self, timeout: float = 30.0) -> int:
        """Same shape as consumers.bus.directory_feed.DirectoryFeed: read again; snapshots kept."""
        await self.refresh(timeout=timeout)
        return len(self.store)

    async def stop(self) -> None:
        """Nothing held between reads (same shape as DirectoryFeed)."""

    async def current_hash(self, *, timeout: float = 30.0) -> bytes:
        snapshot = self.store.current or await self.refresh(timeout=timeout)
        if snapshot is None:
            raise LookupError(f"{self.topic} holds no directory")
        return snapshot.hash

    async def snapshot(self, snapshot_hash: bytes, *, timeout: float = 30.0) -> DirectorySnapshot | None:
        """The snapshot named ``snapshot_hash``, reading the topic again if it is not kept yet."""
        found = self.store.get(snapshot_hash)
        if found is None:
            await self.refresh(timeout=timeout)
            found = self.store.get(snapshot_hash)
        return found

"""The one directory reader: a :class:`DirectoryStore` kept current from the compacted
``docbus.directory`` topic, for the bus, recipients and sending nodes alike.

A sender names the snapshot its addresses were chosen against (``directory_snapshot``); a
recipient and the bus resolve group addresses against the snapshot an envelope names. Entries are
kept only when the directory authority's seal verifies (when a verifier is given); one that fails is
logged and skipped (e.g. sealed under a replaced authority key, until compaction drops it, or
sealed more than a day before the broker stored it).
``catch_up()`` reads what came since the last read and applies it as one batch, so a fresh reader
builds the same snapshot the publisher built (one snapshot per published set, not one per partial
read). The bus's validate agent calls it at start and again before refusing an envelope with
DIRECTORY_MISMATCH.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from producers.ports import SealVerifier
from producers.reader import ReadError, TopicTail
from schemas.codec import decode
from schemas.connection import KafkaConnection
from schemas.directory import DirectoryEntry, check_entry_times, directory_entry_signing_input
from schemas.directory_store import DirectoryError, DirectorySnapshot, DirectoryStore
from schemas.errors import ContractError, TrustError
from schemas.fields import from_millis
from schemas.topics import DIRECTORY_TOPIC

__all__ = ["DirectoryView", "verify_entry"]

logger = logging.getLogger(__name__)


def verify_entry(
    raw: bytes, policy: SealVerifier | None, authority: str, now: datetime, published_at: datetime
) -> DirectoryEntry:
    """Decode an entry, check its times against ``published_at`` (the record's broker timestamp) and
    the authority's seal (no verifier: neither); raises ContractError or TrustError."""
    entry = decode(raw, DirectoryEntry)
    if policy is not None:
        check_entry_times(entry, published_at)
        policy.verify_seal(directory_entry_signing_input(entry), entry.signatures, authority, now)
    return entry


class DirectoryView:
    """``store``: the store to keep current (the bus shares its validator's); a new one otherwise.
    ``keep_open``: hold one consumer between catch-ups (a long-running process; call ``stop()``)."""

    def __init__(
        self,
        kafka: KafkaConnection,
        *,
        topic: str = DIRECTORY_TOPIC,
        policy: SealVerifier | None = None,
        authority: str = "G03",
        capacity: int = 8,
        store: DirectoryStore | None = None,
        keep_open: bool = False,
    ) -> None:
        self.kafka, self.topic, self.policy, self.authority = kafka, topic, policy, authority
        self.store = store if store is not None else DirectoryStore(capacity)
        self.refused = 0  # entries skipped because their seal or encoding failed
        self._tail = TopicTail(kafka, topic, keep_open=keep_open)
        self._lock = asyncio.Lock()

    async def catch_up(self, timeout: float = 30.0) -> int:
        """Read what came since the last read and apply its entries; how many were taken.
        TimeoutError when the broker does not deliver them within ``timeout``; ReadError when the
        topic cannot be read."""
        async with self._lock:
            return await asyncio.wait_for(self._catch_up(), timeout)

    async def _catch_up(self) -> int:
        entries: list[DirectoryEntry] = []
        refused: list[str] = []
        now = datetime.now(UTC)
        for record in await self._tail.read_new():
            if record.value is None:
                continue  # a tombstone: codes are closed, never deleted
            try:
                published = from_millis(record.timestamp)
                entries.append(verify_entry(record.value, self.policy, self.authority, now, published))
            except (ContractError, TrustError) as exc:
                refused.append(f"offset {record.offset}: {exc}")
        if refused:
            self.refused += len(refused)
            logger.info("%d directory entries refused; first: %s", len(refused), refused[0])
        if entries:
            try:
                snapshot = self.store.apply(entries)
                logger.info("directory snapshot %s (%d codes)", snapshot.hash.hex()[:16], len(snapshot))
            except DirectoryError as exc:
                logger.warning("directory entries held back: %s", exc)
        return len(entries)

    async def refresh(self, *, timeout: float = 30.0) -> DirectorySnapshot | None:
        """Catch up; the current snapshot afterwards. ReadError when the topic cannot be read in time."""
        try:
            await self.catch_up(timeout)
        except TimeoutError as exc:
            raise ReadError(f"{self.topic}: not read to its end within {timeout:g} s") from exc
        return self.store.current

    async def stop(self) -> None:
        await self._tail.stop()

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

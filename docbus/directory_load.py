"""Publishing the directory: seal entries as the authority, create inboxes, produce to the topic.

The I/O half of ``docbus directory load``; the entries come from docbus/sector.py or any list.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaProducer

from infra.topics import Plan, apply, load_specs, org_specs
from producers.keys import KeyProvider, make_signature
from schemas.codec import encode
from schemas.connection import KafkaConnection
from schemas.directory import DirectoryEntry, directory_entry_signing_input
from schemas.signature import SignerRole
from schemas.topics import DIRECTORY_TOPIC

__all__ = ["ensure_topics", "publish_entries", "seal_entries"]

logger = logging.getLogger(__name__)


def seal_entries(entries: Iterable[DirectoryEntry], seal: KeyProvider) -> list[DirectoryEntry]:
    """Each entry with the directory authority's seal over its signing input."""
    out = []
    for entry in entries:
        sig = make_signature(seal, SignerRole.ORGANIZATION, directory_entry_signing_input(entry))
        out.append(entry.model_copy(update={"signatures": [sig]}))
    return out


async def ensure_topics(kafka: KafkaConnection, entries: Sequence[DirectoryEntry]) -> Plan:
    """The bus topics of infra/topics.toml and the inbox and status topic of every active org; idempotent."""
    specs = load_specs() + [spec for e in entries if e.active for spec in org_specs(e.code)]
    return await apply(kafka, specs)


async def publish_entries(
    kafka: KafkaConnection, entries: Sequence[DirectoryEntry], topic: str = DIRECTORY_TOPIC
) -> None:
    """Produce sealed entries to the directory topic (key: code), acknowledged by all replicas.

    A whole directory or an update of a few codes; check a whole one with DirectorySnapshot.build
    first, so an inconsistent set is never published."""
    producer = AIOKafkaProducer(**kafka.client_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = [await producer.send(topic, encode(e), key=e.code.encode()) for e in entries]
        for fut in futures:
            await fut
    finally:
        await producer.stop()
    logger.info("published %d directory entries to %s", len(entries), topic)

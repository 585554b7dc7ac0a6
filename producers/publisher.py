"""The node's Kafka producer: signed envelopes to ``docbus.ingress``, keyed by the sender org code.

``acks="all"`` with idempotence: a record is acknowledged only once every in-sync replica has
it, and the producer's own retries never duplicate or reorder it within the partition.
Headers follow docs/adr/0001-bus-topology.md (CloudEvents binary mode).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata

from producers.failover import long_running_producer
from producers.started import Started
from schemas.connection import KafkaConnection
from schemas.envelope import Envelope
from schemas.errors import TransportError
from schemas.headers import Headers, ingress_headers, receipt_headers
from schemas.orgcode import canonical_org_code
from schemas.reasons import Reason
from schemas.receipt import Receipt, receipt_record_key
from schemas.topics import INGRESS_TOPIC, RECEIPTS_TOPIC

__all__ = [
    "PublishError",
    "Publisher",
    "acknowledged",
]

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 2 * 1024 * 1024  # the topics' max.message.bytes; the contract limit is lower
#: a one-shot command's wait for an answer (a long-running publisher's: producers/failover.py)
ONE_SHOT_REQUEST_TIMEOUT_MS = 30_000


class PublishError(TransportError):
    """The broker did not acknowledge a record (unreachable, topic missing, timeout)."""


async def acknowledged(fut: asyncio.Future[RecordMetadata]) -> RecordMetadata:
    """The acknowledgement of a record handed over by :meth:`Publisher.enqueue`."""
    try:
        return await fut
    except KafkaError as exc:
        raise PublishError.of("not acknowledged", exc) from exc


class Publisher(Started):
    """``async with Publisher(kafka) as pub: await pub.publish_envelope(env, raw)``.

    ``long_running``: the producer of a process that runs on through outages (the inbox's receipts),
    with the long-running clients' options and failover (producers/failover.py) in place of the
    one-shot commands' 30 s request timeout; a ``request_timeout_ms`` given wins over either."""

    def __init__(
        self,
        kafka: KafkaConnection,
        *,
        ingress: str = INGRESS_TOPIC,
        receipts: str = RECEIPTS_TOPIC,
        client_id: str = "docbus-node",
        request_timeout_ms: int | None = None,
        long_running: bool = False,
    ) -> None:
        self.ingress, self.receipts = ingress, receipts
        self._kafka, self._long_running = kafka, long_running
        self._config: dict[str, Any] = {
            "client_id": client_id,
            "acks": "all",
            "enable_idempotence": True,
            "max_request_size": MAX_REQUEST_BYTES,
        }
        if request_timeout_ms is not None or not long_running:  # one given wins; else its kind's
            self._config["request_timeout_ms"] = request_timeout_ms or ONE_SHOT_REQUEST_TIMEOUT_MS
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        # made here, not in __init__: aiokafka binds to the running event loop
        if self._long_running:
            self._producer = long_running_producer(self._kafka, **self._config)
        else:
            self._producer = AIOKafkaProducer(**self._kafka.client_kwargs(), **self._config)
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            raise PublishError.of("cannot reach the broker", exc) from exc

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send(self, topic: str, key: str, value: bytes, headers: Headers) -> RecordMetadata:
        """Produce one record and wait for the acknowledgement of every in-sync replica."""
        if self._producer is None:
            raise PublishError("the publisher is not started", retriable=False)
        try:
            meta = await self._producer.send_and_wait(topic, value, key=key.encode(), headers=headers)
        except KafkaError as exc:
            raise PublishError.of(f"{topic}: not acknowledged", exc) from exc
        logger.debug("produced %s[%d]@%d", meta.topic, meta.partition, meta.offset)
        return meta

    async def enqueue(
        self, topic: str, key: bytes, value: bytes, *, partition: int | None = None
    ) -> asyncio.Future[RecordMetadata]:
        """Hand one record to the producer without awaiting its acknowledgement (the caller bounds
        how many are in flight and awaits the futures: PublishError via :func:`acknowledged`)."""
        if self._producer is None:
            raise PublishError("the publisher is not started", retriable=False)
        try:
            fut: asyncio.Future[RecordMetadata] = await self._producer.send(
                topic, value, key=key, partition=partition
            )
        except KafkaError as exc:
            raise PublishError.of(f"{topic}: not accepted", exc) from exc
        return fut

    async def partition_count(self, topic: str) -> int:
        """Partitions of ``topic``; PublishError when it does not exist."""
        if self._producer is None:
            raise PublishError("the publisher is not started", retriable=False)
        try:
            parts = await self._producer.partitions_for(topic)
        except KafkaError as exc:
            raise PublishError.of(f"{topic}: no metadata", exc) from exc
        if not parts:
            raise PublishError(f"topic {topic} does not exist", retriable=False, reason=Reason.TOPIC_MISSING)
        return len(parts)

    async def publish_envelope(self, env: Envelope, raw: bytes) -> RecordMetadata:
        # the record key is the sender's dotted code (docs/ENVELOPE.md §8): the bus's chain of the
        # sender lives on that key's partition
        return await self.send(self.ingress, canonical_org_code(env.sender.code), raw, ingress_headers(env))

    async def publish_raw(self, key: str, raw: bytes) -> RecordMetadata:
        """Re-publish stored envelope bytes (the node state's outbox) as they are."""
        return await self.send(self.ingress, key, raw, [])

    async def publish_receipt(self, receipt: Receipt, raw: bytes) -> RecordMetadata:
        """Receipts go to ``docbus.receipts`` keyed by the sender of the document they are about
        (``schemas.receipt.receipt_record_key``: a recall 13 too), so the bus judges every receipt
        of one document on one partition."""
        headers = receipt_headers(receipt, receipt.from_org, receipt.to_org)
        return await self.send(self.receipts, receipt_record_key(receipt), raw, headers)

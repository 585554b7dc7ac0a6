"""Kafka reads and writes of the audit tools (aiokafka): read a topic to its end, fetch records at
recorded positions, produce with acks=all and idempotence (ADR 0001).

"To the end" means up to the end offsets taken when the read starts: a log that keeps growing
while it is read is read as it was at that moment, which is what a verification or export needs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from consumers.outage import stop_quietly
from producers.failover import CLIENT_OPTIONS, long_running_consumer, long_running_producer
from producers.fetch_guard import guard_fetches
from producers.reader import records_to_end
from schemas.audit import SourcePosition
from schemas.connection import KafkaConnection

__all__ = [
    "Headers",
    "Message",
    "fetch_at",
    "open_producer",
    "produce_all",
    "read_topic",
    "read_values",
    "to_message",
]

logger = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]
_MAX_FETCH = 4 * 1024 * 1024  # above the topics' max.message.bytes (2 MiB)
_METADATA_WAIT = 5.0  # seconds a newly created topic may take to appear
_FETCH_TIMEOUT = 15.0  # seconds for one record known to be there


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Headers
    timestamp_ms: int

    @property
    def position(self) -> SourcePosition:
        return SourcePosition(topic=self.topic, partition=self.partition, offset=self.offset)

    def header(self, name: str) -> bytes | None:
        return next((v for k, v in self.headers if k == name), None)


def to_message(rec: Any) -> Message:
    return Message(
        rec.topic,
        rec.partition,
        rec.offset,
        rec.key,
        rec.value or b"",
        list(rec.headers or ()),
        rec.timestamp,
    )


def _consumer(kafka: KafkaConnection) -> AIOKafkaConsumer:
    guard_fetches()  # replay and evidence read ingress and receipts, which every org writes
    return long_running_consumer(
        kafka,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=_MAX_FETCH,
        fetch_max_bytes=4 * _MAX_FETCH,
    )


async def read_topic(kafka: KafkaConnection, topic: str, *, batch: int = 5000) -> AsyncIterator[Message]:
    """Every record of ``topic`` up to its current end, partition by partition in offset order
    (``producers.reader.records_to_end``; a topic created a moment ago is waited for briefly)."""
    options = {**CLIENT_OPTIONS, "max_partition_fetch_bytes": _MAX_FETCH, "fetch_max_bytes": 4 * _MAX_FETCH}
    records = records_to_end(kafka, topic, wait=_METADATA_WAIT, batch=batch, **options)
    async with aclosing(records):
        async for rec in records:
            yield to_message(rec)


async def read_values(kafka: KafkaConnection, topic: str) -> list[bytes]:
    return [m.value async for m in read_topic(kafka, topic)]


async def fetch_at(
    kafka: KafkaConnection, positions: Iterable[SourcePosition]
) -> dict[SourcePosition, Message]:
    """The records at the given positions (missing ones, e.g. deleted by retention, are absent)."""
    wanted = sorted(set(positions), key=lambda p: (p.topic, p.partition, p.offset))
    found: dict[SourcePosition, Message] = {}
    if not wanted:
        return found
    consumer = _consumer(kafka)
    await consumer.start()
    try:
        for pos in wanted:
            tp = TopicPartition(pos.topic, pos.partition)
            consumer.assign([tp])
            start, end = (await consumer.beginning_offsets([tp]))[tp], (await consumer.end_offsets([tp]))[tp]
            if not start <= pos.offset < end:
                logger.warning("no record at %s/%d@%d", pos.topic, pos.partition, pos.offset)
                continue
            consumer.seek(tp, pos.offset)
            rec = await asyncio.wait_for(consumer.getone(tp), _FETCH_TIMEOUT)
            if rec.offset == pos.offset:  # later: compacted away or a transaction marker
                found[pos] = to_message(rec)
    finally:
        await consumer.stop()
    return found


@asynccontextmanager
async def open_producer(kafka: KafkaConnection) -> AsyncIterator[AIOKafkaProducer]:
    producer = long_running_producer(kafka, acks="all", enable_idempotence=True, max_request_size=_MAX_FETCH)
    try:
        await producer.start()
    except BaseException:
        await stop_quietly(producer.stop, "audit producer")  # aiokafka leaves a failed start open
        raise
    try:
        yield producer
    finally:
        await stop_quietly(producer.stop, "audit producer")


async def produce_all(
    kafka: KafkaConnection,
    records: Sequence[tuple[str, bytes | None, bytes, Headers]],
    *,
    partition: int | None = None,
) -> None:
    """Produce (topic, key, value, headers) records and wait until every one is acknowledged."""
    async with open_producer(kafka) as producer:
        futures = [await producer.send(t, v, key=k, headers=h, partition=partition) for t, k, v, h in records]
        await asyncio.gather(*futures)

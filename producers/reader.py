"""The one topic-to-end reader: every record of a topic from its beginning to the end offsets seen
at the start (no consumer group), and the lookups it rests on, on public aiokafka APIs only
(``AIOKafkaAdminClient.describe_topics`` for partitions, ``end_offsets`` for the end).

For the compacted topics a node looks things up in (``docbus.directory``, ``docbus.status``),
the audit chain and the demo's positions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Iterable
from contextlib import aclosing
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from producers.fetch_guard import guard_fetches
from schemas.connection import KafkaConnection
from schemas.errors import TransportError
from schemas.reasons import Reason

__all__ = [
    "Positions",
    "ReadError",
    "TopicTail",
    "end_offsets",
    "partitions",
    "read_to_end",
    "records_from",
    "records_to_end",
    "topic_partitions",
]

logger = logging.getLogger(__name__)

Record: TypeAlias = ConsumerRecord[bytes, bytes]
Positions: TypeAlias = dict[TopicPartition, int]
_UNKNOWN_TOPIC = 3  # Kafka's UNKNOWN_TOPIC_OR_PARTITION


class ReadError(TransportError):
    """The topic cannot be read to its end (missing, broker unreachable, timeout)."""


async def partitions(kafka: KafkaConnection, topics: Iterable[str]) -> dict[str, list[TopicPartition]]:
    """The partitions of each of ``topics`` from fresh metadata (an empty list for a topic that
    does not exist, or not yet: KRaft lists a new topic a moment after creating it)."""
    names = sorted(set(topics))
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    try:
        await admin.start()
        described: list[dict[str, Any]] = await admin.describe_topics(names)
    except KafkaError as exc:
        raise ReadError.of(f"{', '.join(names)}: no metadata", exc) from exc
    finally:
        await admin.close()
    found = {name: [] for name in names} | {
        t["topic"]: [TopicPartition(t["topic"], p["partition"]) for p in t["partitions"]]
        for t in described
        if t["error_code"] != _UNKNOWN_TOPIC
    }
    return {name: sorted(parts, key=lambda tp: tp.partition) for name, parts in found.items()}


async def topic_partitions(kafka: KafkaConnection, topic: str, *, wait: float = 0.0) -> list[TopicPartition]:
    """The partitions of ``topic``; waits up to ``wait`` seconds for a topic just created; ReadError
    (TOPIC_MISSING) if it has none."""
    deadline = asyncio.get_running_loop().time() + wait
    while not (found := (await partitions(kafka, [topic]))[topic]):
        if asyncio.get_running_loop().time() >= deadline:
            raise ReadError(f"topic {topic} does not exist", retriable=False, reason=Reason.TOPIC_MISSING)
        await asyncio.sleep(0.1)  # polling an observable condition, under the deadline
    return found


def _consumer(kafka: KafkaConnection, **options: Any) -> AIOKafkaConsumer:
    guard_fetches()  # the topics read to their end include ingress and receipts, which every org writes
    return AIOKafkaConsumer(
        **kafka.client_kwargs(), group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
        **options,
    )  # fmt: skip


async def end_offsets(kafka: KafkaConnection, topics: Iterable[str]) -> Positions:
    """The end offset of every partition of ``topics`` (topics that do not exist have none)."""
    tps = [tp for parts in (await partitions(kafka, topics)).values() for tp in parts]
    if not tps:
        return {}
    consumer = _consumer(kafka)
    try:
        await consumer.start()
        consumer.assign(tps)  # the consumer then tracks their metadata (end_offsets needs the leaders)
        return dict(await consumer.end_offsets(tps))
    except KafkaError as exc:
        raise ReadError.of("end offsets", exc) from exc
    finally:
        await consumer.stop()


async def records_to_end(
    kafka: KafkaConnection, topic: str, *, wait: float = 0.0, batch: int = 5000, **options: Any
) -> AsyncGenerator[Record, None]:
    """Every record of ``topic`` up to its end offsets at the start, partition by partition in
    offset order, without holding them all. ``wait``: for a topic created a moment ago;
    ``options``: consumer settings (fetch sizes)."""
    parts = await topic_partitions(kafka, topic, wait=wait)
    async with aclosing(_records(kafka, topic, parts, None, batch, options)) as records:
        async for record in records:
            yield record


async def records_from(
    kafka: KafkaConnection, topic: str, start: Positions, *, batch: int = 5000
) -> AsyncGenerator[Record, None]:
    """:func:`records_to_end` from ``start`` (the offset to begin at, per partition; others from
    their beginning) instead of the beginning."""
    parts = await topic_partitions(kafka, topic)
    async with aclosing(_records(kafka, topic, parts, start, batch, {})) as records:
        async for record in records:
            yield record


async def _records(
    kafka: KafkaConnection,
    topic: str,
    parts: list[TopicPartition],
    start: Positions | None,
    batch: int,
    options: dict[str, Any],
) -> AsyncGenerator[Record, None]:
    consumer = _consumer(kafka, **options)
    try:
        await consumer.start()
        consumer.assign(parts)  # the consumer then tracks their metadata (end_offsets needs the leaders)
        ends = await consumer.end_offsets(parts)
        for tp in parts:
            consumer.assign([tp])
            if start is not None and tp in start:
                consumer.seek(tp, start[tp])
            else:
                await consumer.seek_to_beginning(tp)
            while await consumer.position(tp) < ends[tp]:
                got = await consumer.getmany(tp, timeout_ms=500, max_records=batch)
                for record in got.get(tp, ()):
                    if record.offset >= ends[tp]:
                        break
                    yield record
    except KafkaError as exc:
        raise ReadError.of(topic, exc) from exc
    finally:
        await consumer.stop()


async def read_to_end(kafka: KafkaConnection, topic: str, *, timeout: float = 30.0) -> list[Record]:
    """Every record of ``topic`` up to the end offsets at the time of the call, in partition order;
    ReadError when that takes longer than ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout), aclosing(records_to_end(kafka, topic)) as records:
            return [record async for record in records]
    except TimeoutError as exc:
        raise ReadError(f"{topic}: not read to its end within {timeout:g} s") from exc


class TopicTail:
    """Reads ``topic`` to its end again and again, each time only what came since the last read
    (the directory reader's catch-up). ``keep_open``: hold one consumer between reads (a
    long-running process; call :meth:`stop`) instead of one per read (a command)."""

    def __init__(self, kafka: KafkaConnection, topic: str, *, keep_open: bool = False) -> None:
        self.kafka, self.topic, self.keep_open = kafka, topic, keep_open
        self._next: Positions = {}  # the next offset of each partition; empty: from the beginning
        self._consumer: AIOKafkaConsumer | None = None

    async def read_new(self) -> list[Record]:
        """The records after the last read, up to the end offsets at this call."""
        consumer = await self._start()
        try:
            return await self._read(consumer)
        except KafkaError as exc:
            raise ReadError.of(self.topic, exc) from exc
        finally:
            if not self.keep_open:
                await self.stop()

    async def stop(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()

    async def _start(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            parts = await topic_partitions(self.kafka, self.topic)
            consumer = _consumer(self.kafka)
            try:
                await consumer.start()
            except BaseException:
                await consumer.stop()
                raise
            consumer.assign(parts)
            for tp in parts:
                if tp in self._next:
                    consumer.seek(tp, self._next[tp])
                else:
                    await consumer.seek_to_beginning(tp)
            self._consumer = consumer
        return self._consumer

    async def _read(self, consumer: AIOKafkaConsumer) -> list[Record]:
        parts = sorted(consumer.assignment(), key=lambda tp: tp.partition)
        ends = await consumer.end_offsets(parts)
        out: list[Record] = []
        waiting = {tp for tp in parts if await consumer.position(tp) < ends[tp]}
        while waiting:
            batch = await consumer.getmany(*waiting, timeout_ms=500)
            for records in batch.values():
                out.extend(records)  # a record past the end is new too: kept, not fetched again
            for tp in list(waiting):
                if await consumer.position(tp) >= ends[tp]:
                    waiting.discard(tp)
        for tp in parts:
            self._next[tp] = await consumer.position(tp)
        return out

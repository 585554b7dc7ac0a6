"""Broker helpers of the demo: positions, groups that start at the current end, reading from a
remembered position until a condition holds or a deadline passes."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from producers.reader import Positions, end_offsets
from schemas.connection import KafkaConnection

__all__ = ["Positions", "end_offsets", "header", "read_until", "start_group_at_end"]

Records = list[ConsumerRecord[bytes, bytes]]


async def start_group_at_end(kafka: KafkaConnection, group: str, topics: Sequence[str]) -> None:
    """Commit the current end offsets for ``group``: a new group starts from now, not from what
    earlier runs (or other users of the broker) left on the shared topics."""
    ends = await end_offsets(kafka, topics)
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(ends))
        await consumer.commit(dict(ends))
    finally:
        await consumer.stop()


async def read_until(
    kafka: KafkaConnection,
    start: Mapping[TopicPartition, int],
    done: Callable[[Records], bool],
    timeout: float,
) -> Records:
    """Records of ``start``'s partitions from those offsets, until ``done(records)`` or the deadline."""
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    records: Records = []
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not done(records):
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode()
    return None

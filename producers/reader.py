"""Read a whole topic, from its beginning to the end offsets seen at the start (no consumer group).

For the compacted topics a node looks things up in: ``docbus.directory``, ``docbus.status``.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from schemas.connection import KafkaConnection

__all__ = ["ReadError", "read_to_end", "topic_partitions"]

logger = logging.getLogger(__name__)


class ReadError(Exception):
    """The topic cannot be read to its end (missing, broker unreachable, timeout)."""


async def read_to_end(
    kafka: KafkaConnection, topic: str, *, timeout: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` up to the end offsets at the time of the call, in partition order."""
    consumer = AIOKafkaConsumer(
        **kafka.client_kwargs(), enable_auto_commit=False, auto_offset_reset="earliest"
    )
    try:
        async with asyncio.timeout(timeout):
            await consumer.start()
            parts = await topic_partitions(consumer, topic)
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            ends = await consumer.end_offsets(parts)
            out: list[ConsumerRecord[bytes, bytes]] = []
            waiting = {tp for tp in parts if await consumer.position(tp) < ends[tp]}
            while waiting:
                batch = await consumer.getmany(*waiting, timeout_ms=500)
                for tp, records in batch.items():
                    out.extend(r for r in records if r.offset < ends[tp])
                    if await consumer.position(tp) >= ends[tp]:
                        waiting.discard(tp)
            return out
    except TimeoutError:
        raise ReadError(f"{topic}: not read to its end within {timeout:g} s") from None
    except KafkaError as exc:
        raise ReadError(f"{topic}: {exc!r}") from None
    finally:
        await consumer.stop()


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic`` from fresh metadata of a started consumer; ReadError if none."""
    found = await consumer._client.fetch_all_metadata()
    ids = found.partitions_for_topic(topic)
    if not ids:
        raise ReadError(f"topic {topic} does not exist")
    return [TopicPartition(topic, p) for p in sorted(ids)]

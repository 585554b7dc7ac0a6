"""Broker helpers for node tests: topics, and waiting for records with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from infra.topics import TopicSpec, apply, load_specs
from producers import reader
from schemas.connection import KafkaConnection

Record = ConsumerRecord[bytes, bytes]


async def make_topics(
    kafka: KafkaConnection, *names: str, partitions: int = 1, timeout: float = 15.0
) -> None:
    """Create the topics and wait until the broker's metadata lists them (KRaft propagates
    new topics asynchronously: a client asking right away may not see them yet).

    A topic of infra/topics.toml (``docbus.blobs``, say) is made as deployed, whatever ``partitions``
    says: the suite's broker is shared, and a bus topic made with other configs would read as drift
    to every later ``topics apply`` on it."""
    deployed = {s.name: s for s in load_specs()}
    specs = [deployed.get(n, TopicSpec(n, partitions, 1, retention_ms=-1)) for n in names]
    await apply(kafka, specs)
    async with asyncio.timeout(timeout):
        while True:
            found = await reader.partitions(kafka, names)
            if all(len(found[s.name]) == s.partitions for s in specs):
                return
            await asyncio.sleep(0.05)  # polling an observable condition, under the deadline


async def collect(
    kafka: KafkaConnection, topic: str, until: Callable[[list[Record]], bool], timeout: float = 30.0
) -> list[Record]:
    """Records of ``topic`` from the beginning until ``until(records)`` holds; TimeoutError otherwise."""
    consumer = AIOKafkaConsumer(
        topic, **kafka.client_kwargs(), auto_offset_reset="earliest", enable_auto_commit=False
    )
    got: list[Record] = []
    try:
        await consumer.start()  # inside the try: a task cancelled while starting still stops it
        async with asyncio.timeout(timeout):
            while not until(got):
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    got.extend(records)
        return got
    finally:
        await consumer.stop()

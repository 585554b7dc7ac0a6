"""The Kafka shell of the agents: writes the records a decision returned (consumers/bus/outputs.py)
straight to one aiokafka producer and returns their acknowledgements to await together."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaProducer

from consumers.bus.clients import producer
from consumers.bus.outputs import OutRecord
from schemas.connection import KafkaConnection

__all__ = ["RecordWriter"]


class RecordWriter:
    def __init__(self, kafka: KafkaConnection) -> None:
        self.kafka = kafka
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self.written = 0

    async def start(self) -> None:
        async with self._lock:
            if self._producer is None:
                started = producer(self.kafka)
                await started.start()
                self._producer = started

    async def stop(self) -> None:
        async with self._lock:
            if self._producer is not None:
                stopping, self._producer = self._producer, None
                await stopping.stop()

    async def write(
        self, records: Iterable[OutRecord], partition: int | None = None
    ) -> list[asyncio.Future[Any]]:
        """Hand every record to the producer (it batches them); the futures of their acks.
        ``partition``: all of them to that partition (a table changelog: the source's)."""
        if self._producer is None:
            await self.start()
        assert self._producer is not None
        send = self._producer.send
        futures = [
            await send(r.topic, r.value, key=r.key, headers=list(r.headers) or None, partition=partition)
            for r in records
        ]
        self.written += len(futures)
        return futures

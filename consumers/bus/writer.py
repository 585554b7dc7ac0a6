"""The Kafka shell of the agents: writes the records a decision returned (consumers/bus/outputs.py)
straight to one aiokafka producer and returns their acknowledgements to await together.

A broker outage of any length is waited out here, never raised into an agent: a record the
producer could not place (no metadata, ``UnknownTopicOrPartition``) or whose batch failed
(``LeaderNotAvailable`` after the batch expired, a request timeout, a lost connection) is written
again on a fresh producer, with backoff (consumers/outage.py), until the broker acknowledges it.
The acknowledgement returned by :meth:`RecordWriter.write` resolves only then, so an agent that
commits after awaiting them still commits nothing before its outputs are stored. From the first
record that failed on, every later record is written again in its order (a changelog key written
twice in one batch keeps its last value); the copies written twice are the at-least-once
duplicates that the inboxes and the audit writer drop by id (ADR 0001), as after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from consumers.bus.clients import producer
from consumers.bus.outputs import OutRecord
from consumers.outage import TRANSIENT, backoff, stop_quietly
from schemas.connection import KafkaConnection

__all__ = ["RecordWriter"]

logger = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class _Pending:
    """One record handed to the writer and not yet acknowledged."""

    record: OutRecord
    partition: int | None
    acked: asyncio.Future[Any]  # what the agent awaits: resolved once the broker stored the record
    sent: asyncio.Future[Any] | None = field(default=None)  # the producer's future of the last attempt


class RecordWriter:
    def __init__(self, kafka: KafkaConnection) -> None:
        self.kafka = kafka
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._pending: list[_Pending] = []  # in write order, oldest first
        self._recovery: asyncio.Task[None] | None = None
        self._retiring: set[asyncio.Task[None]] = set()  # failed producers being closed
        self.written = 0
        self.rewritten = 0  # records written again after an outage

    async def start(self) -> None:
        async with self._lock:
            if self._producer is None:
                started = producer(self.kafka)
                try:
                    await started.start()
                except BaseException:
                    await stop_quietly(started.stop, "bus writer producer")
                    raise
                self._producer = started

    async def stop(self) -> None:
        """Close the producer; acknowledgements still awaited are cancelled (shutdown)."""
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery
            self._recovery = None
        for item in self._pending:
            item.acked.cancel()
        self._pending.clear()
        async with self._lock:
            if self._producer is not None:
                stopping, self._producer = self._producer, None
                await stop_quietly(stopping.stop, "bus writer producer")
        for task in list(self._retiring):
            task.cancel()

    async def write(
        self, records: Iterable[OutRecord], partition: int | None = None
    ) -> list[asyncio.Future[Any]]:
        """Hand every record to the producer (it batches them); the futures of their acks.
        ``partition``: all of them to that partition (a table changelog: the source's)."""
        if self._producer is None and self._recovery is None:
            try:
                await self.start()
            except TRANSIENT as exc:
                self._outage(exc)
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = []
        for record in records:
            item = _Pending(record, partition, loop.create_future())
            self._pending.append(item)
            futures.append(item.acked)
            if self._recovery is None:  # while recovering, records wait their turn, in order
                await self._send(item)
        self.written += len(futures)
        if self._recovery is None:  # the recovery walks the list by position: only it trims it then
            self._forget_acked()
        return futures

    async def _send(self, item: _Pending) -> None:
        assert self._producer is not None
        record = item.record
        try:
            sent = await self._producer.send(
                record.topic, record.value, key=record.key, headers=list(record.headers) or None,
                partition=item.partition,
            )  # fmt: skip
        except TRANSIENT as exc:
            self._outage(exc)
            return
        item.sent = sent
        sent.add_done_callback(lambda done, item=item: self._settled(item, done))

    def _settled(self, item: _Pending, done: asyncio.Future[Any]) -> None:
        if done is not item.sent:
            return  # an earlier attempt on a retired producer
        failure = asyncio.CancelledError() if done.cancelled() else done.exception()
        if failure is not None:
            self._outage(failure)
        elif not item.acked.done():
            item.acked.set_result(done.result())

    def _forget_acked(self) -> None:
        while self._pending and self._pending[0].acked.done():
            self._pending.pop(0)

    def _outage(self, exc: BaseException) -> None:
        """A write failed: from now on records queue up until the recovery wrote them again."""
        if self._recovery is None:
            logger.error("bus writer: %r; writing again with backoff until the broker is back", exc)
            self._recovery = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        failures = 0
        while True:
            failures += 1
            await asyncio.sleep(backoff(failures))
            self._retire()
            try:
                await self.start()
                await self._rewrite()
            except TRANSIENT as exc:
                logger.debug("bus writer: still failing (%d): %r", failures, exc)
                continue
            except Exception:  # not an outage, yet giving up would leave the agent waiting for good
                logger.exception("bus writer: writing again failed (%d); retrying", failures)
                continue
            logger.warning("bus writer: broker reachable again after %d attempt(s)", failures)
            self._recovery = None  # no await since _rewrite found nothing left: order holds
            return

    def _retire(self) -> None:
        """Drop the producer that failed; it closes in the background (its flush waits out its
        own timeouts), and what it still acknowledges or fails no longer counts."""
        if self._producer is not None:
            old, self._producer = self._producer, None
            task = asyncio.get_running_loop().create_task(stop_quietly(old.stop, "bus writer producer"))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def _rewrite(self) -> None:
        """Write again, in order, every record from the first unacknowledged one on, and wait for
        their acknowledgements; raises a transient error if the broker is still away."""
        self._forget_acked()
        start = next((i for i, item in enumerate(self._pending) if not item.acked.done()), None)
        if start is None:
            return
        index = start
        while index < len(self._pending):  # records written meanwhile join at the end
            item = self._pending[index]
            assert self._producer is not None
            record = item.record
            item.sent = await self._producer.send(
                record.topic, record.value, key=record.key, headers=list(record.headers) or None,
                partition=item.partition,
            )  # fmt: skip
            self.rewritten += 1
            index += 1
        attempts = [item.sent for item in self._pending[start:] if item.sent is not None]
        results = await asyncio.gather(*attempts, return_exceptions=True)
        for result in results:
            if isinstance(result, asyncio.CancelledError):  # its producer closed under it
                raise KafkaConnectionError(f"write cancelled: {result!r}")
            if isinstance(result, BaseException):
                raise result
        for item in self._pending[start:]:
            if not item.acked.done() and item.sent is not None:
                item.acked.set_result(item.sent.result())
        self._forget_acked()
        if any(not item.acked.done() for item in self._pending):
            await self._rewrite()  # written during the wait above, after our last look

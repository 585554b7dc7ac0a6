"""The Kafka shell of the agents: writes the records a decision returned (consumers/bus/outputs.py)
straight to one aiokafka producer, a record batch per output partition, and returns their
acknowledgements to await together.

Batches: a record joins the open batch of its topic partition (the partition given — a table
changelog's is its source record's — or the producer's partitioner over the topic's partitions,
learnt once per producer). A partition has at most one batch on its way: its next batch is handed
to the producer (``send_batch``, aiokafka's :class:`~aiokafka.producer.message_accumulator.BatchBuilder`)
at once when none is, else as soon as the one before it is acknowledged; whatever is decided
meanwhile joins that next batch. Under load a batch holds what one broker round trip lets
accumulate; when traffic is light a record leaves at once. What a record costs the writer is its
share of a batch — one future and one callback per batch where ``producer.send`` made two of each
per record, about half of the write path's CPU (docs/PERFORMANCE.md). The acknowledgement
returned for a record is its batch's; one batch on its way per partition also keeps a
partition's batches, and so a compacted key's values, in the order they were written.

A broker outage of any length is waited out here, never raised into an agent: a batch the producer
could not take (no metadata, ``UnknownTopicOrPartition``) or that failed (``LeaderNotAvailable``
after the batch expired, a request timeout, a lost connection) is written again on a fresh
producer, with backoff (consumers/outage.py), until the broker acknowledges it. The acknowledgement
returned by :meth:`RecordWriter.write` resolves only then, so an agent that commits after awaiting
them still commits nothing before its outputs are stored. Every batch not acknowledged yet is
written again, each partition's in its order, one at a time (a changelog key written twice keeps
its last value); records handed over meanwhile follow them. The copies written twice are the
at-least-once duplicates that the inboxes and the audit writer drop by id (ADR 0001), as after a
restart. A record of a topic whose partitions are not known yet while the broker is away waits,
in order, for the recovery to place it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from consumers.bus.clients import MAX_BATCH, partition_of, producer
from consumers.bus.outputs import OutRecord
from consumers.outage import TRANSIENT, backoff, stop_quietly
from schemas.connection import KafkaConnection

__all__ = ["RecordWriter", "record_bound"]

logger = logging.getLogger(__name__)

TP = tuple[str, int]
_BATCH_HEADER = 61  # a v2 record batch's header
_ROOM = MAX_BATCH - _BATCH_HEADER


def record_bound(record: OutRecord) -> int:
    """Bytes ``record`` takes in a v2 record batch at most: its length, attributes, timestamp and
    offset deltas, key, value and header count, each varint at its widest, and every header's."""
    headers = sum(10 + len(name.encode()) + len(value) for name, value in record.headers)
    return 36 + len(record.key) + len(record.value) + headers


@dataclass(eq=False, slots=True)
class _Batch:
    """Records of one topic partition handed over together, in order, not yet acknowledged."""

    tp: TP
    acked: asyncio.Future[Any]  # what the agents await: resolved once the broker stored the batch
    records: list[OutRecord] = field(default_factory=list)
    size: int = 0  # record_bound() of the records
    open: bool = True  # takes more records (until full, or handed to the producer)
    handing: bool = False  # being handed to the producer now
    sent: asyncio.Future[Any] | None = None  # the producer's future of the last attempt


class RecordWriter:
    def __init__(self, kafka: KafkaConnection) -> None:
        self.kafka = kafka
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._lanes: dict[TP, deque[_Batch]] = {}  # a partition's unacknowledged batches, oldest first
        self._partitions: dict[str, list[int]] = {}  # a topic's partitions, learnt once per producer
        self._unplaced: deque[tuple[OutRecord, asyncio.Future[Any]]] = deque()  # partitions unknown
        self._recovery: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # batches handed over after an acknowledgement
        self._retiring: set[asyncio.Task[None]] = set()  # failed producers being closed
        self.written = 0
        self.rewritten = 0  # records written again after an outage
        self.batches = 0  # batches handed to the producer

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
                self._partitions.clear()

    async def stop(self) -> None:
        """Close the producer; acknowledgements still awaited are cancelled (shutdown)."""
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery
            self._recovery = None
        for task in list(self._tasks):
            task.cancel()
        for lane in self._lanes.values():
            for batch in lane:
                batch.acked.cancel()
        self._lanes.clear()
        for _, acked in self._unplaced:
            acked.cancel()
        self._unplaced.clear()
        async with self._lock:
            if self._producer is not None:
                stopping, self._producer = self._producer, None
                await stop_quietly(stopping.stop, "bus writer producer")
        for task in list(self._retiring):
            task.cancel()

    async def write(
        self, records: Iterable[OutRecord], partition: int | None = None
    ) -> list[asyncio.Future[Any]]:
        """Hand every record to its partition's open batch; the acknowledgements to await (one per
        batch the records joined). ``partition``: all of them to that partition (a table
        changelog: the source's)."""
        if self._producer is None and self._recovery is None:
            try:
                await self.start()
            except TRANSIENT as exc:
                self._outage(exc)
        acks: dict[int, asyncio.Future[Any]] = {}
        touched: dict[TP, None] = {}
        for record in records:
            self.written += 1
            part = partition if partition is not None else await self._place(record)
            if part is None:  # the broker is away and this topic's partitions are not known yet
                acked = asyncio.get_running_loop().create_future()
                self._unplaced.append((record, acked))
                acks[id(acked)] = acked
                continue
            batch = self._append((record.topic, part), record)
            acks[id(batch.acked)] = batch.acked
            touched[batch.tp] = None
        for tp in touched:
            await self._hand_over(tp)
        return list(acks.values())

    async def _place(self, record: OutRecord) -> int | None:
        """The partition of a keyed record, as the producer's partitioner chooses it; None while
        the topic's partitions are unknown and the broker cannot tell them."""
        parts = self._partitions.get(record.topic)
        if parts is None:
            if self._producer is None or self._recovery is not None or self._unplaced:
                return None
            try:
                parts = await self._learn(self._producer, record.topic)
            except TRANSIENT as exc:
                self._outage(exc)
                return None
        return partition_of(record.key, parts, parts)

    async def _learn(self, to: AIOKafkaProducer, topic: str) -> list[int]:
        parts = sorted(await to.partitions_for(topic))
        self._partitions[topic] = parts
        return parts

    def _append(self, tp: TP, record: OutRecord) -> _Batch:
        lane = self._lanes.get(tp)
        if lane is None:
            lane = self._lanes[tp] = deque()
        size = record_bound(record)
        batch = lane[-1] if lane else None
        if batch is None or not batch.open or (batch.records and batch.size + size > _ROOM):
            if batch is not None:
                batch.open = False
            batch = _Batch(tp, asyncio.get_running_loop().create_future())
            lane.append(batch)
        batch.records.append(record)
        batch.size += size
        return batch

    async def _hand_over(self, tp: TP) -> None:
        """Hand the partition's oldest batch to the producer unless one is on its way (or the
        writer is recovering from an outage: the recovery writes it)."""
        lane = self._lanes.get(tp)
        to = self._producer
        if to is None or self._recovery is not None or not lane:
            return
        batch = lane[0]
        if batch.sent is not None or batch.handing:
            return
        batch.open, batch.handing = False, True
        try:
            sent = await self._send(to, batch)
        except TRANSIENT as exc:
            self._outage(exc)
            return
        finally:
            batch.handing = False
        if to is not self._producer or self._recovery is not None:
            return  # retired meanwhile: the recovery writes the batch again
        batch.sent = sent
        sent.add_done_callback(functools.partial(self._settled, batch))

    async def _send(self, to: AIOKafkaProducer, batch: _Batch) -> asyncio.Future[Any]:
        builder = to.create_batch()
        for record in batch.records:
            headers = list(record.headers)  # the compiled builder takes a list only
            added = builder.append(timestamp=None, key=record.key, value=record.value, headers=headers)
            if added is None:  # record_bound() is an upper bound: a batch it admits fits
                raise AssertionError(f"{len(batch.records)} records overflow a batch of {MAX_BATCH} bytes")
        builder.close()
        self.batches += 1
        sent: asyncio.Future[Any] = await to.send_batch(builder, batch.tp[0], partition=batch.tp[1])
        return sent

    def _settled(self, batch: _Batch, done: asyncio.Future[Any]) -> None:
        if done is not batch.sent or batch.handing or batch.acked.done():
            return  # an earlier attempt on a retired producer, being written again, or stopped
        failure = asyncio.CancelledError() if done.cancelled() else done.exception()
        if failure is not None:
            self._outage(failure)
            return
        lane = self._lanes.get(batch.tp)
        if not lane or lane[0] is not batch:
            return
        lane.popleft()  # the oldest: one batch of a partition is on its way at a time
        batch.acked.set_result(done.result())
        if not lane:
            del self._lanes[batch.tp]
        elif self._recovery is None and not lane[0].handing:
            task = asyncio.get_running_loop().create_task(self._hand_over(batch.tp))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

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
        """Place the records that waited for their topic's partitions, then write every batch not
        acknowledged again, each partition's in order and one at a time, until none is left (records
        handed over meanwhile included); raises a transient error if the broker is still away."""
        to = self._producer
        assert to is not None
        while self._unplaced or self._lanes:
            while self._unplaced:
                record, acked = self._unplaced[0]
                parts = self._partitions.get(record.topic) or await self._learn(to, record.topic)
                batch = self._append((record.topic, partition_of(record.key, parts, parts)), record)
                _follow(batch.acked, acked)
                self._unplaced.popleft()
            lanes = list(self._lanes)
            again = (self._lane_again(to, tp) for tp in lanes)
            results = await asyncio.gather(*again, return_exceptions=True)
            for result in results:
                if isinstance(result, asyncio.CancelledError):  # its producer closed under it
                    raise KafkaConnectionError(f"write cancelled: {result!r}")
                if isinstance(result, BaseException):
                    raise result

    async def _lane_again(self, to: AIOKafkaProducer, tp: TP) -> None:
        lane = self._lanes.get(tp)
        while lane:
            batch = lane[0]
            batch.open, batch.handing = False, True
            try:
                batch.sent = attempt = await self._send(to, batch)
            finally:
                batch.handing = False
            self.rewritten += len(batch.records)
            result = await attempt
            if lane and lane[0] is batch:
                lane.popleft()
            if not batch.acked.done():
                batch.acked.set_result(result)
        if lane is not None and self._lanes.get(tp) is lane:
            del self._lanes[tp]


def _follow(source: asyncio.Future[Any], target: asyncio.Future[Any]) -> None:
    """Resolve ``target`` as ``source`` resolves."""

    def copy(done: asyncio.Future[Any]) -> None:
        if not target.done() and not done.cancelled() and done.exception() is None:
            target.set_result(done.result())

    source.add_done_callback(copy)

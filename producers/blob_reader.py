"""Fetch the chunk records an envelope references, by offset, with a bounded wait (ENVELOPE.md §7).

One consumer without a group reads ``docbus.blobs``: it seeks to the first offset a blob names and
reads forward, skipping records of other uploads between its chunks (it seeks again when the next
chunk is further away). Memory stays bounded by the fetch sizes, whatever the blob's size. Only
whether a record is there is decided here; whether it is the right one is the caller's
:class:`schemas.blob.BlobAssembly`'s job.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import OffsetOutOfRangeError
from aiokafka.structs import ConsumerRecord

from producers.fetch_guard import guard_fetches, refusal
from producers.reader import ReadError, topic_partitions
from producers.started import Started
from schemas.blob import BlobRef
from schemas.connection import KafkaConnection
from schemas.errors import ContractError
from schemas.reasons import Reason
from schemas.topics import BLOBS_TOPIC

__all__ = ["BlobReader"]

logger = logging.getLogger(__name__)

_FETCH_BYTES = 4 * 1024 * 1024  # per partition fetch: a few chunks, never the whole blob
_SKIP = 16  # read through at most this many foreign records before seeking instead
_POLL_MS = 200


class BlobReader(Started):
    """``async with BlobReader(kafka) as r: async for raw in r.records(ref): ...``.

    Raises ContractError(BLOB_INCOMPLETE) when a chunk is not there within ``wait`` seconds of
    the last progress (or was deleted by retention); KafkaError when the broker is unreachable."""

    def __init__(self, kafka: KafkaConnection, *, topic: str = BLOBS_TOPIC, wait: float = 30.0,
                 client_id: str = "docbus-blobs") -> None:  # fmt: skip
        self.topic, self.wait, self.kafka, self.client_id = topic, wait, kafka, client_id
        self._consumer_: AIOKafkaConsumer | None = None
        self._buf: deque[ConsumerRecord[bytes, bytes]] = deque()
        self._tp: TopicPartition | None = None
        self._pos: int | None = None  # the next offset the consumer reads; None: not sought yet

    @property
    def _consumer(self) -> AIOKafkaConsumer:
        assert self._consumer_ is not None, "start() first"
        return self._consumer_

    async def start(self) -> None:
        if self._consumer_ is None:  # made here: aiokafka binds to the running event loop
            guard_fetches()  # every org writes docbus.blobs: a compressed batch is decoded bounded
            # the TLS context is made here too: a reader of an inbox that never meets a chunked
            # payload costs nothing (one process may hold one per org code it serves)
            consumer = AIOKafkaConsumer(
                **self.kafka.client_kwargs(), client_id=self.client_id, enable_auto_commit=False,
                auto_offset_reset="none", fetch_max_bytes=_FETCH_BYTES,
                max_partition_fetch_bytes=_FETCH_BYTES,
            )  # fmt: skip
            await consumer.start()
            self._consumer_ = consumer

    async def stop(self) -> None:
        if self._consumer_ is not None:
            await self._consumer_.stop()
            self._consumer_ = None
            self._tp = None

    async def records(self, ref: BlobRef, start: int = 0) -> AsyncIterator[bytes]:
        """The raw record at every chunk offset of ``ref`` from chunk ``start`` on, in chunk order."""
        await self.start()
        tp = TopicPartition(self.topic, ref.partition)
        await self._assign(tp)
        for chunk in ref.chunks[start:]:
            yield await self._at(tp, chunk.offset)

    async def retained(self, ref: BlobRef) -> bool:
        """Whether every chunk offset of ``ref`` is still on the partition (not yet deleted by
        retention, not past its end); a cheap look before re-delivering an old envelope."""
        await self.start()
        tp = TopicPartition(self.topic, ref.partition)
        try:
            await self._assign(tp)
        except ContractError:
            return False
        first: int = (await self._consumer.beginning_offsets([tp]))[tp]
        end: int = (await self._consumer.end_offsets([tp]))[tp]
        offsets = [c.offset for c in ref.chunks]
        return first <= min(offsets) and max(offsets) < end

    async def _assign(self, tp: TopicPartition) -> None:
        if self._tp == tp:
            return
        try:
            known = await topic_partitions(self.kafka, tp.topic)  # fresh: the topic may be new
        except ReadError as exc:
            raise ContractError(Reason.BLOB_INCOMPLETE, str(exc)) from exc
        if tp not in known:
            raise ContractError(Reason.BLOB_INCOMPLETE, f"{tp.topic} has no partition {tp.partition}")
        self._consumer.assign([tp])
        self._tp, self._pos = tp, None
        self._buf.clear()

    async def _at(self, tp: TopicPartition, offset: int) -> bytes:
        deadline = asyncio.get_running_loop().time() + self.wait
        while True:
            while self._buf and self._buf[0].offset < offset:
                self._buf.popleft()
            if self._buf:
                record = self._buf.popleft()
                if record.offset != offset:
                    raise ContractError(Reason.BLOB_INCOMPLETE, f"no record at offset {offset}")
                refused = refusal(record.headers)
                if refused is not None:
                    raise ContractError(Reason.BLOB_MISMATCH, f"chunk at offset {offset}: {refused[1]}")
                return record.value or b""
            if self._pos is None or not self._pos <= offset <= self._pos + _SKIP:
                self._consumer.seek(tp, offset)
                self._pos = offset
            await self._fetch(tp, offset)
            if not self._buf and asyncio.get_running_loop().time() > deadline:
                detail = f"chunk at {tp.topic}[{tp.partition}]@{offset} not there after {self.wait:g} s"
                raise ContractError(Reason.BLOB_INCOMPLETE, detail)

    async def _fetch(self, tp: TopicPartition, offset: int) -> None:
        try:
            batch = await self._consumer.getmany(tp, timeout_ms=_POLL_MS, max_records=8)
        except OffsetOutOfRangeError:
            first = (await self._consumer.beginning_offsets([tp]))[tp]
            if offset < first:
                where = f"{tp.topic}[{tp.partition}]@{offset}"
                detail = f"chunk at {where} deleted by retention (the log starts at {first})"
                raise ContractError(Reason.BLOB_INCOMPLETE, detail) from None
            await asyncio.sleep(_POLL_MS / 1000)  # past the end: the upload may still be arriving
            self._consumer.seek(tp, offset)
            self._pos = offset
            return
        records = batch.get(tp, [])
        if records:
            self._buf.extend(records)
            self._pos = records[-1].offset + 1


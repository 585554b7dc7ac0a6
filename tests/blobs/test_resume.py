"""An interrupted upload resumes without producing stored chunks again; an interrupted receive
resumes from the chunks its partial file holds; content already received is not fetched again."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka.structs import RecordMetadata

from consumers.inbox.blobs import receive_blob
from producers.blob_reader import BlobReader
from producers.blob_upload import BlobUploader
from producers.publisher import Publisher, PublishError
from schemas.blob import BlobRef
from schemas.connection import KafkaConnection
from schemas.errors import ContractError
from schemas.reasons import Reason
from schemas.topics import BLOBS_TOPIC
from tests.node.kafka_util import make_topics

pytestmark = pytest.mark.broker
CHUNK = 4096


class CutPublisher(Publisher):
    """Takes ``allow`` chunks, then the connection 'breaks'."""

    def __init__(self, kafka: KafkaConnection, allow: int) -> None:
        super().__init__(kafka)
        self.allow = allow

    async def enqueue(
        self, topic: str, key: bytes, value: bytes, *, partition: int | None = None
    ) -> asyncio.Future[RecordMetadata]:
        if self.allow == 0:
            raise PublishError("connection lost")
        self.allow -= 1
        return await super().enqueue(topic, key, value, partition=partition)


class CountingReader(BlobReader):
    def __init__(self, kafka: KafkaConnection, cut_after: int | None = None) -> None:
        super().__init__(kafka, wait=5)
        self.fetched, self.cut_after = 0, cut_after

    async def records(self, ref: BlobRef, start: int = 0) -> AsyncIterator[bytes]:
        async for raw in super().records(ref, start):
            if self.cut_after is not None and self.fetched == self.cut_after:
                raise ContractError(Reason.BLOB_INCOMPLETE, "receiver stopped")
            self.fetched += 1
            yield raw


async def test_upload_and_receive_resume_and_store_once(kafka_conn: KafkaConnection, tmp_path: Path) -> None:
    await make_topics(kafka_conn, BLOBS_TOPIC, partitions=6)
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(os.urandom(20 * CHUNK + 17))  # 21 chunks
    journal = tmp_path / "state" / "blobs"

    async with CutPublisher(kafka_conn, allow=9) as cut:
        with pytest.raises(PublishError):
            await BlobUploader(cut, journal, chunk_size=CHUNK).upload(scan, "application/pdf")
    stored = len((next(journal.iterdir())).read_text().splitlines()) - 1  # minus the header line
    assert 0 < stored <= 9
    async with Publisher(kafka_conn) as pub:
        uploader = BlobUploader(pub, journal, chunk_size=CHUNK)
        payload = await uploader.upload(scan, "application/pdf")
        assert uploader.last.chunks == 21 and uploader.last.produced == 21 - stored
        again = await uploader.upload(scan, "application/pdf")  # the same file, another dispatch
        assert uploader.last.produced == 0 and again == payload
    assert payload.sha256 == hashlib.sha256(scan.read_bytes()).digest()
    assert payload.blob is not None and payload.blob.sealed is not None  # encrypted (ENVELOPE.md §7.4)
    key = uploader.content_keys[payload.blob.sealed.id]  # the resumed upload kept its content key

    inbox = tmp_path / "inbox"
    cut_reader = CountingReader(kafka_conn, cut_after=8)
    with pytest.raises(ContractError):
        await receive_blob(cut_reader, inbox, payload, key)
    await cut_reader.stop()
    assert (inbox / ".partial" / payload.sha256.hex()).stat().st_size == 8 * CHUNK
    reader = CountingReader(kafka_conn)
    try:
        final = await receive_blob(reader, inbox, payload, key)
        assert reader.fetched == 21 - 8  # the 8 chunks held are read back from disk, not fetched
        assert final.read_bytes() == scan.read_bytes()
        reader.fetched = 0
        assert await receive_blob(reader, inbox, payload, key) == final and reader.fetched == 0
        # what replay looks at before re-delivering an old envelope (consumers/audit/kafka/replay.py)
        assert payload.blob is not None and await reader.retained(payload.blob)
        last = payload.blob.chunks[-1].model_copy(update={"offset": payload.blob.chunks[-1].offset + 10**6})
        beyond = payload.blob.model_copy(update={"chunks": [*payload.blob.chunks[:-1], last]})
        assert not await reader.retained(beyond)
    finally:
        await reader.stop()

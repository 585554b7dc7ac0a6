"""Upload a large file as chunk records on ``docbus.blobs`` before its envelope (ENVELOPE.md §7.1).

The file is read twice, a chunk at a time: once for its SHA-256 and chunk digests (which decide
its journal), once to produce the chunks that are not stored yet. At most ``window`` chunks are
in flight, so memory stays a few chunks whatever the file's size. Every acknowledged chunk is
written to the upload journal (``<state>/blobs/<sha256>-<size>-<chunk size>.jsonl``): an
interrupted upload resumes with the chunks it lacks, and the same file sent again within
``reuse`` (well inside the topic's retention) is not uploaded again at all.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from aiokafka.structs import RecordMetadata

from producers.publisher import Publisher, PublishError, acknowledged
from schemas.blob import BlobRef, ChunkRef, chunk_count, chunk_key, encode_chunk
from schemas.payload import Payload
from schemas.topics import BLOBS_TOPIC

__all__ = ["BlobUploader", "UploadStats"]

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_BYTES = 1024 * 1024


@dataclass(slots=True)
class UploadStats:
    chunks: int = 0  # chunks of the file
    produced: int = 0  # chunks produced by this upload (the rest were stored before)


class _Journal:
    """Append-only record of acknowledged chunks: a header line, then one line per chunk."""

    def __init__(self, path: Path, reuse: timedelta) -> None:
        self.path = path
        self.partition: int | None = None
        self.offsets: dict[int, int] = {}
        if path.is_file():
            self._load(reuse)
        self._file: IO[str] | None = None

    def _load(self, reuse: timedelta) -> None:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        try:
            head = json.loads(lines[0])
            if datetime.now(UTC) - datetime.fromisoformat(head["started"]) > reuse:
                self.path.unlink()  # its chunks may be gone by retention: upload afresh
                return
            self.partition = int(head["partition"])
            for line in lines[1:]:
                entry = json.loads(line)  # a torn last line (a crash) raises: that chunk is sent again
                self.offsets[int(entry["i"])] = int(entry["o"])
        except (ValueError, KeyError, IndexError, json.JSONDecodeError):
            if self.partition is None:
                self.path.unlink()

    def begin(self, partition: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = self.partition is None
        self.partition = partition
        self._file = self.path.open("a", encoding="utf-8")
        if fresh:
            head = {"partition": partition, "started": datetime.now(UTC).isoformat()}
            self._file.write(json.dumps(head) + "\n")

    def stored(self, index: int, offset: int) -> None:
        self.offsets[index] = offset
        assert self._file is not None
        self._file.write(json.dumps({"i": index, "o": offset}) + "\n")
        self._file.flush()  # fsynced at the end: a crash loses at most a re-send of a few chunks

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


def _chunks(f: IO[bytes], chunk_size: int) -> Iterator[bytes]:
    while block := f.read(chunk_size):
        yield block


class BlobUploader:
    def __init__(
        self,
        publisher: Publisher,
        journal_dir: Path,
        *,
        topic: str = BLOBS_TOPIC,
        chunk_size: int = DEFAULT_CHUNK_BYTES,
        window: int = 8,
        reuse: timedelta = timedelta(days=3),
    ) -> None:
        self.publisher, self.journal_dir, self.topic = publisher, journal_dir, topic
        self.chunk_size, self.window, self.reuse = chunk_size, window, reuse
        self.last = UploadStats()

    async def upload(self, path: Path, content_type: str, file_name: str | None = None) -> Payload:
        """Produce the file's missing chunks; returns the payload (descriptor + blob reference).
        PublishError when the broker does not take them; OSError for the file."""
        size, digest, digests = await asyncio.to_thread(self._scan, path)
        if size == 0:
            raise PublishError(f"{path.name} is empty: send it inline")
        journal = _Journal(self.journal_dir / f"{digest.hex()}-{size}-{self.chunk_size}.jsonl", self.reuse)
        partition = journal.partition
        if partition is None:
            partition = int.from_bytes(digest[:4], "big") % await self.publisher.partition_count(self.topic)
        journal.begin(partition)
        self.last = UploadStats(chunks=len(digests))
        try:
            await self._produce(path, size, digest, digests, partition, journal)
        finally:
            journal.close()
        refs = [ChunkRef(sha256=d, offset=journal.offsets[i]) for i, d in enumerate(digests)]
        blob = BlobRef(chunk_size=self.chunk_size, partition=partition, chunks=refs)
        name = file_name or path.name
        return Payload(
            file_name=name, content_type=content_type, size=size, sha256=digest, data=b"", blob=blob
        )

    def _scan(self, path: Path) -> tuple[int, bytes, list[bytes]]:
        whole = hashlib.sha256()
        digests: list[bytes] = []
        size = 0
        with path.open("rb") as f:
            for block in _chunks(f, self.chunk_size):
                whole.update(block)
                digests.append(hashlib.sha256(block).digest())
                size += len(block)
        return size, whole.digest(), digests

    async def _produce(
        self, path: Path, size: int, digest: bytes, digests: list[bytes], partition: int, journal: _Journal
    ) -> None:
        key = chunk_key(digest)
        pending: deque[tuple[int, asyncio.Future[RecordMetadata]]] = deque()

        async def settle(n: int) -> None:
            while len(pending) > n:
                index, fut = pending.popleft()
                journal.stored(index, (await acknowledged(fut)).offset)

        try:
            with path.open("rb") as f:
                for index in range(chunk_count(size, self.chunk_size)):
                    if index in journal.offsets:
                        continue
                    f.seek(index * self.chunk_size)
                    data = f.read(self.chunk_size)
                    if hashlib.sha256(data).digest() != digests[index]:
                        raise PublishError(f"{path.name} changed while it was being sent")
                    record = encode_chunk(digest, size, index, data, digests[index])
                    pending.append((index, await self.publisher.enqueue(self.topic, key, record,
                                                                        partition=partition)))  # fmt: skip
                    self.last.produced += 1
                    await settle(self.window - 1)
            await settle(0)
        finally:
            for index, fut in pending:  # an error above: what was acknowledged still goes in the journal
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    journal.stored(index, fut.result().offset)

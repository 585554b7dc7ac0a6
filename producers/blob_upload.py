"""Upload a large file as chunk records on ``docbus.blobs`` before its envelope (ENVELOPE.md §7.1).

Chunks are encrypted (``blob_chunk.v2``, §7.4) under a content key drawn per upload; the
uploader keeps it (:attr:`BlobUploader.content_keys`, and the journal) for the send that wraps it
to the recipients. The file is read twice, a chunk at a time: once for its SHA-256 and chunk
digests (which decide its journal), once to encrypt and produce the chunks not stored yet. At
most ``window`` chunks are in flight, so memory stays a few chunks whatever the file's size.
Every acknowledged chunk is
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
from schemas.blob import BlobRef, ChunkRef, SealedBlob, chunk_count, chunk_key, encode_chunk
from schemas.blob_crypto import KEY_BYTES, blob_id, encrypt_chunk
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
        self.key: bytes | None = None  # the content key of an encrypted upload
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
            self.key = bytes.fromhex(head["key"]) if "key" in head else None
            for line in lines[1:]:
                entry = json.loads(line)  # a torn last line (a crash) raises: that chunk is sent again
                self.offsets[int(entry["i"])] = int(entry["o"])
        except (ValueError, KeyError, IndexError, json.JSONDecodeError):
            if self.partition is None:
                self.path.unlink()

    def begin(self, partition: int, key: bytes | None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = self.partition is None
        self.partition, self.key = partition, key
        # it holds a content key: readable by the node alone, like its state folder
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8")
        if fresh:
            head: dict[str, object] = {"partition": partition, "started": datetime.now(UTC).isoformat()}
            if key is not None:
                head["key"] = key.hex()
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
        encrypt: bool = True,
    ) -> None:
        self.publisher, self.journal_dir, self.topic = publisher, journal_dir, topic
        self.chunk_size, self.window, self.reuse = chunk_size, window, reuse
        self.encrypt = encrypt  # False: plaintext blob_chunk.v1 (readers of v1 only; tests)
        self.last = UploadStats()
        self.content_keys: dict[bytes, bytes] = {}  # blob id -> content key, for the send to wrap

    async def upload(self, path: Path, content_type: str, file_name: str | None = None) -> Payload:
        """Produce the file's missing chunks; returns the payload (descriptor + blob reference).
        PublishError when the broker does not take them; OSError for the file."""
        size, digest, digests = await asyncio.to_thread(self._scan, path)
        if size == 0:
            raise PublishError(f"{path.name} is empty: send it inline")
        version = "v2" if self.encrypt else "v1"
        name = f"{digest.hex()}-{size}-{self.chunk_size}{'-v2' if self.encrypt else ''}.jsonl"
        journal = _Journal(self.journal_dir / name, self.reuse)
        partition = journal.partition
        if partition is None:
            partition = int.from_bytes(digest[:4], "big") % await self.publisher.partition_count(self.topic)
        key = journal.key if journal.key is not None else os.urandom(KEY_BYTES) if self.encrypt else None
        journal.begin(partition, key)
        self.last = UploadStats(chunks=len(digests))
        try:
            signed = await self._produce(path, size, digest, digests, partition, journal)
        finally:
            journal.close()
        refs = [ChunkRef(sha256=d, offset=journal.offsets[i]) for i, d in enumerate(signed)]
        sealed = None
        if key is not None:
            sealed = SealedBlob(id=blob_id(key))
            self.content_keys[sealed.id] = key
        blob = BlobRef(chunk_size=self.chunk_size, partition=partition, chunks=refs, sealed=sealed)
        logger.debug("%s uploaded as blob_chunk.%s", path.name, version)
        return Payload(
            file_name=file_name or path.name, content_type=content_type, size=size, sha256=digest, data=b"",
            blob=blob,
        )  # fmt: skip

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
    ) -> list[bytes]:
        """Produce the chunks the journal lacks; returns every chunk's signed digest (of its
        ciphertext when encrypted: encryption is deterministic, so stored chunks are encrypted
        again to the same bytes to name them)."""
        key = journal.key
        name = digest if key is None else blob_id(key)
        record_key = chunk_key(name)
        signed: list[bytes] = []
        pending: deque[tuple[int, asyncio.Future[RecordMetadata]]] = deque()

        async def settle(n: int) -> None:
            while len(pending) > n:
                index, fut = pending.popleft()
                journal.stored(index, (await acknowledged(fut)).offset)

        try:
            with path.open("rb") as f:
                for index in range(chunk_count(size, self.chunk_size)):
                    f.seek(index * self.chunk_size)
                    data = f.read(self.chunk_size)
                    if hashlib.sha256(data).digest() != digests[index]:
                        raise PublishError(f"{path.name} changed while it was being sent")
                    if key is not None:
                        data = encrypt_chunk(key, digest, index, data)
                    signed.append(hashlib.sha256(data).digest() if key is not None else digests[index])
                    if index in journal.offsets:
                        continue
                    version = 1 if key is None else 2
                    record = encode_chunk(name, size, index, data, signed[index], version=version)
                    pending.append((index, await self.publisher.enqueue(self.topic, record_key, record,
                                                                        partition=partition)))  # fmt: skip
                    self.last.produced += 1
                    await settle(self.window - 1)
            await settle(0)
        finally:
            for index, fut in pending:  # an error above: what was acknowledged still goes in the journal
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    journal.stored(index, fut.result().offset)
        return signed

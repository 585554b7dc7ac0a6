"""Large payloads as content-addressed chunks on ``docbus.blobs`` (docs/ENVELOPE.md §7).

A payload above the sender's inline threshold travels as chunk records (``blob_chunk.v1``), one
per ``chunk_size`` bytes of content, produced before the envelope. The signed envelope carries,
in the payload's :class:`BlobRef`, the chunk size, the partition and, per chunk, its SHA-256 and
the offset the broker gave it. A reader fetches exactly those records and checks each one as it
streams (:class:`BlobAssembly`), then the whole content's size and SHA-256: nothing but signed
digests decides what is accepted, so a record in the wrong place is refused, never trusted.

The chunk record is plain Avro single-object encoding; it is encoded and decoded here by hand
(the same bytes fastavro writes, checked by the tests) so a 1 MiB chunk is not copied through a
generic writer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.codec import MARKER, fingerprint
from schemas.errors import ContractError
from schemas.fields import Sha256
from schemas.reasons import Reason

__all__ = [
    "BlobAssembly",
    "BlobRef",
    "ChunkRecord",
    "ChunkRef",
    "chunk_count",
    "chunk_key",
    "chunk_length",
    "decode_chunk",
    "encode_chunk",
]

_HEADER = 10  # C3 01 + 8-byte fingerprint


class ChunkRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: Sha256
    offset: int = Field(ge=0, lt=2**63)


class BlobRef(BaseModel):
    """Where and how a payload's content travels as chunks (signed: docbus/envelope/v3)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chunk_size: int = Field(ge=1, lt=2**31)
    partition: int = Field(ge=0, lt=2**31)
    chunks: Annotated[list[ChunkRef], Field(min_length=1)]

    @model_validator(mode="after")
    def _offsets(self) -> BlobRef:
        offsets = [c.offset for c in self.chunks]
        if len(set(offsets)) != len(offsets):
            raise ValueError("two chunks at one offset")
        return self


def chunk_count(size: int, chunk_size: int) -> int:
    return -(-size // chunk_size)


def chunk_length(size: int, chunk_size: int, index: int) -> int:
    """Bytes in chunk ``index``: ``chunk_size`` except the last, which holds the rest."""
    return min(chunk_size, size - index * chunk_size)


def chunk_key(content_sha256: bytes) -> bytes:
    """The Kafka key of every chunk of one content: its SHA-256 in lowercase hex."""
    return content_sha256.hex().encode()


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    content: bytes  # SHA-256 of the whole payload
    size: int  # size of the whole payload
    index: int
    sha256: bytes  # SHA-256 of data, as the record claims it
    data: memoryview


def _zigzag(value: int) -> bytes:
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _read_long(buf: memoryview, pos: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint")
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            return (n >> 1) ^ -(n & 1), pos
        shift += 7


def encode_chunk(content: bytes, size: int, index: int, data: bytes, digest: bytes | None = None) -> bytes:
    """A ``blob_chunk.v1`` record: marker, fingerprint, then the Avro body field by field
    (``digest``: SHA-256 of ``data`` when the caller just computed it)."""
    digest = digest or hashlib.sha256(data).digest()
    head = b"".join([MARKER, fingerprint("blob_chunk.v1"), content, _zigzag(size), _zigzag(index), digest])
    return head + _zigzag(len(data)) + data


def decode_chunk(raw: bytes | memoryview) -> ChunkRecord:
    """Decode a chunk record without copying its data; ContractError(MALFORMED) otherwise."""
    buf = memoryview(raw)
    if len(buf) < _HEADER or buf[:2] != MARKER or buf[2:_HEADER] != fingerprint("blob_chunk.v1"):
        raise ContractError(Reason.MALFORMED, "not a blob_chunk.v1 record")
    try:
        pos = _HEADER + 32
        content = bytes(buf[_HEADER:pos])
        size, pos = _read_long(buf, pos)
        index, pos = _read_long(buf, pos)
        digest = bytes(buf[pos : pos + 32])
        length, pos = _read_long(buf, pos + 32)
    except ValueError as exc:
        raise ContractError(Reason.MALFORMED, f"bad chunk record: {exc}") from exc
    if len(content) != 32 or len(digest) != 32 or length < 0 or pos + length != len(buf):
        raise ContractError(Reason.MALFORMED, "chunk record length does not add up")
    return ChunkRecord(content, size, index, digest, buf[pos:])


class BlobAssembly:
    """Checks one payload's chunks as they stream, in content order, from chunk ``start`` on.

    ``accept`` returns the verified bytes of the next chunk (write them, hash them, forward them)
    or raises ContractError(BLOB_MISMATCH); ``finish`` checks the whole size and SHA-256. A
    resumed reader passes the chunks it already holds through ``resume`` first (no fetch)."""

    def __init__(self, content_sha256: bytes, size: int, ref: BlobRef) -> None:
        self.content, self.size, self.ref = content_sha256, size, ref
        self.next = 0
        self.received = 0
        self._whole: Any = hashlib.sha256()

    @property
    def done(self) -> bool:
        return self.next == len(self.ref.chunks)

    def expected(self) -> ChunkRef:
        return self.ref.chunks[self.next]

    def resume(self, data: bytes | memoryview) -> None:
        """Take chunk ``next`` from local storage: only its digest is checked."""
        if len(data) != chunk_length(self.size, self.ref.chunk_size, self.next):
            raise ContractError(Reason.BLOB_MISMATCH, f"stored chunk {self.next} has the wrong length")
        if hashlib.sha256(data).digest() != self.expected().sha256:
            raise ContractError(Reason.BLOB_MISMATCH, f"stored chunk {self.next} does not match")
        self._advance(data)

    def accept(self, raw: bytes | memoryview) -> memoryview:
        index, want = self.next, self.expected()
        where = f"chunk {index} at offset {want.offset}"
        try:
            record = decode_chunk(raw)
        except ContractError as exc:
            raise ContractError(Reason.BLOB_MISMATCH, f"{where}: {exc.detail}") from exc
        if record.content != self.content:
            raise ContractError(Reason.BLOB_MISMATCH, f"{where} belongs to another content")
        if record.size != self.size:
            # same digest, other size: a collision attempt, or a forged record
            detail = f"{where} claims size {record.size}, the envelope signs {self.size}"
            raise ContractError(Reason.BLOB_MISMATCH, detail)
        if record.index != index:
            raise ContractError(Reason.BLOB_MISMATCH, f"{where} is chunk {record.index}")
        expected_len = chunk_length(self.size, self.ref.chunk_size, index)
        if len(record.data) != expected_len:
            detail = f"{where} holds {len(record.data)} bytes, expected {expected_len}"
            raise ContractError(Reason.BLOB_MISMATCH, detail)
        actual = hashlib.sha256(record.data).digest()
        if actual != want.sha256:
            raise ContractError(Reason.BLOB_MISMATCH, f"{where}: SHA-256 is not the signed one")
        if record.sha256 != actual:
            raise ContractError(Reason.BLOB_MISMATCH, f"{where}: the record misstates its SHA-256")
        self._advance(record.data)
        return record.data

    def _advance(self, data: bytes | memoryview) -> None:
        self._whole.update(data)
        self.received += len(data)
        self.next += 1

    def finish(self) -> None:
        if not self.done:
            raise ContractError(Reason.BLOB_INCOMPLETE, f"{self.next} of {len(self.ref.chunks)} chunks")
        if self.received != self.size or self._whole.digest() != self.content:
            detail = f"the {len(self.ref.chunks)} chunks do not make the signed content (SHA-256, size)"
            raise ContractError(Reason.BLOB_MISMATCH, detail)

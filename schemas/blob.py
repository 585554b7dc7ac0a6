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

from schemas.blob_crypto import TAG_BYTES, WRAPPED_BYTES, decrypt_chunk, encrypt_chunk
from schemas.codec import MARKER, fingerprint
from schemas.errors import ContractError
from schemas.fields import OrgCode, Sha256
from schemas.reasons import Reason

__all__ = [
    "BlobAssembly",
    "BlobRef",
    "ChunkRecord",
    "ChunkRef",
    "DocumentKeys",
    "KeyWrap",
    "SealedBlob",
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


class SealedBlob(BaseModel):
    """v6: the chunks are ciphertext (``blob_chunk.v2``) under a content key wrapped in ``key``
    under the envelope's document key (docs/ENVELOPE.md §7.4). ``key`` is empty only between the
    upload and the send that wraps it; an envelope is never signed so (INVALID_FIELD)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Sha256  # the chunk records' blob id and Kafka key (schemas.blob_crypto.blob_id)
    key: bytes = Field(default=b"", max_length=WRAPPED_BYTES)


class BlobRef(BaseModel):
    """Where and how a payload's content travels as chunks (signed: docbus/envelope/v3, v4 sealed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chunk_size: int = Field(ge=1, lt=2**31)
    partition: int = Field(ge=0, lt=2**31)
    chunks: Annotated[list[ChunkRef], Field(min_length=1)]
    sealed: SealedBlob | None = None  # v6: the chunks are encrypted to the recipients

    @model_validator(mode="after")
    def _offsets(self) -> BlobRef:
        offsets = [c.offset for c in self.chunks]
        if len(set(offsets)) != len(offsets):
            raise ValueError("two chunks at one offset")
        return self


class KeyWrap(BaseModel):
    """The document key wrapped for one recipient's encryption certificate (schemas.blob_crypto)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    recipient: OrgCode  # dotted: a code the bus routes a copy to
    certificate: Sha256  # SHA-256 of the DER of the encryption certificate the directory lists
    key: bytes = Field(min_length=WRAPPED_BYTES, max_length=WRAPPED_BYTES)


class DocumentKeys(BaseModel):
    """v6: how the recipients open the envelope's sealed blobs; signed with the envelope."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ephemeral: bytes = Field(min_length=65, max_length=65)  # X9.62 uncompressed P-256 point
    wraps: Annotated[list[KeyWrap], Field(min_length=1, max_length=100_000)]

    @model_validator(mode="after")
    def _one_per_recipient(self) -> DocumentKeys:
        codes = [w.recipient for w in self.wraps]
        if len(set(codes)) != len(codes):
            raise ValueError("two key wraps for one recipient")
        return self

    def wrap_for(self, recipient: str) -> KeyWrap | None:
        return next((w for w in self.wraps if w.recipient == recipient), None)


def chunk_count(size: int, chunk_size: int) -> int:
    return -(-size // chunk_size)


def chunk_length(size: int, chunk_size: int, index: int) -> int:
    """Bytes in chunk ``index``: ``chunk_size`` except the last, which holds the rest."""
    return min(chunk_size, size - index * chunk_size)


def chunk_key(content_sha256: bytes) -> bytes:
    """The Kafka key of every chunk of one content: its SHA-256 (v1) or its blob id (v2) in
    lowercase hex."""
    return content_sha256.hex().encode()


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    content: bytes  # v1: SHA-256 of the whole payload; v2: the blob id
    size: int  # size of the whole payload
    index: int
    sha256: bytes  # SHA-256 of data, as the record claims it
    data: memoryview
    version: int = 1  # 2: ``data`` is ciphertext and tag (blob_chunk.v2)


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


def encode_chunk(
    content: bytes, size: int, index: int, data: bytes, digest: bytes | None = None, *, version: int = 1
) -> bytes:
    """A ``blob_chunk.v1`` record (``version=2``: ``blob_chunk.v2``, ``content`` the blob id and
    ``data`` the ciphertext): marker, fingerprint, then the Avro body field by field (``digest``:
    SHA-256 of ``data`` when the caller just computed it). Both versions have the same layout."""
    digest = digest or hashlib.sha256(data).digest()
    schema = fingerprint(f"blob_chunk.v{version}")
    head = b"".join([MARKER, schema, content, _zigzag(size), _zigzag(index), digest])
    return head + _zigzag(len(data)) + data


def _version(buf: memoryview) -> int | None:
    if len(buf) < _HEADER or buf[:2] != MARKER:
        return None
    tag = buf[2:_HEADER]
    return 1 if tag == fingerprint("blob_chunk.v1") else 2 if tag == fingerprint("blob_chunk.v2") else None


def decode_chunk(raw: bytes | memoryview) -> ChunkRecord:
    """Decode a chunk record (v1 or v2) without copying its data; ContractError(MALFORMED) otherwise."""
    buf = memoryview(raw)
    version = _version(buf)
    if version is None:
        raise ContractError(Reason.MALFORMED, "not a blob_chunk.v1 or v2 record")
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
    return ChunkRecord(content, size, index, digest, buf[pos:], version)


class BlobAssembly:
    """Checks one payload's chunks as they stream, in content order, from chunk ``start`` on.

    ``accept`` returns the verified bytes of the next chunk (write them, hash them, forward them)
    or raises ContractError(BLOB_MISMATCH); ``finish`` checks the whole size and SHA-256. A
    resumed reader passes the chunks it already holds through ``resume`` first (no fetch).

    A sealed blob (v6, ciphertext chunks): every record is checked against its signed ciphertext
    digest. Without ``content_key`` (the bus) ``accept`` returns the ciphertext and ``finish``
    checks the count only: the signed digests pin every ciphertext byte, and what it decrypts to is
    the recipient's to check. With it (the recipient) each chunk is decrypted (BLOB_UNDECRYPTABLE)
    and the plaintext is returned and hashed, so ``finish`` checks ``size`` and ``H`` as for v1."""

    def __init__(
        self, content_sha256: bytes, size: int, ref: BlobRef, content_key: bytes | None = None
    ) -> None:
        self.content, self.size, self.ref = content_sha256, size, ref
        self.key = content_key
        self.next = 0
        self.received = 0
        self._whole: Any = hashlib.sha256()

    @property
    def done(self) -> bool:
        return self.next == len(self.ref.chunks)

    def expected(self) -> ChunkRef:
        return self.ref.chunks[self.next]

    def _plain_length(self) -> int:
        return chunk_length(self.size, self.ref.chunk_size, self.next)

    def resume(self, data: bytes | memoryview) -> None:
        """Take chunk ``next`` (plaintext) from local storage: only its digest is checked (a sealed
        blob's chunk is encrypted again, deterministically, to its signed ciphertext)."""
        if len(data) != self._plain_length():
            raise ContractError(Reason.BLOB_MISMATCH, f"stored chunk {self.next} has the wrong length")
        signed = bytes(data)
        if self.ref.sealed is not None:
            if self.key is None:
                raise ContractError(Reason.KEY_MISSING, "a sealed blob resumes only with its content key")
            signed = encrypt_chunk(self.key, self.content, self.next, signed)
        if hashlib.sha256(signed).digest() != self.expected().sha256:
            raise ContractError(Reason.BLOB_MISMATCH, f"stored chunk {self.next} does not match")
        self._advance(data, len(data))

    def accept(self, raw: bytes | memoryview) -> memoryview:
        index, want = self.next, self.expected()
        where = f"chunk {index} at offset {want.offset}"
        try:
            record = decode_chunk(raw)
        except ContractError as exc:
            raise ContractError(Reason.BLOB_MISMATCH, f"{where}: {exc.detail}") from exc
        sealed = self.ref.sealed
        if record.version != (1 if sealed is None else 2):
            raise ContractError(Reason.BLOB_MISMATCH, f"{where} is a blob_chunk.v{record.version} record")
        if record.content != (self.content if sealed is None else sealed.id):
            raise ContractError(Reason.BLOB_MISMATCH, f"{where} belongs to another content")
        if record.size != self.size:
            # same digest, other size: a collision attempt, or a forged record
            detail = f"{where} claims size {record.size}, the envelope signs {self.size}"
            raise ContractError(Reason.BLOB_MISMATCH, detail)
        if record.index != index:
            raise ContractError(Reason.BLOB_MISMATCH, f"{where} is chunk {record.index}")
        plain_len = self._plain_length()
        expected_len = plain_len if sealed is None else plain_len + TAG_BYTES
        if len(record.data) != expected_len:
            detail = f"{where} holds {len(record.data)} bytes, expected {expected_len}"
            raise ContractError(Reason.BLOB_MISMATCH, detail)
        actual = hashlib.sha256(record.data).digest()
        if actual != want.sha256:
            raise ContractError(Reason.BLOB_MISMATCH, f"{where}: SHA-256 is not the signed one")
        if record.sha256 != actual:
            raise ContractError(Reason.BLOB_MISMATCH, f"{where}: the record misstates its SHA-256")
        if sealed is None or self.key is None:
            self._advance(record.data, plain_len)
            return record.data
        plain = memoryview(decrypt_chunk(self.key, self.content, index, record.data))
        self._advance(plain, plain_len)
        return plain

    def _advance(self, data: bytes | memoryview, plain_len: int) -> None:
        if self.ref.sealed is None or self.key is not None:
            self._whole.update(data)
        self.received += plain_len
        self.next += 1

    def finish(self) -> None:
        if not self.done:
            raise ContractError(Reason.BLOB_INCOMPLETE, f"{self.next} of {len(self.ref.chunks)} chunks")
        if self.ref.sealed is not None and self.key is None:
            return  # the bus: every ciphertext chunk matched its signed digest
        if self.received != self.size or self._whole.digest() != self.content:
            detail = f"the {len(self.ref.chunks)} chunks do not make the signed content (SHA-256, size)"
            raise ContractError(Reason.BLOB_MISMATCH, detail)

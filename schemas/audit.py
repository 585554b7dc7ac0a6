"""Audit trail models: chain records, signed checkpoints, evidence bundles (docs/AUDIT.md).

The Avro layout of ``AuditRecord`` puts ``prev_hash`` (32 bytes) and ``index`` (8 bytes, big-endian)
first, so a verifier reads both at fixed offsets of the stored bytes without decoding the body.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from schemas.codec import AvroModel
from schemas.signature import Signature

__all__ = [
    "HASH_SIZE",
    "ZERO_HASH",
    "AuditEvent",
    "AuditRecord",
    "Checkpoint",
    "Evidence",
    "ProvenRecord",
    "SourcePosition",
]

HASH_SIZE = 32
ZERO_HASH = bytes(HASH_SIZE)
_MAX_INDEX = 2**63 - 1  # Avro longs elsewhere (tree_size) are signed 64-bit
_REASON_RE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_STATUS_RE = re.compile(r"[0-9]{2}")


def _utc_millis(value: datetime) -> datetime:
    # Avro timestamp-millis keeps milliseconds: truncate up front so a model equals its decoding
    if value.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _from_be(value: Any) -> Any:
    if isinstance(value, bytes):
        if len(value) != 8:
            raise ValueError("index must be 8 bytes big-endian")
        return int.from_bytes(value, "big")
    return value


Hash32 = Annotated[bytes, Field(min_length=HASH_SIZE, max_length=HASH_SIZE)]
UtcMillis = Annotated[datetime, AfterValidator(_utc_millis)]
# An int in Python, 8 big-endian bytes in Avro (fixed offset for the chain walk)
Uint64BE = Annotated[
    int,
    BeforeValidator(_from_be),
    Field(ge=0, le=_MAX_INDEX),
    PlainSerializer(lambda v: v.to_bytes(8, "big"), return_type=bytes),
]


class AuditEvent(StrEnum):
    SUBMITTED = "SUBMITTED"  # an envelope reached ingress
    ACCEPTED = "ACCEPTED"  # it passed validation
    REJECTED = "REJECTED"  # it failed validation: ``reason`` carries the Reason code
    ROUTED = "ROUTED"  # copied to one recipient's inbox: one record per recipient
    DELIVERED = "DELIVERED"  # the recipient node fetched and re-verified it
    RECEIPT = "RECEIPT"  # a signed receipt: ``status`` carries the edXML status code
    REPLAYED = "REPLAYED"  # re-sent from the log by an operator
    DIRECTORY_PUBLISHED = "DIRECTORY_PUBLISHED"  # a directory snapshot was signed and published


class SourcePosition(BaseModel):
    model_config = ConfigDict(frozen=True)

    topic: str = Field(min_length=1, max_length=249)
    partition: int = Field(ge=0, le=2**31 - 1)
    offset: int = Field(ge=0, le=_MAX_INDEX)


class AuditRecord(AvroModel):
    avro_schema: ClassVar[str] = "audit_record.v2"
    model_config = ConfigDict(frozen=True)

    prev_hash: Hash32
    index: Uint64BE
    event: AuditEvent
    at: UtcMillis
    message_id: str = Field(min_length=1, max_length=128)
    document_id: str | None = Field(default=None, max_length=256)
    sender: str = Field(min_length=1, max_length=35)
    recipient: str | None = Field(default=None, min_length=1, max_length=35)
    reason: str | None = None
    status: str | None = None
    detail: str = Field(default="", max_length=4096)
    stored_hash: Hash32 | None = None  # SHA-256 of the exact envelope bytes stored on the topic
    receipt_hash: Hash32 | None = None
    source: SourcePosition | None = None
    trust_hashes: list[Hash32] = Field(default_factory=list, max_length=64)

    @model_validator(mode="after")
    def _event_fields(self) -> AuditRecord:
        if self.index == 0 and self.prev_hash != ZERO_HASH:
            raise ValueError("record 0 must have an all-zero prev_hash")
        if self.event is AuditEvent.REJECTED and self.reason is None:
            raise ValueError("a REJECTED record needs a reason code")
        if self.reason is not None and not _REASON_RE.fullmatch(self.reason):
            raise ValueError("reason must be a Reason code (A-Z, 0-9, _)")
        if self.event is AuditEvent.RECEIPT and self.status is None:
            raise ValueError("a RECEIPT record needs a status code")
        if self.status is not None and not _STATUS_RE.fullmatch(self.status):
            raise ValueError("status must be a two-digit edXML status code")
        if self.event is AuditEvent.ROUTED and self.recipient is None:
            raise ValueError("a ROUTED record names its recipient")
        return self


class Checkpoint(AvroModel):
    """A signed tree head; the signing input is consumers.audit.core.checkpoint.signing_input."""

    avro_schema: ClassVar[str] = "checkpoint.v1"
    model_config = ConfigDict(frozen=True)

    tree_size: int = Field(ge=0, le=_MAX_INDEX)
    root_hash: Hash32
    last_hash: Hash32
    issued_at: UtcMillis
    key_id: str = Field(pattern=r"^[0-9a-f]{64}$")
    signature: Signature

    @model_validator(mode="after")
    def _empty_tree(self) -> Checkpoint:
        if self.tree_size == 0 and self.last_hash != ZERO_HASH:
            raise ValueError("an empty checkpoint has an all-zero last_hash")
        return self


class ProvenRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    record: bytes  # exact stored AuditRecord bytes
    proof: list[Hash32]  # RFC 9162 inclusion path against the bundle's checkpoint


class Evidence(AvroModel):
    avro_schema: ClassVar[str] = "evidence.v1"
    model_config = ConfigDict(frozen=True)

    envelope: bytes
    chains: list[list[bytes]]
    crls: list[bytes]
    receipts: list[bytes]
    checkpoint: bytes  # exact encoded Checkpoint
    records: list[ProvenRecord] = Field(min_length=1)
    created_at: UtcMillis

"""The audit hash chain: one total order, one writer, exact stored bytes (docs/AUDIT.md).

The order is ``index`` order: the audit topic has one partition and one writer, which assigns
``index`` (0, 1, 2, ...) and ``prev_hash``. The hash of a record is taken over its exact stored
bytes (the Avro single-object encoding, marker and schema fingerprint included)::

    record_hash = SHA-256(b"docbus/audit/v1\\x00" || stored_bytes)

``prev_hash`` sits inside the stored bytes, so each hash commits to the whole history before it.
The hash is computed, never stored beside the record: a verifier needs only the stored bytes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, Required, TypedDict

from schemas.audit import HASH_SIZE, ZERO_HASH, AuditEvent, AuditRecord, SourcePosition
from schemas.codec import MARKER, decode, encode, fingerprint, schema_entries

__all__ = [
    "AUDIT_VERSIONS",
    "CHAIN_CONTEXT",
    "HEADER",
    "HEADERS",
    "INDEX_SLICE",
    "PREV_HASH_SLICE",
    "Appended",
    "AuditChain",
    "RecordFields",
    "body_schema",
    "read_link",
    "record_hash",
]

logger = logging.getLogger(__name__)

CHAIN_CONTEXT = b"docbus/audit/v1\x00"
#: every audit record version a log may hold (records are kept forever): the writer writes the last
AUDIT_VERSIONS = ("audit_record.v1", "audit_record.v2")
# Stored bytes: C3 01 | 8-byte schema fingerprint | prev_hash (32) | index (8, big-endian) | rest
HEADER = MARKER + fingerprint(AUDIT_VERSIONS[-1])
HEADERS = frozenset(MARKER + fingerprint(v) for v in AUDIT_VERSIONS)
PREV_HASH_SLICE = slice(len(HEADER), len(HEADER) + HASH_SIZE)
INDEX_SLICE = slice(PREV_HASH_SLICE.stop, PREV_HASH_SLICE.stop + 8)
_BODY_SCHEMAS = {MARKER + e.fingerprint: e.parsed for e in schema_entries() if e.name in AUDIT_VERSIONS}


def body_schema(stored: bytes) -> dict[str, Any] | None:
    """The parsed writer schema of a stored record (for plain fastavro reads of the body after
    ``HEADER``), or None when its header names no audit record version."""
    return _BODY_SCHEMAS.get(stored[: len(HEADER)])


def record_hash(stored: bytes) -> bytes:
    """The chain hash of one record, over its exact stored bytes."""
    return hashlib.sha256(CHAIN_CONTEXT + stored).digest()


def read_link(stored: bytes) -> tuple[bytes, int]:
    """(prev_hash, index) read at their fixed offsets, without decoding. The caller checks HEADERS."""
    return stored[PREV_HASH_SLICE], int.from_bytes(stored[INDEX_SLICE], "big")


class RecordFields(TypedDict, total=False):
    """The keyword arguments of ``AuditChain.append`` (for callers that pass them through)."""

    at: Required[datetime]
    message_id: Required[str]
    sender: Required[str]
    document_id: str | None
    recipient: str | None
    reason: str | None
    status: str | None
    detail: str
    stored_hash: bytes | None
    receipt_hash: bytes | None
    source: SourcePosition | None
    trust_hashes: Sequence[bytes]


class Appended(NamedTuple):
    record: AuditRecord
    stored: bytes  # the exact bytes to publish and keep
    hash: bytes  # record_hash(stored): the next record's prev_hash, and its Merkle leaf


class AuditChain:
    """The single writer's state: the next index and the hash of the last record."""

    def __init__(self, next_index: int = 0, last_hash: bytes = ZERO_HASH) -> None:
        if next_index < 0 or len(last_hash) != HASH_SIZE:
            raise ValueError("next_index must be >= 0 and last_hash 32 bytes")
        if next_index == 0 and last_hash != ZERO_HASH:
            raise ValueError("an empty chain has an all-zero last hash")
        self.next_index = next_index
        self.last_hash = last_hash

    @classmethod
    def resume(cls, last_stored: bytes | None) -> AuditChain:
        """Continue after the last record read back from the log (None: the log is empty)."""
        if last_stored is None:
            return cls()
        record = decode(last_stored, AuditRecord)  # raises ContractError on a damaged tail
        return cls(record.index + 1, record_hash(last_stored))

    def append(
        self,
        event: AuditEvent,
        *,
        at: datetime,
        message_id: str,
        sender: str,
        document_id: str | None = None,
        recipient: str | None = None,
        reason: str | None = None,
        status: str | None = None,
        detail: str = "",
        stored_hash: bytes | None = None,
        receipt_hash: bytes | None = None,
        source: SourcePosition | None = None,
        trust_hashes: Sequence[bytes] = (),
    ) -> Appended:
        """Build, encode and hash the next record, then advance. Invalid fields raise and leave
        the chain unchanged (ValidationError from the model, ContractError from the codec)."""
        record = AuditRecord(
            prev_hash=self.last_hash,
            index=self.next_index,
            event=event,
            at=at,
            message_id=message_id,
            sender=sender,
            document_id=document_id,
            recipient=recipient,
            reason=reason,
            status=status,
            detail=detail,
            stored_hash=stored_hash,
            receipt_hash=receipt_hash,
            source=source,
            trust_hashes=list(trust_hashes),
        )
        stored = encode(record)
        digest = record_hash(stored)
        self.next_index += 1
        self.last_hash = digest
        return Appended(record, stored, digest)

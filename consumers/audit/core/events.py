"""Audit drafts: what every processor emits to ``docbus.audit.events`` (ADR 0001, docs/AUDIT.md).

A draft is an ``AuditRecord`` with index 0 and an all-zero ``prev_hash``, Avro single-object
encoded; the key is the message id. Only the single audit writer gives a draft its place in the
chain. Processors run at-least-once, so the same draft may arrive twice: ``event_id`` names an
event by what it says (event, message id, recipient, status, reason), never by when or by whom it
was sent, and the writer chains each event id once.
"""

from __future__ import annotations

import hashlib
from typing import Unpack

from consumers.audit.core.chain import RecordFields
from schemas.audit import ZERO_HASH, AuditEvent, AuditRecord
from schemas.avro_writer import encode_model
from schemas.codec import decode

__all__ = [
    "CHECKPOINT_REQUEST",
    "CONTROL_HEADER",
    "EVENT_ID_CONTEXT",
    "decode_draft",
    "draft",
    "draft_record",
    "event_id",
    "event_id_of",
]

EVENT_ID_CONTEXT = b"docbus/audit-event/v1\x00"
# A message on the events topic with this header is a request to the writer, not a draft:
# ``docbus audit checkpoint`` sends CHECKPOINT_REQUEST so the one holder of the key signs now.
CONTROL_HEADER = "docbus_control"
CHECKPOINT_REQUEST = b"checkpoint"


def draft_record(event: AuditEvent, **fields: Unpack[RecordFields]) -> AuditRecord:
    """The draft as a model (validated: a REJECTED needs a reason, a ROUTED a recipient, ...)."""
    return AuditRecord(prev_hash=ZERO_HASH, index=0, event=event, **fields)


def draft(event: AuditEvent, **fields: Unpack[RecordFields]) -> tuple[bytes, bytes]:
    """(key, value) to produce to ``AUDIT_EVENTS_TOPIC``: the message id and the encoded draft.

    Raises pydantic's ValidationError for fields the record refuses (a programming error). The
    bytes are the codec's, from the compiled writer (schemas/avro_writer.py): processors write
    several drafts per decision."""
    record = draft_record(event, **fields)
    return record.message_id.encode("utf-8"), encode_model(record)


def decode_draft(value: bytes) -> AuditRecord:
    """Decode a draft; raises ContractError (schemas.errors) when it is not an audit record."""
    return decode(value, AuditRecord)


def event_id(record: AuditRecord | bytes) -> bytes:
    """SHA-256 over (event, message id, recipient, status, reason), each length-prefixed.

    Accepts a draft (model or encoded bytes) or a chained record: the chain fields do not count,
    so the writer rebuilds its duplicate set from the stored log with the same function."""
    if isinstance(record, bytes):
        record = decode_draft(record)
    return event_id_of(record.event.value, record.message_id, record.recipient, record.status, record.reason)


def event_id_of(
    event: str, message_id: str, recipient: str | None, status: str | None, reason: str | None
) -> bytes:
    """``event_id`` from the plain field values (the writer's rebuild reads them without models)."""
    parts = (event, message_id, recipient, status, reason)
    h = hashlib.sha256(EVENT_ID_CONTEXT)
    for part in parts:
        if part is None:
            h.update(b"\xff\xff\xff\xff")  # absent differs from the empty string
        else:
            data = part.encode("utf-8")
            h.update(len(data).to_bytes(4, "big") + data)
    return h.digest()

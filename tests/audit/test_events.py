"""Audit drafts: encoding, validation and the event id the writer deduplicates by."""

from __future__ import annotations

from datetime import UTC, datetime

import pydantic
import pytest

from consumers.audit.core.chain import AuditChain
from consumers.audit.core.events import decode_draft, draft, event_id
from schemas.audit import ZERO_HASH, AuditEvent

AT = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def test_draft_is_an_unchained_record_keyed_by_message_id() -> None:
    key, value = draft(AuditEvent.ROUTED, message_id="m-1", sender="G12.001", at=AT, recipient="G12.002")
    assert key == b"m-1"
    record = decode_draft(value)
    assert (record.index, record.prev_hash, record.recipient) == (0, ZERO_HASH, "G12.002")


def test_draft_refuses_what_the_record_refuses() -> None:
    with pytest.raises(pydantic.ValidationError):
        draft(AuditEvent.REJECTED, message_id="m-1", sender="G12.001", at=AT)


def test_event_id_ignores_time_detail_and_chain_position() -> None:
    _, a = draft(AuditEvent.RECEIPT, message_id="m", sender="S", at=AT, status="03", detail="x")
    _, b = draft(AuditEvent.RECEIPT, message_id="m", sender="S", at=AT.replace(hour=9), status="03")
    chained = AuditChain(5, b"\x01" * 32).append(
        AuditEvent.RECEIPT, message_id="m", sender="S", at=AT, status="03"
    )
    assert event_id(a) == event_id(b) == event_id(chained.stored) == event_id(chained.record)


@pytest.mark.parametrize(
    "fields",
    [
        {"event": AuditEvent.RECEIPT, "status": "04"},
        {"event": AuditEvent.ROUTED, "recipient": "R"},
        {"event": AuditEvent.REJECTED, "reason": "SIGNATURE_INVALID"},
        {"event": AuditEvent.ACCEPTED, "message_id": "m2"},
    ],
)
def test_event_id_tells_events_apart(fields: dict[str, object]) -> None:
    base = {"event": AuditEvent.RECEIPT, "message_id": "m", "status": "03"}
    _, a = draft(**{**base, "sender": "S", "at": AT})  # type: ignore[arg-type]
    other = {"message_id": "m", "sender": "S", "at": AT, **fields}
    _, b = draft(**other)  # type: ignore[arg-type]
    assert event_id(a) != event_id(b)

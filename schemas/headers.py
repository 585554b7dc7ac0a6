"""CloudEvents binary-mode Kafka headers (ADR 0001, "Headers"): routing facts beside the value,
never in it, so the bus copies envelopes byte for byte. The one builder of them: the node's
records on ingress and receipts, the bus's routed copies and notices."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.envelope import Envelope
from schemas.receipt import Receipt

__all__ = [
    "ENVELOPE_TYPE",
    "NOTICE_TYPE",
    "RECEIPT_TYPE",
    "Headers",
    "envelope_headers",
    "ingress_headers",
    "receipt_headers",
]

ENVELOPE_TYPE = "vn.docbus.envelope.v1"
RECEIPT_TYPE = "vn.docbus.receipt.v1"
NOTICE_TYPE = "vn.docbus.notice.v1"  # a receipt sealed by the bus itself (status 01/02)

Headers = list[tuple[str, bytes]]


def _time(at: datetime) -> bytes:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z").encode()


def _event(kind: str, ce_id: str, source: str, at: datetime, subject: str) -> Headers:
    """``ce_time`` is when the event happened (the envelope's or receipt's own time), not when a
    copy of it was written, so every copy of one event carries the same headers."""
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", ce_id.encode()),
        ("ce_source", f"docbus://{source}".encode()),
        ("ce_type", kind.encode()),
        ("ce_time", _time(at)),
        ("ce_subject", subject.encode()),
    ]


def ingress_headers(env: Envelope) -> Headers:
    """A node's envelope on ``docbus.ingress``: no routing facts yet (the bus adds them per copy)."""
    return _event(ENVELOPE_TYPE, env.message_id, env.sender.code, env.created_at, env.document.document_id)


def envelope_headers(env: Envelope, sender: str, recipient: str, snapshot: bytes) -> Headers:
    """A routed copy in ``recipient``'s inbox: the ingress headers (``sender`` the authenticated
    sender) plus the recipient and the directory snapshot it was resolved against."""
    return [
        *_event(ENVELOPE_TYPE, env.message_id, sender, env.created_at, env.document.document_id),
        ("docbus_recipient", recipient.encode()),
        ("docbus_snapshot", snapshot.hex().encode()),
    ]


def receipt_headers(receipt: Receipt, source: str, recipient: str, *, notice: bool = False) -> Headers:
    """``source``: who sealed it (the bus for a notice); ``recipient``: whose inbox it goes to."""
    kind = NOTICE_TYPE if notice else RECEIPT_TYPE
    return [
        *_event(kind, receipt.message_id, source, receipt.at, receipt.document_id),
        ("docbus_recipient", recipient.encode()),
    ]

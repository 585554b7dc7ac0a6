"""CloudEvents binary-mode Kafka headers (ADR 0001, "Headers"): routing facts beside the value,
never in it, so the bus copies envelopes byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.envelope import Envelope
from schemas.receipt import Receipt

__all__ = ["ENVELOPE_TYPE", "NOTICE_TYPE", "RECEIPT_TYPE", "envelope_headers", "receipt_headers"]

ENVELOPE_TYPE = "vn.docbus.envelope.v1"
RECEIPT_TYPE = "vn.docbus.receipt.v1"
NOTICE_TYPE = "vn.docbus.notice.v1"  # a receipt sealed by the bus itself (status 01/02)

Headers = list[tuple[str, bytes]]


def _time(at: datetime) -> bytes:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z").encode()


def envelope_headers(env: Envelope, sender: str, recipient: str, snapshot: bytes) -> Headers:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", env.message_id.encode()),
        ("ce_source", f"docbus://{sender}".encode()),
        ("ce_type", ENVELOPE_TYPE.encode()),
        ("ce_time", _time(env.created_at)),
        ("ce_subject", env.document.document_id.encode()),
        ("docbus_recipient", recipient.encode()),
        ("docbus_snapshot", snapshot.hex().encode()),
    ]


def receipt_headers(receipt: Receipt, source: str, recipient: str, *, notice: bool = False) -> Headers:
    """``source``: who sealed it (the bus for a notice); ``recipient``: whose inbox it goes to."""
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", receipt.message_id.encode()),
        ("ce_source", f"docbus://{source}".encode()),
        ("ce_type", (NOTICE_TYPE if notice else RECEIPT_TYPE).encode()),
        ("ce_time", _time(receipt.at)),
        ("ce_subject", receipt.document_id.encode()),
        ("docbus_recipient", recipient.encode()),
    ]

"""Quarantine records: a refused message kept byte for byte, with its reason and source position."""

from __future__ import annotations

import hashlib
from datetime import datetime

from schemas.codec import encode
from schemas.quarantine import QuarantineRecord
from schemas.reasons import Reason

__all__ = ["MAX_DETAIL", "MAX_RAW", "SENDER_TOLD_HEADER", "quarantine_record"]

#: Kafka header of a quarantine record: b"1" when the sender got a sealed 02 notice, b"0" when not
SENDER_TOLD_HEADER = "docbus_sender_told"

MAX_DETAIL = 2000  # details quote untrusted input; keep records bounded
# a record over the contract's 1 MiB limit is kept in part (its size and SHA-256 in the detail):
# the whole of it would not fit a quarantine record under the topic's message size limit
MAX_RAW = 1024 * 1024
KEPT_OF_OVERSIZED = 64 * 1024


def quarantine_record(
    raw: bytes,
    reason: Reason,
    detail: str,
    *,
    topic: str,
    partition: int,
    offset: int,
    at: datetime,
    message_id: str | None = None,
) -> bytes:
    """The encoded :class:`QuarantineRecord` to produce to docbus.quarantine."""
    if len(raw) > MAX_RAW:
        digest = hashlib.sha256(raw).hexdigest()
        note = f" [raw kept: first {KEPT_OF_OVERSIZED} of {len(raw)} bytes, SHA-256 {digest}]"
        detail, raw = detail[: MAX_DETAIL - len(note)] + note, raw[:KEPT_OF_OVERSIZED]
    record = QuarantineRecord(
        raw=raw,
        reason=reason,
        detail=detail[:MAX_DETAIL],
        topic=topic,
        partition=partition,
        offset=offset,
        at=at,
        message_id=message_id,
    )
    return encode(record)

"""Quarantine records: a refused message kept byte for byte, with its reason and source position."""

from __future__ import annotations

from datetime import datetime

from schemas.codec import encode
from schemas.quarantine import QuarantineRecord
from schemas.reasons import Reason

__all__ = ["MAX_DETAIL", "quarantine_record"]

MAX_DETAIL = 2000  # details quote untrusted input; keep records bounded


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

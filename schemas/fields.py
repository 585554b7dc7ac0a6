"""Field types shared by the contract's models: UTC milliseconds, digests, ids, org codes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, Field

from schemas.orgcode import validate_org_code

__all__ = ["MessageId", "OrgCode", "Sha256", "UtcMillis", "from_millis", "to_millis", "utc_millis"]

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def utc_millis(value: datetime) -> datetime:
    """Timezone-aware UTC at millisecond precision: what Avro timestamp-millis can carry, so a
    model equals itself after a round trip and the signing input is unambiguous."""
    if value.tzinfo is not UTC:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("datetime must be timezone-aware")
        value = value.astimezone(UTC)
    if value.microsecond % 1000 == 0:
        return value
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def to_millis(value: datetime) -> int:
    """Milliseconds since the Unix epoch (exact: integer arithmetic, no float rounding)."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_millis(millis: int) -> datetime:
    """The UTC time of milliseconds since the Unix epoch (a Kafka record timestamp)."""
    return _EPOCH + timedelta(milliseconds=millis)


def _message_id(value: str) -> str:
    if _UUID.fullmatch(value) is None:
        raise ValueError("message id must be a lowercase canonical UUID string")
    return value


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

UtcMillis = Annotated[datetime, AfterValidator(utc_millis)]
Sha256 = Annotated[bytes, Field(min_length=32, max_length=32)]
MessageId = Annotated[str, AfterValidator(_message_id)]
OrgCode = Annotated[str, AfterValidator(validate_org_code)]

"""The quarantine record: a refused message kept byte for byte with why and where it came from."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from schemas.codec import AvroModel
from schemas.fields import MessageId, UtcMillis
from schemas.reasons import Reason

__all__ = ["QuarantineRecord"]


class QuarantineRecord(AvroModel):
    avro_schema = "quarantine.v1"
    model_config = ConfigDict(frozen=True, extra="forbid")

    raw: bytes  # the refused message exactly as read
    reason: Reason  # a string on the wire, so new reason codes need no schema change
    detail: str
    topic: str = Field(min_length=1, max_length=249)  # Kafka's topic name limit
    partition: int = Field(ge=0, lt=2**31)
    offset: int = Field(ge=0, lt=2**63)
    at: UtcMillis
    message_id: MessageId | None = None  # when the message decoded far enough to have one

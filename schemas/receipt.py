"""The status receipt (edXML status package): a signed answer about one envelope."""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field, model_validator

from schemas.codec import AvroModel, decode, record_name
from schemas.continuity import Chain
from schemas.fields import MessageId, OrgCode, Sha256, UtcMillis
from schemas.header import DocumentIdText
from schemas.limits import DEFAULT_LIMITS, Limits, check_message_size, check_signature_limits
from schemas.orgcode import canonical_org_code
from schemas.signature import Signature

__all__ = ["RECEIPT_RECORD", "Receipt", "StatusCode", "is_receipt", "parse_receipt", "receipt_record_key"]

RECEIPT_RECORD = "vn.docbus.Receipt"  # the Avro full name every receipt version keeps


class StatusCode(StrEnum):
    ARRIVED = "01"  # received by the recipient's system
    REJECTED = "02"  # with a reason: invalid, wrong recipient...
    ACCEPTED = "03"  # registered (tiếp nhận)
    ASSIGNED = "04"  # phân công
    PROCESSING = "05"
    DONE = "06"
    RECALL_REQUESTED = "13"  # by the sender
    RECALL_AGREED = "15"  # recall/update agreed
    RECALL_REFUSED = "16"  # recall/update refused

    @property
    def needs_reason(self) -> bool:
        return self in {StatusCode.REJECTED, StatusCode.RECALL_REFUSED}


class Receipt(AvroModel):
    """Signed with the organisation seal over ``schemas.canonical.receipt_signing_input``."""

    avro_schema = "receipt.v3"
    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: MessageId  # the receipt's own id
    envelope_id: MessageId  # the envelope it answers
    signing_hash: Sha256  # schemas.canonical.signing_hash of the answered envelope (not its stored bytes)
    document_id: DocumentIdText
    from_org: OrgCode
    to_org: OrgCode
    status: StatusCode
    reason: str = Field(default="", max_length=1000)
    by_name: str = Field(default="", max_length=100)
    by_position: str = Field(default="", max_length=250)
    at: UtcMillis
    # v3, the bus's 01/02 notices: the sender channel's position after this envelope (signed)
    chain: Chain | None = None
    signatures: list[Signature] = Field(default_factory=list)

    @model_validator(mode="after")
    def _reason_when_refusing(self) -> Receipt:
        if self.status.needs_reason and not self.reason.strip():
            raise ValueError(f"status {self.status.value} needs a reason")
        return self


def parse_receipt(raw: bytes, limits: Limits = DEFAULT_LIMITS) -> Receipt:
    """Size check -> decode -> signature limits; raises only ContractError."""
    check_message_size(raw, limits)
    receipt = decode(raw, Receipt)
    check_signature_limits(receipt.signatures, limits)
    return receipt


def is_receipt(raw: bytes) -> bool:
    """True when ``raw`` was written with any version of the receipt schema (read by its fingerprint)."""
    return record_name(raw) == RECEIPT_RECORD


def receipt_record_key(receipt: Receipt) -> str:
    """The record key of a receipt on ``docbus.receipts``: the dotted code of the sender of the
    document it is about — its ``to_org`` for a recipient's receipt, its ``from_org`` for the
    sender's own recall (13). Every receipt about one document so lands on one partition, where the
    bus keeps that document's recall and each recipient's lifecycle (docs/ENVELOPE.md, "Record key")."""
    sender = receipt.from_org if receipt.status is StatusCode.RECALL_REQUESTED else receipt.to_org
    return canonical_org_code(sender)

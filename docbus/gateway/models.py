"""The JSON bodies of the gateway's API (what docs/openapi.json describes)."""

from __future__ import annotations

from datetime import date as Date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.document import BusinessType, Competence, DocumentType, SteeringType

__all__ = [
    "Contact",
    "DirectoryOrg",
    "DocumentStatus",
    "InboxDocument",
    "NextPosition",
    "NoticeOut",
    "ReceiptIn",
    "ReceiptLogEntry",
    "ReceiptSent",
    "RecipientStatus",
    "SubmitMetadata",
    "Submitted",
    "Token",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Contact(_Strict):
    in_charge: str = ""
    address: str = ""
    email: str = ""
    phone: str = ""
    website: str = ""


class SubmitMetadata(_Strict):
    """The header of a document submitted as files (the ``metadata`` part of the multipart body)."""

    to: list[str] = Field(default_factory=list, description="recipient org codes (dotted or edXML form)")
    groups: list[str] = Field(default_factory=list, description="all-<kind>, children:<code>, list:<name>")
    type: DocumentType = DocumentType.CONG_VAN
    number: str = Field(description="số (CodeNumber)")
    notation: str = Field(description="ký hiệu (CodeNotation)")
    subject: str = Field(description="trích yếu")
    place: str = "Hà Nội"
    date: Date | None = Field(default=None, description="promulgation date (default today)")
    competence: Competence = Competence.NONE
    priority: int = Field(default=0, ge=0, le=4)
    due_date: Date | None = None
    places: list[str] = Field(default_factory=list, description="nơi nhận lines")
    steering_type: SteeringType = SteeringType.NOT_STEERING
    response_for: str | None = None
    business: BusinessType = BusinessType.NEW
    contact: Contact = Field(default_factory=Contact)


class Token(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class NoticeOut(BaseModel):
    """The bus's sealed notice about an envelope: 01 accepted and routed, 02 refused."""

    status: str
    accepted: bool
    reason: str
    at: str
    notice_id: str


class Submitted(BaseModel):
    org: str
    message_id: str
    document_id: str
    sequence: int
    signing_hash: str
    state: Literal["pending", "accepted", "refused"]
    outcome: NoticeOut | None = None
    package_signature: dict[str, Any] | None = None


class NextPosition(BaseModel):
    """Where a pre-signed envelope must stand in the node's chain (sign, then submit at once)."""

    org: str
    sequence: int
    previous_hash: str
    directory_snapshot: str


class RecipientStatus(BaseModel):
    recipient: str
    status: str | None
    at: str | None
    routed_at: str | None
    by: str
    reason: str


class ReceiptLogEntry(BaseModel):
    receipt_id: str
    kind: str  # notice (the bus) | receipt (a recipient or a sender)
    envelope_id: str
    document_id: str
    from_org: str
    to_org: str
    status: str
    reason: str
    by: str
    at: str
    seal: str  # "valid" or the reason the seal did not verify


class DocumentStatus(BaseModel):
    org: str
    message_id: str
    document_id: str
    sequence: int
    state: Literal["pending", "accepted", "refused"]
    outcome: NoticeOut | None  # about the copy the node holds now (``sequence``)
    # notices about earlier copies of this document the bus did not count (SEQUENCE_GAP / REPLAY):
    # the node resynced and signed it again under the same message id (docs/adr/0003-continuity.md)
    earlier: list[NoticeOut] = []
    recipients: list[RecipientStatus]
    receipts: list[ReceiptLogEntry]


class InboxDocument(BaseModel):
    message_id: str
    document_id: str
    sender: dict[str, Any]
    subject: str
    document_type: str
    priority: int
    business_type: str
    response_for: str | None
    created_at: str
    received_at: str
    signing_hash: str
    files: list[str]
    verification: dict[str, Any]
    receipt_sent: bool
    receipts: list[ReceiptLogEntry] = Field(default_factory=list)


class ReceiptIn(_Strict):
    """A status receipt: 02-06 about a received document, 13 (recall) about a sent one, 15/16 to
    answer a recall."""

    message_id: str = Field(description="the envelope the receipt is about")
    status: Literal["02", "03", "04", "05", "06", "13", "15", "16"]
    reason: str = Field(default="", max_length=1000, description="needed for 02 and 16")
    by: str = Field(default="", max_length=250, description="the clerk's name")
    position: str = Field(default="", max_length=250)


class ReceiptSent(BaseModel):
    receipt_id: str
    org: str
    message_id: str
    status: str
    to_org: str


class DirectoryOrg(BaseModel):
    code: str
    name: str
    name_en: str | None
    kind: str
    parent: str | None
    groups: list[str]
    status: str
    successor: str | None
    version: int

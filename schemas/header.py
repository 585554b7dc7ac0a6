"""The edXML / ND 30 document header carried, and signed, in every envelope."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from schemas.document import (
    MAX_CODE_NOTATION,
    MAX_CODE_NUMBER,
    BusinessType,
    Competence,
    DocumentType,
    Priority,
    SecurityLevel,
    SteeringType,
    parse_document_id,
)
from schemas.fields import OrgCode, UtcMillis

__all__ = ["DocumentHeader", "DocumentIdText", "OrganContact", "Organization", "SignerInfo", "TraceHop"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


def _document_id(value: str) -> str:
    parse_document_id(value)
    return value


DocumentIdText = Annotated[str, AfterValidator(_document_id)]


class OrganContact(BaseModel):
    """An organisation as edXML names one: OrganId, OrganName, OrganizationInCharge and contact,
    with their length limits written once (the sender's :class:`Organization` and the package's
    To organisations, ``schemas.edxml.EdxmlOrgan``)."""

    model_config = _FROZEN

    code: OrgCode
    name: str = Field(default="", max_length=250)
    in_charge: str = Field(default="", max_length=250)
    address: str = Field(default="", max_length=500)
    email: str = Field(default="", max_length=100)
    phone: str = Field(default="", max_length=50)
    website: str = Field(default="", max_length=200)


class Organization(OrganContact):
    """From / To organisation of the envelope: its name is required."""

    name: str = Field(min_length=1, max_length=250)


class SignerInfo(BaseModel):
    model_config = _FROZEN

    competence: Competence
    position: str = Field(min_length=1, max_length=250)
    full_name: str = Field(min_length=1, max_length=100)


class TraceHop(BaseModel):
    """One TraceHeaderList hop: an organisation the document passed through, and when."""

    model_config = _FROZEN

    org_code: OrgCode
    at: UtcMillis


class DocumentHeader(BaseModel):
    model_config = _FROZEN

    document_id: str  # OrganId,yyyy/MM/dd,Số/Ký hiệu: parsed once, by _id_matches_fields
    code_number: str = Field(min_length=1, max_length=MAX_CODE_NUMBER)
    code_notation: str = Field(min_length=1, max_length=MAX_CODE_NOTATION)
    document_type: DocumentType
    subject: str = Field(min_length=1, max_length=500)  # trích yếu
    promulgation_place: str = Field(min_length=1, max_length=100)
    promulgation_date: date
    signer: SignerInfo
    priority: Priority = Priority.NORMAL
    due_date: date | None = None
    places: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(default_factory=list)
    steering_type: SteeringType = SteeringType.NOT_STEERING
    response_for: DocumentIdText | None = None
    business_type: BusinessType = BusinessType.NEW
    security_level: SecurityLevel = SecurityLevel.NORMAL

    @model_validator(mode="after")
    def _id_matches_fields(self) -> DocumentHeader:
        # the id repeats số, ký hiệu and date: a mismatch would let two ids name one document
        try:
            parsed = parse_document_id(self.document_id)
        except ValueError as exc:
            raise ValueError(f"document_id: {exc}") from None
        if (parsed.code_number, parsed.code_notation, parsed.promulgation_date) != (
            self.code_number,
            self.code_notation,
            self.promulgation_date,
        ):
            raise ValueError("document_id does not match code_number/code_notation/promulgation_date")
        return self

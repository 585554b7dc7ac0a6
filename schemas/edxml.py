"""The edXML (QCVN 102:2016) header fields an envelope carries beyond its own model (envelope.v2).

An envelope made from an edXML package keeps here what e-office products exchange and docbus does
not use itself: the To organisations' contact details, Content, the DocumentType code and name as
the package gave them, the raw competence text, OtherInfo, the Bussiness block and the manifest's
content ids and descriptions. Everything here is signed (``docbus/envelope/v2`` signing input,
docs/ENVELOPE.md §4) so a recipient exports exactly what the sender imported.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.header import DocumentIdText, OrganContact

__all__ = ["EdxmlAttachment", "EdxmlBusiness", "EdxmlDetails", "EdxmlOrgan", "EdxmlStaff"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")
_Line = Annotated[str, Field(max_length=500)]


class EdxmlOrgan(OrganContact):
    """A To organisation as the package names it (edXML allows an empty OrganName), with its fax."""

    fax: str = Field(default="", max_length=50)


class EdxmlStaff(BaseModel):
    """StaffInfo: the clerk who handled the dispatch."""

    model_config = _FROZEN

    department: str = Field(default="", max_length=250)
    staff: str = Field(default="", max_length=100)
    email: str = Field(default="", max_length=100)
    mobile: str = Field(default="", max_length=50)


class EdxmlBusiness(BaseModel):
    """TraceHeaderList/Bussiness; the type itself is the envelope's ``document.business_type``."""

    model_config = _FROZEN

    document_id: DocumentIdText | None = None  # the document a recall/update/replacement refers to
    reason: str = Field(default="", max_length=1000)  # BussinessDocReason
    paper: int | None = Field(default=None, ge=0, lt=2**31)  # a paper copy follows (0/1)
    staff: EdxmlStaff | None = None


class EdxmlAttachment(BaseModel):
    """A manifest Reference: the content id and description of one payload, in payload order."""

    model_config = _FROZEN

    content_id: str = Field(min_length=1, max_length=255)
    description: str = Field(default="", max_length=500)


class EdxmlDetails(BaseModel):
    model_config = _FROZEN

    sender_fax: str = Field(default="", max_length=50)
    to: list[EdxmlOrgan] = Field(default_factory=list, max_length=1000)
    content: str = Field(default="", max_length=10_000)
    type_code: str = Field(default="", max_length=20)  # DocumentType/Type: SDKs number them differently
    type_detail: str = Field(default="", max_length=20)
    type_name: str = Field(default="", max_length=100)
    competence_text: str = Field(default="", max_length=250)  # "KT. CỤC TRƯỞNG", "Trực tiếp"...
    sphere: str = Field(default="", max_length=250)  # SphereOfPromulgation
    typer_notation: str = Field(default="", max_length=50)
    promulgation_amount: int | None = Field(default=None, ge=0, lt=2**31)
    page_amount: int | None = Field(default=None, ge=0, lt=2**31)
    direction: bool | None = None
    appendixes: list[_Line] = Field(default_factory=list, max_length=200)
    business: EdxmlBusiness | None = None
    attachments: list[EdxmlAttachment] = Field(default_factory=list, max_length=64)

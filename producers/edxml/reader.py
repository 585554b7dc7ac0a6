"""Import: an edXML package's XML into the envelope's models (header, payloads, edxml details)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any, TypeVar

from pydantic import ValidationError

from producers.edxml._names import (
    BUSINESS_CODES,
    STEERING_CODES,
    competence_of,
    parse_timestamp,
    type_of_name,
)
from producers.edxml._xml import NS, q
from producers.edxml.errors import EdxmlError
from schemas.document import BusinessType, Priority, format_document_id, parse_document_id
from schemas.edxml import EdxmlAttachment, EdxmlBusiness, EdxmlDetails, EdxmlOrgan, EdxmlStaff
from schemas.header import DocumentHeader, Organization, SignerInfo, TraceHop
from schemas.orgcode import canonical_org_code
from schemas.payload import Payload
from schemas.reasons import Reason

__all__ = ["PackageContent", "read_package"]

T = TypeVar("T")
Element = Any  # lxml's _Element (lxml ships no type stubs)


@dataclass(frozen=True)
class PackageContent:
    """What a package says, in the envelope's models; the node adds numbering and signatures."""

    sender: Organization
    recipients: list[str]
    document: DocumentHeader
    trace: list[TraceHop]
    payload: Payload
    attachments: list[Payload]
    details: EdxmlDetails


def _child(el: Element, name: str) -> Element | None:
    # edXML elements are in the QCVN namespace; some products leave AttachmentEncoded unqualified
    found = el.find(q(name))
    return found if found is not None else el.find(name)


def _children(el: Element, name: str) -> list[Element]:
    return [*el.findall(q(name)), *el.findall(name)]


def _text(el: Element | None) -> str:
    return "" if el is None else "".join(el.itertext()).strip()


class _Fields:
    """Reads one element's children by name, naming the edXML path in every error."""

    def __init__(self, el: Element, path: str) -> None:
        self.el, self.path = el, path

    def at(self, name: str) -> str:
        return f"{self.path}/{name}"

    def sub(self, name: str, required: bool = True) -> _Fields | None:
        found = _child(self.el, name)
        if found is None:
            if required:
                raise EdxmlError(Reason.FIELD_MISSING, "element is absent", self.at(name))
            return None
        return _Fields(found, self.at(name))

    def need(self, name: str) -> _Fields:
        sub = self.sub(name)
        assert sub is not None
        return sub

    def opt(self, name: str) -> str:
        return _text(_child(self.el, name))

    def req(self, name: str) -> str:
        value = self.opt(name)
        if not value:
            raise EdxmlError(Reason.FIELD_MISSING, "absent or empty", self.at(name))
        return value

    def parsed(self, name: str, parse: Callable[[str], T], required: bool = False) -> T | None:
        raw = self.req(name) if required else self.opt(name)
        if not raw:
            return None
        try:
            return parse(raw)
        except (ValueError, KeyError) as exc:
            raise EdxmlError(Reason.INVALID_FIELD, f"{raw!r}: {exc}", self.at(name)) from None


def _lines(el: Element, group: str, item: str) -> list[str]:
    found = _child(el, group)
    return [] if found is None else [_text(i) for i in _children(found, item) if _text(i)]


def _day(text: str) -> date:
    return datetime.strptime(text, "%Y/%m/%d").date()


def _flag(text: str) -> bool:
    low = text.lower()
    if low not in {"true", "false", "1", "0"}:
        raise ValueError("expected true/false")
    return low in {"true", "1"}


def _code(text: str) -> str:
    canonical_org_code(text)  # ValueError for a malformed code
    return text


def _model(build: Callable[[], T], path: str) -> T:
    try:
        return build()
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise EdxmlError(Reason.INVALID_FIELD, f"{where}: {err['msg']}", path) from None


def _organ(f: _Fields) -> tuple[dict[str, str], str]:
    fields = {
        "code": f.parsed("OrganId", _code, required=True) or "",
        "name": f.opt("OrganName"),
        "in_charge": f.opt("OrganizationInCharge"),
        "address": f.opt("OrganAdd"),
        "email": f.opt("Email"),
        "phone": f.opt("Telephone"),
        "website": f.opt("Website"),
    }
    return fields, f.opt("Fax")


def _staff(f: _Fields | None) -> EdxmlStaff | None:
    if f is None:
        return None
    return _model(
        lambda: EdxmlStaff(
            department=f.opt("Department"), staff=f.opt("Staff"), email=f.opt("Email"), mobile=f.opt("Mobile")
        ),
        f.path,
    )


def _document_id(h: _Fields, sender: str, day: date, number: str, notation: str) -> str:
    expected = format_document_id(sender, day, number, notation)
    given = h.opt("DocumentId")
    if not given:
        return expected
    try:
        parsed = parse_document_id(given)
    except ValueError as exc:
        raise EdxmlError(Reason.INVALID_FIELD, f"{given!r}: {exc}", h.at("DocumentId")) from None
    same_org = canonical_org_code(parsed.organ_id) == canonical_org_code(sender)
    if not same_org or parsed[1:] != (day, number, notation):
        detail = f"{given!r} does not repeat From/OrganId, PromulgationDate and Code ({expected!r})"
        raise EdxmlError(Reason.FIELD_INCONSISTENT, detail, h.at("DocumentId"))
    return given


def _response_for(h: _Fields) -> str | None:
    found = _children(h.el, "ResponseFor")
    if not found:
        return None
    if len(found) > 1:
        raise EdxmlError(Reason.FIELD_INCONSISTENT, "more than one ResponseFor", h.at("ResponseFor"))
    f = _Fields(found[0], h.at("ResponseFor"))
    return f.parsed("DocumentId", lambda t: (parse_document_id(t), t)[1], required=True)


def _header(
    h: _Fields, trace: _Fields | None
) -> tuple[Organization, list[str], DocumentHeader, EdxmlDetails]:
    sender_fields, sender_fax = _organ(h.need("From"))
    sender = _model(lambda: Organization(**sender_fields), h.at("From"))
    to_elements = _children(h.el, "To")
    if not to_elements:
        raise EdxmlError(Reason.FIELD_MISSING, "no recipient", h.at("To"))
    to = []
    for el in to_elements:
        fields, fax = _organ(_Fields(el, h.at("To")))
        to.append(_model(partial(EdxmlOrgan, **fields, fax=fax), h.at("To")))
    recipients = [o.code for o in to]
    if len({canonical_org_code(c) for c in recipients}) != len(recipients):
        raise EdxmlError(Reason.FIELD_INCONSISTENT, "a recipient is listed twice", h.at("To"))

    code = h.need("Code")
    number, notation = code.req("CodeNumber"), code.req("CodeNotation")
    promulgation = h.need("PromulgationInfo")
    day = promulgation.parsed("PromulgationDate", _day, required=True)
    assert day is not None
    kind = h.need("DocumentType")
    name = kind.req("TypeName")
    document_type = type_of_name(name)
    if document_type is None:
        raise EdxmlError(Reason.INVALID_FIELD, f"{name!r} is not an ND 30 document type", kind.at("TypeName"))
    signer = h.need("SignerInfo")
    competence_text = signer.opt("Competence")
    other = h.sub("OtherInfo", required=False)
    opt = other.opt if other is not None else (lambda name: "")
    parsed: Callable[..., Any] = other.parsed if other is not None else (lambda *a, **k: None)
    business = _business(trace, h)
    document = _model(
        lambda: DocumentHeader(
            document_id=_document_id(h, sender.code, day, number, notation),
            code_number=number,
            code_notation=notation,
            document_type=document_type,
            subject=h.req("Subject"),
            promulgation_place=promulgation.req("Place"),
            promulgation_date=day,
            signer=SignerInfo(
                competence=competence_of(competence_text),
                position=signer.req("Position"),
                full_name=signer.req("FullName"),
            ),
            priority=parsed("Priority", lambda t: Priority(int(t))) or Priority.NORMAL,
            due_date=h.parsed("DueDate", _day),
            places=_lines(h.el, "ToPlaces", "Place"),
            steering_type=h.parsed("SteeringType", STEERING_CODES.__getitem__) or STEERING_CODES["0"],
            response_for=_response_for(h),
            business_type=business[0],
        ),
        h.path,
    )
    details = _model(
        lambda: EdxmlDetails(
            sender_fax=sender_fax,
            to=to,
            content=h.opt("Content"),
            type_code=kind.opt("Type"),
            type_detail=kind.opt("TypeDetail"),
            type_name=name,
            competence_text=competence_text,
            sphere=opt("SphereOfPromulgation"),
            typer_notation=opt("TyperNotation"),
            promulgation_amount=parsed("PromulgationAmount", int),
            page_amount=parsed("PageAmount", int),
            direction=parsed("Direction", _flag),
            appendixes=_lines(other.el, "Appendixes", "Appendix") if other is not None else [],
            business=business[1],
        ),
        h.path,
    )
    return sender, recipients, document, details


def _business(trace: _Fields | None, h: _Fields) -> tuple[BusinessType, EdxmlBusiness | None]:
    b = trace.sub("Bussiness", required=False) if trace is not None else None
    if b is None:
        return BusinessType.NEW, None
    kind = b.parsed("BussinessDocType", BUSINESS_CODES.__getitem__) or BusinessType.NEW
    refers = b.parsed("DocumentId", lambda t: (parse_document_id(t), t)[1])
    details = _model(
        lambda: EdxmlBusiness(
            document_id=refers,
            reason=b.opt("BussinessDocReason"),
            paper=b.parsed("Paper", int),
            staff=_staff(b.sub("StaffInfo", required=False)),
        ),
        b.path,
    )
    return kind, details


def _trace(trace: _Fields | None) -> list[TraceHop]:
    if trace is None:
        return []
    hops = []
    for el in _children(trace.el, "TraceHeader"):
        hop = _Fields(el, trace.at("TraceHeader"))
        code = hop.parsed("OrganId", _code, required=True)
        at = hop.parsed("Timestamp", parse_timestamp, required=True)
        hops.append(_model(partial(TraceHop, org_code=code, at=at), hop.path))
    return hops


def _bare_cid(text: str) -> str:
    return text.removeprefix("cid:").strip()


def _payloads(root: Element, body: _Fields) -> tuple[list[Payload], list[EdxmlAttachment]]:
    manifest = body.need("edXMLManifest")
    refs = _children(manifest.el, "Reference")
    if not refs:
        raise EdxmlError(
            Reason.FIELD_MISSING,
            "no Reference: a package carries at least one file",
            manifest.at("Reference"),
        )
    encoded = _child(root, "AttachmentEncoded")
    files: dict[str, Element] = {}
    for el in _children(encoded, "Attachment") if encoded is not None else []:
        cid = _bare_cid(_text(_child(el, "ContentId")))
        if not cid or cid in files:
            raise EdxmlError(
                Reason.FIELD_INCONSISTENT,
                f"attachment content id {cid!r} empty or repeated",
                "AttachmentEncoded/Attachment/ContentId",
            )
        files[cid] = el
    payloads, described = [], []
    for el in refs:
        ref = _Fields(el, manifest.at("Reference"))
        content_id = ref.opt("ContentId") or el.get("{http://www.w3.org/1999/xlink}href", "")
        if not content_id:
            raise EdxmlError(Reason.FIELD_MISSING, "absent or empty", ref.at("ContentId"))
        att = files.pop(_bare_cid(content_id), None)
        if att is None:
            raise EdxmlError(
                Reason.FIELD_INCONSISTENT, f"{content_id!r} has no attachment", "AttachmentEncoded/Attachment"
            )
        payloads.append(_payload(ref, _Fields(att, "AttachmentEncoded/Attachment")))
        described.append(
            _model(
                partial(EdxmlAttachment, content_id=content_id, description=ref.opt("Description")),
                ref.path,
            )
        )
    if files:
        stray = next(iter(files))
        raise EdxmlError(
            Reason.FIELD_INCONSISTENT,
            f"attachment {stray!r} is not in the manifest",
            "AttachmentEncoded/Attachment",
        )
    return payloads, described


def _agree(ref: _Fields, att: _Fields, name: str) -> str:
    a, b = ref.opt(name), att.opt(name)
    if a and b and a != b:
        raise EdxmlError(Reason.FIELD_INCONSISTENT, f"manifest says {a!r}, attachment {b!r}", att.at(name))
    value = a or b
    if not value:
        raise EdxmlError(Reason.FIELD_MISSING, "absent or empty", ref.at(name))
    return value


def _payload(ref: _Fields, att: _Fields) -> Payload:
    name = _agree(ref, att, "AttachmentName")
    content_type = _agree(ref, att, "ContentType").lower()
    att.need("ContentTransferEncoded")  # present; empty is an empty file
    raw = "".join(att.opt("ContentTransferEncoded").split())
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EdxmlError(
            Reason.INVALID_FIELD, f"not base64: {exc}", att.at("ContentTransferEncoded")
        ) from None
    return _model(
        lambda: Payload(
            file_name=name,
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).digest(),
            data=data,
        ),
        att.path,
    )


def read_package(root: Element) -> PackageContent:
    """Map a parsed package; EdxmlError naming the field for anything missing or inconsistent."""
    if root.tag != q("edXML"):
        raise EdxmlError(Reason.MALFORMED, f"root is {root.tag}, expected edXML in {NS}")
    envelope = _Fields(root, "edXML").need("edXMLEnvelope")
    head = envelope.need("edXMLHeader")
    message = _Fields(head.need("MessageHeader").el, "MessageHeader")
    found = _child(head.el, "TraceHeaderList")
    trace = _Fields(found, "TraceHeaderList") if found is not None else None
    sender, recipients, document, details = _header(message, trace)
    payloads, described = _payloads(root, _Fields(envelope.need("edXMLBody").el, "edXMLBody"))
    details = details.model_copy(update={"attachments": described})
    return PackageContent(sender, recipients, document, _trace(trace), payloads[0], payloads[1:], details)

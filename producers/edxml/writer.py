"""Export: an envelope's content back into an edXML package (the layout of QCVN 102:2016)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import date
from typing import Any

from lxml import etree

from producers.edxml._names import STEERING_CODES, format_timestamp, type_code, type_name
from producers.edxml._xml import NS, q
from producers.edxml.reader import PackageContent
from schemas.document import BusinessType
from schemas.edxml import EdxmlAttachment, EdxmlDetails, EdxmlOrgan, EdxmlStaff
from schemas.envelope import Envelope
from schemas.payload import Payload

__all__ = ["content_of", "write_package"]

Element = Any
_BUSINESS = {
    BusinessType.NEW: "0",
    BusinessType.RECALL: "1",
    BusinessType.UPDATE: "2",
    BusinessType.REPLACE: "3",
}
_STEERING = {v: k for k, v in STEERING_CODES.items()}


def _default_details(env: Envelope) -> EdxmlDetails:
    """What an envelope built by docbus itself says in edXML terms."""
    d = env.document
    return EdxmlDetails(
        to=[EdxmlOrgan(code=c) for c in env.recipients],
        type_code=type_code(d.document_type),
        type_name=type_name(d.document_type),
        competence_text=d.signer.competence.value,
        attachments=[
            EdxmlAttachment(content_id=f"cid:{i}", description=p.file_name)
            for i, p in enumerate([env.payload, *env.attachments], start=1)
        ],
    )


def content_of(env: Envelope) -> PackageContent:
    """The package content of a received envelope (its edxml details, or ones derived from it)."""
    details = env.edxml or _default_details(env)
    if not details.attachments:
        details = details.model_copy(update={"attachments": _default_details(env).attachments})
    return PackageContent(
        env.sender,
        list(env.recipients),
        env.document,
        list(env.trace),
        env.payload,
        list(env.attachments),
        details,
    )


def _add(parent: Element, name: str, text: str | None = None) -> Element:
    el = etree.SubElement(parent, q(name))
    if text is not None:
        el.text = text
    return el


def _fields(parent: Element, name: str, values: Sequence[tuple[str, str]]) -> Element:
    el = _add(parent, name)
    for child, text in values:
        _add(el, child, text)
    return el


def _day(value: date) -> str:
    return f"{value:%Y/%m/%d}"


def _organ(parent: Element, name: str, o: EdxmlOrgan) -> None:
    _fields(
        parent,
        name,
        [
            ("OrganId", o.code),
            ("OrganizationInCharge", o.in_charge),
            ("OrganName", o.name),
            ("OrganAdd", o.address),
            ("Email", o.email),
            ("Telephone", o.phone),
            ("Fax", o.fax),
            ("Website", o.website),
        ],
    )


def _staff(parent: Element, s: EdxmlStaff) -> None:
    _fields(
        parent,
        "StaffInfo",
        [("Department", s.department), ("Staff", s.staff), ("Email", s.email), ("Mobile", s.mobile)],
    )


def _message_header(parent: Element, c: PackageContent) -> None:
    d, x, s = c.document, c.details, c.sender
    h = _add(parent, "MessageHeader")
    sender = EdxmlOrgan(
        code=s.code, name=s.name, in_charge=s.in_charge, address=s.address, email=s.email,
        phone=s.phone, fax=x.sender_fax, website=s.website,
    )  # fmt: skip
    _organ(h, "From", sender)
    described = {o.code: o for o in x.to}
    for code in c.recipients:
        _organ(h, "To", described.get(code, EdxmlOrgan(code=code)))
    _add(h, "DocumentId", d.document_id)
    _fields(h, "Code", [("CodeNumber", d.code_number), ("CodeNotation", d.code_notation)])
    _fields(
        h,
        "PromulgationInfo",
        [("Place", d.promulgation_place), ("PromulgationDate", _day(d.promulgation_date))],
    )
    _fields(
        h,
        "DocumentType",
        [
            ("Type", x.type_code or type_code(d.document_type)),
            ("TypeDetail", x.type_detail),
            ("TypeName", x.type_name or type_name(d.document_type)),
        ],
    )
    _add(h, "Subject", d.subject)
    _add(h, "Content", x.content)
    competence = x.competence_text or d.signer.competence.value
    _fields(
        h,
        "SignerInfo",
        [("Competence", competence), ("Position", d.signer.position), ("FullName", d.signer.full_name)],
    )
    if d.due_date is not None:
        _add(h, "DueDate", _day(d.due_date))
    other = _add(h, "OtherInfo")
    _add(other, "Priority", str(int(d.priority)))
    _add(other, "SphereOfPromulgation", x.sphere)
    _add(other, "TyperNotation", x.typer_notation)
    for name, number in (("PromulgationAmount", x.promulgation_amount), ("PageAmount", x.page_amount)):
        if number is not None:
            _add(other, name, str(number))
    if x.direction is not None:
        _add(other, "Direction", "true" if x.direction else "false")
    appendixes = _add(other, "Appendixes")
    for line in x.appendixes:
        _add(appendixes, "Appendix", line)
    if d.response_for is not None:
        _fields(h, "ResponseFor", [("DocumentId", d.response_for)])
    _add(h, "SteeringType", _STEERING[d.steering_type])
    places = _add(h, "ToPlaces")
    for line in d.places:
        _add(places, "Place", line)


def _trace(parent: Element, c: PackageContent) -> None:
    t = _add(parent, "TraceHeaderList")
    for hop in c.trace:
        _fields(t, "TraceHeader", [("OrganId", hop.org_code), ("Timestamp", format_timestamp(hop.at))])
    b = c.details.business
    if b is None and c.document.business_type is BusinessType.NEW:
        return
    bus = _add(t, "Bussiness")
    if b is not None and b.document_id is not None:
        _add(bus, "DocumentId", b.document_id)
    _add(bus, "BussinessDocType", _BUSINESS[c.document.business_type])
    if b is not None:
        _add(bus, "BussinessDocReason", b.reason)
        if b.paper is not None:
            _add(bus, "Paper", str(b.paper))
        if b.staff is not None:
            _staff(bus, b.staff)


def _files(root: Element, body: Element, c: PackageContent) -> None:
    manifest = _add(_add(body, "edXMLBody"), "edXMLManifest")
    manifest.set("version", "1.0")
    encoded = _add(root, "AttachmentEncoded")
    payloads: list[Payload] = [c.payload, *c.attachments]
    for p, a in zip(payloads, c.details.attachments, strict=True):
        common = [
            ("ContentId", a.content_id),
            ("ContentType", p.content_type),
            ("Description", a.description),
        ]
        _fields(manifest, "Reference", [*common, ("AttachmentName", p.file_name)])
        att = _fields(encoded, "Attachment", [*common, ("AttachmentName", p.file_name)])
        _add(att, "ContentTransferEncoded", base64.b64encode(p.data).decode("ascii"))


def write_package(c: PackageContent, *, signature_placeholder: Element | None = None) -> Element:
    """The package's root element; ``signature_placeholder`` goes where edXML keeps its signature."""
    root = etree.Element(q("edXML"), nsmap={None: NS})
    envelope = etree.SubElement(root, q("edXMLEnvelope"), nsmap={"edXML": NS})
    header = _add(envelope, "edXMLHeader")
    _message_header(header, c)
    _trace(header, c)
    if signature_placeholder is not None:
        header.append(signature_placeholder)
    _files(root, envelope, c)
    return root

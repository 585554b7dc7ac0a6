"""edXML status packages (``Status``: ResponseFor, From, StatusCode, Description, Timestamp,
StaffInfo) to and from docbus receipts; the codes are the receipt's own (01..06, 13, 15, 16)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lxml import etree

from producers.edxml._names import format_timestamp, parse_timestamp
from producers.edxml._xml import NS, PackageLimits, parse_xml, q
from producers.edxml.errors import EdxmlError
from producers.edxml.reader import _Fields, _staff
from schemas.document import parse_document_id
from schemas.edxml import EdxmlStaff
from schemas.orgcode import canonical_org_code
from schemas.reasons import Reason
from schemas.receipt import Receipt, StatusCode

__all__ = ["StatusMessage", "export_status", "parse_status", "status_of_receipt"]

_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


@dataclass(frozen=True, slots=True)
class StatusMessage:
    """One status package: who answers (``from_org``), about which document, with which code."""

    document_id: str
    from_org: str
    from_name: str
    status: StatusCode
    description: str
    at: datetime
    staff: EdxmlStaff | None = None

    def receipt_fields(self) -> dict[str, Any]:
        """Keyword arguments of ``producers.receipts.make_receipt`` this status gives."""
        staff = self.staff or EdxmlStaff()
        return {
            "document_id": self.document_id, "status": self.status, "reason": self.description or None,
            "by_name": staff.staff, "by_position": staff.department, "at": self.at,
        }  # fmt: skip


def status_of_receipt(receipt: Receipt, from_name: str = "") -> StatusMessage:
    staff = EdxmlStaff(staff=receipt.by_name, department=receipt.by_position)
    return StatusMessage(
        receipt.document_id, receipt.from_org, from_name, receipt.status, receipt.reason, receipt.at, staff
    )


def _status_element(root: Any) -> Any:
    if root.tag == q("Status"):
        return root
    found = root.find(f"{{{_SOAP}}}Header/{q('Status')}") if root.tag == f"{{{_SOAP}}}Envelope" else None
    if found is None:
        raise EdxmlError(
            Reason.MALFORMED, f"root is {root.tag}, expected Status in {NS} (or in a SOAP Header)"
        )
    return found


def parse_status(data: bytes, limits: PackageLimits | None = None) -> StatusMessage:
    s = _Fields(_status_element(parse_xml(data, limits or PackageLimits())), "Status")
    response = s.need("ResponseFor")
    document_id = response.req("DocumentId")
    sender = s.need("From")
    code = s.req("StatusCode")
    try:
        parse_document_id(document_id)
        status = StatusCode(code)
        from_org = sender.req("OrganId")
        canonical_org_code(from_org)
    except ValueError as exc:
        raise EdxmlError(Reason.INVALID_FIELD, str(exc), "Status") from None
    description = s.opt("Description")
    if status.needs_reason and not description:
        raise EdxmlError(Reason.FIELD_MISSING, f"status {code} needs a reason", s.at("Description"))
    at = s.parsed("Timestamp", parse_timestamp, required=True)
    assert at is not None
    staff = _staff(s.sub("StaffInfo", required=False))
    return StatusMessage(document_id, from_org, sender.opt("OrganName"), status, description, at, staff)


def _add(parent: Any, name: str, text: str = "") -> Any:
    el = etree.SubElement(parent, q(name))
    el.text = text
    return el


def export_status(msg: StatusMessage) -> bytes:
    root = etree.Element(q("Status"), nsmap={"edXML": NS})
    response = _add(root, "ResponseFor")
    doc = parse_document_id(msg.document_id)
    _add(response, "OrganId", doc.organ_id)
    _add(response, "Code", f"{doc.code_number}/{doc.code_notation}")
    _add(response, "PromulgationDate", f"{doc.promulgation_date:%Y/%m/%d}")
    _add(response, "DocumentId", msg.document_id)
    sender = _add(root, "From")
    _add(sender, "OrganId", msg.from_org)
    _add(sender, "OrganName", msg.from_name)
    _add(root, "StatusCode", msg.status.value)
    _add(root, "Description", msg.description)
    _add(root, "Timestamp", format_timestamp(msg.at))
    if msg.staff is not None:
        staff = _add(root, "StaffInfo")
        for name, value in (("Department", msg.staff.department), ("Staff", msg.staff.staff),
                            ("Email", msg.staff.email), ("Mobile", msg.staff.mobile)):  # fmt: skip
            _add(staff, name, value)
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return out

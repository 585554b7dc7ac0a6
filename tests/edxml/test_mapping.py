"""Every MessageHeader, TraceHeaderList and manifest field maps to the envelope and back."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from hypothesis import given, settings
from lxml import etree

from producers.edxml import export_package, parse_package
from producers.edxml._xml import PackageLimits, parse_xml
from producers.edxml.reader import PackageContent, read_package
from producers.edxml.writer import content_of, write_package
from schemas.canonical import ENVELOPE_V2_CONTEXT, envelope_signing_input
from schemas.codec import decode, encode
from schemas.document import BusinessType, Competence, DocumentType, Priority, SteeringType
from schemas.envelope import Envelope
from tests.edxml.strategies import package_contents
from tests.schemas.samples import sample_envelope


def _reread(content: PackageContent) -> PackageContent:
    xml = etree.tostring(write_package(content), xml_declaration=True, encoding="UTF-8")
    return read_package(parse_xml(xml, PackageLimits()))


def test_the_sample_maps_every_field(sample: bytes) -> None:
    pkg = parse_package(sample)
    c, d, x = pkg.content, pkg.content.document, pkg.content.details
    assert (c.sender.code, c.sender.name, c.sender.in_charge) == (
        "000.00.15.G03", "Cục Công nghệ thông tin", "Bộ Giáo dục và Đào tạo",
    )  # fmt: skip
    assert (c.sender.address, c.sender.email, c.sender.phone, c.sender.website, x.sender_fax) == (
        "35 Đại Cồ Việt, Hai Bà Trưng, Hà Nội", "cntt@example.edu.vn", "024 0000 0000", "example.edu.vn", "",
    )  # fmt: skip
    assert c.recipients == ["000.00.00.H01"]
    assert [(o.code, o.name, o.in_charge, o.email) for o in x.to] == [
        ("000.00.00.H01", "Sở Giáo dục và Đào tạo Hà Nội", "UBND Thành phố Hà Nội", "sogd@example.gov.vn")
    ]
    assert d.document_id == "000.00.15.G03,2026/11/20,1234/CNTT-HTTT"
    assert (d.code_number, d.code_notation, d.promulgation_place, d.promulgation_date) == (
        "1234", "CNTT-HTTT", "Hà Nội", date(2026, 11, 20),
    )  # fmt: skip
    assert d.document_type is DocumentType.CONG_VAN and (x.type_code, x.type_detail, x.type_name) == (
        "1",
        "0",
        "Công văn",
    )
    assert d.subject == "V/v triển khai học bạ số năm học 2026-2027"
    assert x.content == "Đề nghị Sở rà soát và báo cáo tiến độ triển khai học bạ số."
    assert (d.signer.competence, x.competence_text) == (Competence.KT, "KT. CỤC TRƯỞNG")
    assert (d.signer.position, d.signer.full_name) == ("Phó Cục trưởng", "Trần Văn Ví Dụ")
    assert d.due_date == date(2026, 12, 15)
    assert d.priority is Priority.NORMAL
    assert (x.sphere, x.typer_notation, x.promulgation_amount, x.page_amount, x.direction) == (
        "Liên thông văn bản quốc gia", "NVA", 1, 2, False,
    )  # fmt: skip
    assert x.appendixes == ["Phụ lục: mẫu báo cáo tiến độ"]
    assert d.steering_type is SteeringType.NOT_STEERING
    assert d.places == ["Như trên", "Lưu: VT, CNTT"]
    assert [(h.org_code, h.at) for h in c.trace] == [
        ("000.00.15.G03", datetime(2026, 11, 20, 2, 30, tzinfo=UTC))
    ]
    assert d.business_type is BusinessType.NEW
    assert x.business is not None and x.business.document_id == d.document_id
    assert (x.business.reason, x.business.paper) == ("Văn bản điện tử mới", 0)
    assert x.business.staff is not None and x.business.staff.staff == "Nguyễn Thị Văn Thư"
    assert (x.business.staff.department, x.business.staff.email, x.business.staff.mobile) == (
        "Văn thư", "vanthu@example.edu.vn", "0900000000",
    )  # fmt: skip
    assert (c.payload.file_name, c.payload.content_type) == ("1234-CNTT-HTTT.pdf", "application/pdf")
    assert c.payload.data.startswith(b"%PDF-1.4") and c.attachments == []
    assert [(a.content_id, a.description) for a in x.attachments] == [("cid:1", "1234-CNTT-HTTT.pdf")]


def test_the_sample_round_trips_through_a_signed_envelope(sample: bytes) -> None:
    pkg = parse_package(sample)
    env = pkg.envelope(message_id=str(uuid.uuid4()))
    assert envelope_signing_input(env).startswith(ENVELOPE_V2_CONTEXT)
    received = decode(encode(env), Envelope)  # what the recipient's inbox holds
    again = parse_package(export_package(received))
    assert again.content == pkg.content


@settings(max_examples=150, deadline=None)
@given(package_contents())
def test_synthetic_packages_round_trip_every_field(content: PackageContent) -> None:
    assert _reread(content) == content


@settings(max_examples=50, deadline=None)
@given(package_contents())
def test_synthetic_packages_round_trip_through_the_wire(content: PackageContent) -> None:
    from producers.edxml import EdxmlPackage

    env = EdxmlPackage(content).envelope(message_id=str(uuid.uuid4()))
    assert parse_package(export_package(decode(encode(env), Envelope))).content == content


def test_an_envelope_built_by_docbus_exports_with_derived_details() -> None:
    env = sample_envelope()  # no edxml details: a document sent with `docbus send`
    content = parse_package(export_package(env)).content
    assert content.document == env.document
    assert content.sender == env.sender
    # edXML timestamps carry whole seconds
    assert [(h.org_code, h.at) for h in content.trace] == [
        (h.org_code, h.at.replace(microsecond=0)) for h in env.trace
    ]
    assert [content.payload, *content.attachments] == [env.payload, *env.attachments]
    assert content.details.type_name == "Công văn" and content.details.type_code == "18"
    assert [o.code for o in content.details.to] == env.recipients
    assert content_of(env).details.attachments[1].content_id == "cid:2"


def test_names_are_matched_without_diacritics(sample: bytes) -> None:
    plain = sample.replace("<edXML:TypeName>Công văn".encode(), b"<edXML:TypeName>CONG  VAN")
    assert parse_package(plain).content.document.document_type is DocumentType.CONG_VAN

# ruff: noqa: E501  (the edited sample lines are data, kept whole)
"""Unsafe XML and packages with missing or inconsistent fields: a typed error with a stable reason."""

from __future__ import annotations

import pytest

from producers.edxml import EdxmlError, PackageLimits, parse_package
from schemas.reasons import Reason

NS = b'xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"'
ATTACKS = {
    "billion-laughs": (
        b'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(b'<!ENTITY a%d "%s">' % (i + 1, (b"&a%d;" % i if i else b"&a;") * 10) for i in range(9))
        + b"]><edXML "
        + NS
        + b">&a9;</edXML>",
        Reason.XML_ENTITY_REFUSED,
    ),
    "external-entity": (
        b'<!DOCTYPE edXML [<!ENTITY x SYSTEM "file:///etc/passwd">]><edXML ' + NS + b">&x;</edXML>",
        Reason.XML_ENTITY_REFUSED,
    ),
    "parameter-entity": (
        b'<!DOCTYPE edXML [<!ENTITY % p SYSTEM "http://127.0.0.1:1/p.dtd"> %p;]><edXML ' + NS + b"/>",
        Reason.XML_ENTITY_REFUSED,
    ),
    "external-dtd": (
        b'<!DOCTYPE edXML SYSTEM "http://127.0.0.1:1/x.dtd"><edXML ' + NS + b"/>",
        Reason.XML_DTD_REFUSED,
    ),
    "internal-dtd": (b"<!DOCTYPE edXML [<!ELEMENT edXML ANY>]><edXML " + NS + b"/>", Reason.XML_DTD_REFUSED),
    "deep-nesting": (
        b"<edXML " + NS + b">" + b"<a>" * 5000 + b"</a>" * 5000 + b"</edXML>",
        Reason.XML_TOO_DEEP,
    ),
    "not-xml": (b"%PDF-1.7 not a package", Reason.MALFORMED),
    "unclosed": (b"<edXML " + NS + b"><edXMLEnvelope>", Reason.MALFORMED),
    "wrong-namespace": (b'<edXML xmlns="http://www.e-doc.vn/Schema/"/>', Reason.MALFORMED),
    "empty": (b"", Reason.MALFORMED),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_unsafe_or_malformed_xml_is_refused_with_its_reason(name: str) -> None:
    data, reason = ATTACKS[name]
    with pytest.raises(EdxmlError) as err:
        parse_package(data)
    assert err.value.reason is reason, err.value


def test_oversized_package_is_refused_before_parsing(sample: bytes) -> None:
    with pytest.raises(EdxmlError) as err:
        parse_package(sample, PackageLimits(max_package_bytes=len(sample) - 1))
    assert err.value.reason is Reason.TOO_LARGE


def _edit(sample: bytes, old: str, new: str) -> bytes:
    assert old.encode() in sample, old
    return sample.replace(old.encode(), new.encode(), 1)


FIELD_CASES = [
    # (what is changed, replaced by, reason, field named)
    ("<edXML:OrganId>000.00.15.G03</edXML:OrganId>", "", Reason.FIELD_MISSING, "MessageHeader/From/OrganId"),
    ("<edXML:OrganName>Cục Công nghệ thông tin</edXML:OrganName>", "", Reason.INVALID_FIELD, "MessageHeader/From"),
    ("<edXML:CodeNumber>1234</edXML:CodeNumber>", "", Reason.FIELD_MISSING, "MessageHeader/Code/CodeNumber"),
    ("<edXML:CodeNumber>1234</edXML:CodeNumber>", "<edXML:CodeNumber>1235</edXML:CodeNumber>",
     Reason.FIELD_INCONSISTENT, "MessageHeader/DocumentId"),
    ("<edXML:PromulgationDate>2026/11/20</edXML:PromulgationDate>",
     "<edXML:PromulgationDate>2026/11/21</edXML:PromulgationDate>", Reason.FIELD_INCONSISTENT, "MessageHeader/DocumentId"),
    ("<edXML:PromulgationDate>2026/11/20</edXML:PromulgationDate>",
     "<edXML:PromulgationDate>2026/02/30</edXML:PromulgationDate>", Reason.INVALID_FIELD,
     "MessageHeader/PromulgationInfo/PromulgationDate"),
    ("<edXML:DocumentId>000.00.15.G03,2026/11/20,1234/CNTT-HTTT</edXML:DocumentId>\n        <edXML:Code>",
     "<edXML:DocumentId>000.00.00.H01,2026/11/20,1234/CNTT-HTTT</edXML:DocumentId>\n        <edXML:Code>",
     Reason.FIELD_INCONSISTENT, "MessageHeader/DocumentId"),
    ("<edXML:TypeName>Công văn</edXML:TypeName>", "<edXML:TypeName>Thư tình</edXML:TypeName>",
     Reason.INVALID_FIELD, "MessageHeader/DocumentType/TypeName"),
    ("<edXML:Subject>V/v triển khai học bạ số năm học 2026-2027</edXML:Subject>", "", Reason.FIELD_MISSING,
     "MessageHeader/Subject"),
    ("<edXML:Subject>V/v triển khai học bạ số năm học 2026-2027</edXML:Subject>",
     "<edXML:Subject>" + "V" * 501 + "</edXML:Subject>", Reason.INVALID_FIELD, "MessageHeader"),
    ("<edXML:FullName>Trần Văn Ví Dụ</edXML:FullName>", "", Reason.FIELD_MISSING, "MessageHeader/SignerInfo/FullName"),
    ("<edXML:DueDate>2026/12/15</edXML:DueDate>", "<edXML:DueDate>15/12/2026</edXML:DueDate>", Reason.INVALID_FIELD,
     "MessageHeader/DueDate"),
    ("<edXML:Priority>0</edXML:Priority>", "<edXML:Priority>7</edXML:Priority>", Reason.INVALID_FIELD,
     "MessageHeader/OtherInfo/Priority"),
    ("<edXML:PageAmount>2</edXML:PageAmount>", "<edXML:PageAmount>hai</edXML:PageAmount>", Reason.INVALID_FIELD,
     "MessageHeader/OtherInfo/PageAmount"),
    ("<edXML:Direction>false</edXML:Direction>", "<edXML:Direction>maybe</edXML:Direction>", Reason.INVALID_FIELD,
     "MessageHeader/OtherInfo/Direction"),
    ("<edXML:SteeringType>0</edXML:SteeringType>", "<edXML:SteeringType>9</edXML:SteeringType>", Reason.INVALID_FIELD,
     "MessageHeader/SteeringType"),
    ("<edXML:BussinessDocType>0</edXML:BussinessDocType>", "<edXML:BussinessDocType>5</edXML:BussinessDocType>",
     Reason.INVALID_FIELD, "TraceHeaderList/Bussiness/BussinessDocType"),
    ("<edXML:Timestamp>2026/11/20 09:30:00</edXML:Timestamp>", "<edXML:Timestamp>yesterday</edXML:Timestamp>",
     Reason.INVALID_FIELD, "TraceHeaderList/TraceHeader/Timestamp"),
    ("<edXML:OrganId>000.00.00.H01</edXML:OrganId>", "<edXML:OrganId>000.00.00.h01</edXML:OrganId>",
     Reason.INVALID_FIELD, "MessageHeader/To/OrganId"),
    ("<edXML:ContentId>cid:1</edXML:ContentId>\n          <edXML:ContentType>",
     "<edXML:ContentId>cid:2</edXML:ContentId>\n          <edXML:ContentType>", Reason.FIELD_INCONSISTENT,
     "AttachmentEncoded/Attachment"),
    ("<AttachmentName>1234-CNTT-HTTT.pdf</AttachmentName>", "<AttachmentName>khac.pdf</AttachmentName>",
     Reason.FIELD_INCONSISTENT, "AttachmentEncoded/Attachment/AttachmentName"),
    ("<edXML:AttachmentName>1234-CNTT-HTTT.pdf</edXML:AttachmentName>",
     "<edXML:AttachmentName>../../etc/passwd</edXML:AttachmentName>", Reason.FIELD_INCONSISTENT,
     "AttachmentEncoded/Attachment/AttachmentName"),
    ("JVBERi0xLjQK", "JVBERi0xLjQK!!", Reason.INVALID_FIELD, "AttachmentEncoded/Attachment/ContentTransferEncoded"),
    ("<edXML:Reference>", "<edXML:Unused>", Reason.MALFORMED, None),
]  # fmt: skip


@pytest.mark.parametrize("case", FIELD_CASES, ids=lambda c: f"{c[3]}:{c[2].value}")
def test_missing_or_inconsistent_fields_name_the_field(
    sample: bytes, case: tuple[str, str, Reason, str | None]
) -> None:
    old, new, reason, field = case
    data = _edit(sample, old, new)
    if old == "<edXML:Reference>":
        data = data.replace(b"</edXML:Reference>", b"</edXML:Unused>")
        reason, field = Reason.FIELD_MISSING, "edXMLBody/edXMLManifest/Reference"
    with pytest.raises(EdxmlError) as err:
        parse_package(data)
    assert (err.value.reason, err.value.field) == (reason, field), err.value


def test_no_recipient_and_duplicate_recipients(sample: bytes) -> None:
    start, end = sample.index(b"<edXML:To>"), sample.index(b"</edXML:To>") + len(b"</edXML:To>")
    with pytest.raises(EdxmlError) as err:
        parse_package(sample[:start] + sample[end:])
    assert (err.value.reason, err.value.field) == (Reason.FIELD_MISSING, "MessageHeader/To")
    twice = sample[:end] + sample[start:end].replace(b"000.00.00.H01", b"H01") + sample[end:]
    with pytest.raises(EdxmlError) as err:
        parse_package(twice)
    assert err.value.reason is Reason.FIELD_INCONSISTENT  # H01 is 000.00.00.H01


def test_a_stray_attachment_is_inconsistent(sample: bytes) -> None:
    att = sample[sample.index(b"<Attachment>") : sample.index(b"</Attachment>") + len(b"</Attachment>")]
    data = sample.replace(att, att + att.replace(b"cid:1", b"cid:9"))
    with pytest.raises(EdxmlError) as err:
        parse_package(data)
    assert err.value.reason is Reason.FIELD_INCONSISTENT and "not in the manifest" in err.value.detail


def test_errors_pickle_with_their_field() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(EdxmlError(Reason.FIELD_MISSING, "absent", "MessageHeader/Subject")))
    assert (err.reason, err.field, str(err)) == (
        Reason.FIELD_MISSING,
        "MessageHeader/Subject",
        "FIELD_MISSING: MessageHeader/Subject: absent",
    )

"""edXML status packages map to receipt status codes and back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.edxml import EdxmlError
from producers.edxml.status import StatusMessage, export_status, parse_status, status_of_receipt
from schemas.edxml import EdxmlStaff
from schemas.reasons import Reason
from schemas.receipt import StatusCode
from tests.schemas.samples import sample_receipt

DOC = "000.00.15.G03,2026/11/20,1234/CNTT-HTTT"
AT = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(StatusCode),
    st.text(st.characters(categories=("L", "N", "Zs")), max_size=40).map(str.strip),
)
def test_every_status_code_round_trips(code: StatusCode, text: str) -> None:
    description = text or ("sai địa chỉ" if code.needs_reason else "")
    msg = StatusMessage(
        DOC, "000.00.00.H01", "Sở GD&ĐT Hà Nội", code, description, AT, EdxmlStaff(staff="Văn thư")
    )
    assert parse_status(export_status(msg)) == msg


def test_a_receipt_becomes_a_status_and_gives_back_its_fields() -> None:
    receipt = sample_receipt()
    msg = status_of_receipt(receipt)
    back = parse_status(export_status(msg))
    fields = back.receipt_fields()
    assert (fields["status"], fields["document_id"], fields["by_name"]) == (
        receipt.status, receipt.document_id, receipt.by_name,
    )  # fmt: skip
    assert fields["at"] == receipt.at.replace(microsecond=0)


def test_a_status_in_a_soap_envelope_is_read() -> None:
    inner = export_status(StatusMessage(DOC, "H01", "", StatusCode.ACCEPTED, "", AT)).split(b"?>", 1)[1]
    soap = b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Header>'
    assert (
        parse_status(soap + inner + b"</SOAP-ENV:Header></SOAP-ENV:Envelope>").status is StatusCode.ACCEPTED
    )


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (
            b"<edXML:StatusCode>03</edXML:StatusCode>",
            b"<edXML:StatusCode>07</edXML:StatusCode>",
            Reason.INVALID_FIELD,
        ),
        (
            b"<edXML:StatusCode>03</edXML:StatusCode>",
            b"<edXML:StatusCode>02</edXML:StatusCode>",
            Reason.FIELD_MISSING,
        ),
        (b"<edXML:StatusCode>03</edXML:StatusCode>", b"", Reason.FIELD_MISSING),
        (
            b"<?xml version='1.0' encoding='UTF-8'?>",
            b"<!DOCTYPE x [<!ENTITY a 'a'>]>",
            Reason.XML_ENTITY_REFUSED,
        ),
    ],
)
def test_bad_status_packages_are_refused(old: bytes, new: bytes, reason: Reason) -> None:
    good = export_status(StatusMessage(DOC, "H01", "", StatusCode.ACCEPTED, "", AT))
    assert old in good
    with pytest.raises(EdxmlError) as err:
        parse_status(good.replace(old, new))
    assert err.value.reason is reason

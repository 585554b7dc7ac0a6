"""Field rules of the models: org codes, document ids, group addresses, addressing, times."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from schemas.document import format_document_id, parse_document_id
from schemas.fields import to_millis
from schemas.orgcode import canonical_org_code, is_edxml_form, validate_org_code
from schemas.payload import Payload
from schemas.receipt import StatusCode
from tests.schemas.samples import sample_envelope, sample_receipt


@pytest.mark.parametrize(
    ("code", "dotted"),
    [
        ("G03", "G03"),
        ("G03.15.02", "G03.15.02"),
        ("000.00.00.G03", "G03"),
        ("000.00.00.H41", "H41"),
        ("000.00.15.G03", "G03.15"),
        ("001.02.15.G03", "G03.15.02.001"),
        ("A" * 35, "A" * 35),
    ],
)
def test_valid_org_codes(code: str, dotted: str) -> None:
    assert validate_org_code(code) == code
    assert canonical_org_code(code) == dotted


@pytest.mark.parametrize(
    "code", ["", "g03", "G03.", ".G03", "G03..1", "G 03", "A" * 36, "000.02.00.G03", "Ð03", "G03/1"]
)
def test_invalid_org_codes(code: str) -> None:
    with pytest.raises(ValueError):
        validate_org_code(code)


def test_edxml_form_is_recognised_by_shape() -> None:
    assert is_edxml_form("000.00.00.G22")
    assert not is_edxml_form("G03.15.02")


def test_document_id_round_trip_and_rules() -> None:
    text = format_document_id("000.00.00.G22", date(2015, 9, 30), "7816", "VPCP-TTĐT")
    assert text == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert parse_document_id(text).code_notation == "VPCP-TTĐT"
    assert parse_document_id("G03,2025/01/02,01/QĐ-BGDĐT/X").code_notation == "QĐ-BGDĐT/X"
    for bad in (
        "G03,2025/02/30,1/VP",  # no such day
        "G03,2025-01-02,1/VP",
        "G03,2025/01/02,1",  # no ký hiệu
        "G03,2025/01/02,/VP",
        "G03,2025/01/02,123456789012/VP",  # số > 11
        "G03,2025/01/02,1/" + "X" * 31,  # ký hiệu > 30
        "g03,2025/01/02,1/VP",
        "G03,2025/01/02,1/VP,extra",
    ):
        with pytest.raises(ValueError):
            parse_document_id(bad)


def test_document_id_must_match_header_fields_and_sender() -> None:
    doc = sample_envelope().document.model_dump()
    with pytest.raises(ValidationError, match="does not match"):
        type(sample_envelope().document)(**{**doc, "code_number": "1235"})
    other = sample_envelope().document.model_copy(update={"document_id": "H41,2025/09/30,1234/BGDĐT-VP"})
    with pytest.raises(ValidationError, match="another organisation"):
        sample_envelope(document=other.model_dump())
    # the same issuer written in the edXML form is the same organisation
    edxml = sample_envelope().document.model_copy(
        update={"document_id": "000.00.00.G03,2025/09/30,1234/BGDĐT-VP"}
    )
    sample_envelope(document=edxml.model_dump())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"subject": "x" * 501}, "subject"),
        ({"code_notation": "x" * 31}, "code_notation"),
        ({"priority": 5}, "priority"),
        ({"document_type": "thu_tinh"}, "document_type"),
        ({"signer": {"competence": "KT", "position": "p", "full_name": "n"}}, "competence"),
    ],
)
def test_header_field_rules(changes: dict[str, object], message: str) -> None:
    doc = sample_envelope().document.model_dump()
    with pytest.raises(ValidationError, match=message):
        type(sample_envelope().document)(**{**doc, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"recipients": [], "groups": []}, "at least one recipient"),
        ({"recipients": ["H41", "000.00.00.H41"]}, "duplicate"),
        ({"groups": ["all-universities", "all-universities"]}, "duplicate"),
        ({"groups": ["everyone"]}, "group address"),
        ({"groups": ["children:g03"]}, "org code"),
        ({"groups": ["list:"]}, "group address"),
        ({"message_id": "0199A0B2-7C3E-7D41-8A2B-3C4D5E6F7A8B"}, "UUID"),
        ({"sequence": 0}, "sequence"),
        ({"previous_hash": b"\x00" * 31}, "previous_hash"),
        ({"created_at": datetime(2025, 1, 1)}, "timezone-aware"),
    ],
)
def test_envelope_rules(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        sample_envelope(**changes)


def test_group_addresses_accepted() -> None:
    env = sample_envelope(
        groups=["all-departments", "all-universities", "children:G03.15", "list:so-gddt-mien-bac"]
    )
    assert len(env.groups) == 4


def test_times_are_utc_milliseconds() -> None:
    ict = timezone(timedelta(hours=7))
    env = sample_envelope(created_at=datetime(2025, 9, 30, 15, 15, 0, 123999, tzinfo=ict))
    assert env.created_at == datetime(2025, 9, 30, 8, 15, 0, 123000, tzinfo=UTC)
    assert env.created_at.tzinfo is UTC
    assert to_millis(env.created_at) == 1759220100123
    assert to_millis(datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)) == -1


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("../x.pdf", "application/pdf"),
        ("a/b.pdf", "application/pdf"),
        ("x.pdf", "PDF"),
        ("", "application/pdf"),
    ],
)
def test_payload_descriptor_rules(name: str, content_type: str) -> None:
    with pytest.raises(ValidationError):
        Payload.of(name, content_type, b"x")


def test_rejection_receipts_need_a_reason() -> None:
    with pytest.raises(ValidationError, match="needs a reason"):
        sample_receipt(status=StatusCode.REJECTED)
    assert sample_receipt(status=StatusCode.REJECTED, reason="sai nơi nhận").reason == "sai nơi nhận"

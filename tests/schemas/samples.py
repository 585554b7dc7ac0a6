"""Deterministic sample records shared by the contract tests and tests/vectors/generate.py."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from schemas.document import (
    BusinessType,
    Competence,
    DocumentType,
    Priority,
    SteeringType,
    format_document_id,
)
from schemas.envelope import ZERO_HASH, Envelope
from schemas.header import DocumentHeader, Organization, SignerInfo, TraceHop
from schemas.payload import Payload
from schemas.receipt import Receipt, StatusCode

__all__ = ["sample_envelope", "sample_receipt"]

CREATED = datetime(2025, 9, 30, 8, 15, 0, 123000, tzinfo=UTC)


def sample_envelope(**changes: Any) -> Envelope:
    promulgated = date(2025, 9, 30)
    header = DocumentHeader(
        document_id=format_document_id("G03", promulgated, "1234", "BGDĐT-VP"),
        code_number="1234",
        code_notation="BGDĐT-VP",
        document_type=DocumentType.CONG_VAN,
        subject="V/v hướng dẫn thực hiện nhiệm vụ năm học 2025-2026",
        promulgation_place="Hà Nội",
        promulgation_date=promulgated,
        signer=SignerInfo(competence=Competence.KT, position="Thứ trưởng", full_name="Nguyễn Văn A"),
        priority=Priority.URGENT,
        due_date=date(2025, 10, 15),
        places=["Như trên;", "Lưu: VT, VP."],
        steering_type=SteeringType.STEERING,
        business_type=BusinessType.NEW,
    )
    fields: dict[str, Any] = {
        "message_id": "0199a0b2-7c3e-7d41-8a2b-3c4d5e6f7a8b",
        "sender": Organization(
            code="G03",
            name="Bộ Giáo dục và Đào tạo",
            in_charge="Chính phủ",
            address="35 Đại Cồ Việt, Hà Nội",
            email="vanthu@moet.gov.vn",
            phone="024 3869 4795",
            website="https://moet.gov.vn",
        ),
        "recipients": ["H41", "000.00.00.H29"],
        "groups": ["all-universities", "children:G03"],
        "document": header,
        "trace": [TraceHop(org_code="G03.15", at=CREATED)],
        "created_at": CREATED,
        "sequence": 1,
        "previous_hash": ZERO_HASH,
        "directory_snapshot": bytes(range(32)),
        "payload": Payload.of("cong-van-1234.pdf", "application/pdf", b"%PDF-1.7\n% sample body\n"),
        "attachments": [Payload.of("phu-luc.xlsx", "application/vnd.ms-excel", b"PK\x03\x04 sheet")],
        "signatures": [],
    }
    fields.update(changes)
    return Envelope(**fields)


def sample_receipt(**changes: Any) -> Receipt:
    fields: dict[str, Any] = {
        "message_id": "0199a0b3-0000-7000-8000-000000000001",
        "envelope_id": "0199a0b2-7c3e-7d41-8a2b-3c4d5e6f7a8b",
        "signing_hash": bytes(range(32, 64)),
        "document_id": "G03,2025/09/30,1234/BGDĐT-VP",
        "from_org": "H41",
        "to_org": "G03",
        "status": StatusCode.ARRIVED,
        "by_name": "Trần Thị B",
        "by_position": "Văn thư",
        "at": datetime(2025, 9, 30, 9, 0, tzinfo=UTC),
    }
    fields.update(changes)
    return Receipt(**fields)

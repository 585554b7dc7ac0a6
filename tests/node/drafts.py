"""Draft documents for node tests."""

from __future__ import annotations

from collections.abc import Sequence

from producers.builder import DocumentDraft
from schemas.document import DocumentType
from schemas.payload import Payload


def draft(
    number: str = "12",
    recipients: Sequence[str] = ("G03.U002",),
    groups: Sequence[str] = (),
    **extra: object,
) -> DocumentDraft:
    fields: dict[str, object] = {
        "document_type": DocumentType.CONG_VAN,
        "code_number": number,
        "code_notation": "ĐHSP-HCTH",
        "subject": "V/v phối hợp tổ chức hội thảo khoa học",
        "payload": Payload.of("cong-van.pdf", "application/pdf", b"%PDF-1.7 cong van " + number.encode()),
        "recipients": recipients,
        "groups": groups,
    }
    return DocumentDraft(**(fields | extra))  # type: ignore[arg-type]

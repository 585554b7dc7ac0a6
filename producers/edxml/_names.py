"""edXML vocabularies: document type names, competence prefixes, business and steering codes."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta, timezone

from schemas.document import BusinessType, Competence, DocumentType, SteeringType

__all__ = [
    "BUSINESS_CODES",
    "STEERING_CODES",
    "VN_TIME",
    "competence_of",
    "fold",
    "type_code",
    "type_name",
    "type_of_name",
]

VN_TIME = timezone(timedelta(hours=7), "ICT")  # edXML timestamps are Vietnam local time, no offset written

# ND 30/2020 Art. 7 order; the position is the code one SDK family uses (Công văn = 18)
_NAMES: dict[DocumentType, str] = dict(
    zip(
        DocumentType,
        (
            "Nghị quyết", "Quyết định", "Chỉ thị", "Quy chế", "Quy định", "Thông cáo", "Thông báo",
            "Hướng dẫn", "Chương trình", "Kế hoạch", "Phương án", "Đề án", "Dự án", "Báo cáo",
            "Biên bản", "Tờ trình", "Hợp đồng", "Công văn", "Công điện", "Bản ghi nhớ", "Bản thỏa thuận",
            "Giấy ủy quyền", "Giấy mời", "Giấy giới thiệu", "Giấy nghỉ phép", "Phiếu gửi", "Phiếu chuyển",
            "Phiếu báo", "Thư công",
        ),
        strict=True,
    )
)  # fmt: skip


def fold(text: str) -> str:
    """Compare names without diacritics, case or spacing ("Cong  van" is "Công văn")."""
    flat = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    bare = "".join(c for c in flat if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", bare).strip().casefold()


_BY_NAME = {fold(name): t for t, name in _NAMES.items()}


def type_of_name(name: str) -> DocumentType | None:
    return _BY_NAME.get(fold(name))


def type_name(kind: DocumentType) -> str:
    return _NAMES[kind]


def type_code(kind: DocumentType) -> str:
    return str(list(DocumentType).index(kind) + 1)


_COMPETENCES = sorted((c for c in Competence if c.value), key=lambda c: -len(c.value))


def competence_of(text: str) -> Competence:
    """The thẩm quyền ký a SignerInfo/Competence text starts with ("KT. CỤC TRƯỞNG" is KT.)."""
    head = text.strip().upper()
    return next((c for c in _COMPETENCES if head.startswith(c.value)), Competence.NONE)


BUSINESS_CODES: dict[str, BusinessType] = {
    "0": BusinessType.NEW,
    "1": BusinessType.RECALL,  # thu hồi (revocation)
    "2": BusinessType.UPDATE,
    "3": BusinessType.REPLACE,  # thay thế (replacement)
}
STEERING_CODES: dict[str, SteeringType] = {
    "0": SteeringType.NOT_STEERING,
    "1": SteeringType.STEERING,
    "2": SteeringType.STEERING_REPORT,
}


def parse_timestamp(text: str) -> datetime:
    """``yyyy/MM/dd HH:mm:ss`` in Vietnam local time; ValueError otherwise."""
    return datetime.strptime(text, "%Y/%m/%d %H:%M:%S").replace(tzinfo=VN_TIME)


def format_timestamp(at: datetime) -> str:
    return at.astimezone(VN_TIME).strftime("%Y/%m/%d %H:%M:%S")

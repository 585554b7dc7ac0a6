"""Document vocabulary of ND 30/2020/NĐ-CP and the edXML header (QCVN 102:2016)."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from enum import IntEnum, StrEnum
from typing import NamedTuple

from schemas.orgcode import validate_org_code

__all__ = [
    "MAX_CODE_NOTATION",
    "MAX_CODE_NUMBER",
    "BusinessType",
    "Competence",
    "DocumentId",
    "DocumentType",
    "Priority",
    "SecurityLevel",
    "SteeringType",
    "format_document_id",
    "number_key",
    "parse_document_id",
]

MAX_CODE_NUMBER = 11  # số
MAX_CODE_NOTATION = 30  # ký hiệu


class DocumentType(StrEnum):
    """The 29 administrative document types of ND 30/2020, Art. 7 (values are wire strings)."""

    NGHI_QUYET = "nghi_quyet"  # nghị quyết (cá biệt)
    QUYET_DINH = "quyet_dinh"  # quyết định (cá biệt)
    CHI_THI = "chi_thi"
    QUY_CHE = "quy_che"
    QUY_DINH = "quy_dinh"
    THONG_CAO = "thong_cao"
    THONG_BAO = "thong_bao"
    HUONG_DAN = "huong_dan"
    CHUONG_TRINH = "chuong_trinh"
    KE_HOACH = "ke_hoach"
    PHUONG_AN = "phuong_an"
    DE_AN = "de_an"
    DU_AN = "du_an"
    BAO_CAO = "bao_cao"
    BIEN_BAN = "bien_ban"
    TO_TRINH = "to_trinh"
    HOP_DONG = "hop_dong"
    CONG_VAN = "cong_van"
    CONG_DIEN = "cong_dien"
    BAN_GHI_NHO = "ban_ghi_nho"
    BAN_THOA_THUAN = "ban_thoa_thuan"
    GIAY_UY_QUYEN = "giay_uy_quyen"
    GIAY_MOI = "giay_moi"
    GIAY_GIOI_THIEU = "giay_gioi_thieu"
    GIAY_NGHI_PHEP = "giay_nghi_phep"
    PHIEU_GUI = "phieu_gui"
    PHIEU_CHUYEN = "phieu_chuyen"
    PHIEU_BAO = "phieu_bao"
    THU_CONG = "thu_cong"


class Competence(StrEnum):
    """Thẩm quyền ký: signing on behalf of, acting, deputy, by order, by authorisation, or none."""

    TM = "TM."
    Q = "Q."
    KT = "KT."
    TL = "TL."
    TUQ = "TUQ."
    NONE = ""


class Priority(IntEnum):
    NORMAL = 0  # thường
    URGENT = 1  # khẩn
    VERY_URGENT = 2  # thượng khẩn
    FLASH = 3  # hỏa tốc
    FLASH_TIMED = 4  # hỏa tốc hẹn giờ


class SteeringType(StrEnum):
    NOT_STEERING = "not_steering"
    STEERING = "steering"
    STEERING_REPORT = "steering_report"


class BusinessType(StrEnum):
    NEW = "new"
    RECALL = "recall"
    UPDATE = "update"
    REPLACE = "replace"


class SecurityLevel(StrEnum):
    """Độ mật. Anything but NORMAL is refused (SECRET_REFUSED): secret documents are excluded
    from electronic exchange. The Avro enum defaults to ``secret`` so an unknown level fails closed."""

    NORMAL = "normal"
    SECRET = "secret"  # mật
    TOP_SECRET = "top_secret"  # tối mật
    ABSOLUTE_SECRET = "absolute_secret"  # tuyệt mật


class DocumentId(NamedTuple):
    organ_id: str
    promulgation_date: date
    code_number: str
    code_notation: str


_DATE = re.compile(r"([0-9]{4})/([0-9]{2})/([0-9]{2})")


def format_document_id(organ_id: str, promulgated: date, code_number: str, code_notation: str) -> str:
    """``OrganId,yyyy/MM/dd,Số/Ký hiệu`` — e.g. ``000.00.00.G22,2015/09/30,7816/VPCP-TTĐT``."""
    text = f"{organ_id},{promulgated:%Y/%m/%d},{code_number}/{code_notation}"
    parse_document_id(text)  # one definition of validity
    return text


def parse_document_id(text: str) -> DocumentId:
    """Split and validate a document id; ValueError if it is not well formed."""
    parts = text.split(",")
    if len(parts) != 3:
        raise ValueError("document id must be 'OrganId,yyyy/MM/dd,Số/Ký hiệu'")
    organ_id, day, code = parts
    validate_org_code(organ_id)
    m = _DATE.fullmatch(day)
    if m is None:
        raise ValueError("document id date must be yyyy/MM/dd")
    promulgated = date(int(m[1]), int(m[2]), int(m[3]))  # ValueError for 2025/02/30
    number, sep, notation = code.partition("/")
    if not sep or not number or not notation:
        raise ValueError("document id code must be 'Số/Ký hiệu'")
    if len(number) > MAX_CODE_NUMBER or len(notation) > MAX_CODE_NOTATION:
        raise ValueError(f"số ≤ {MAX_CODE_NUMBER} and ký hiệu ≤ {MAX_CODE_NOTATION} characters")
    return DocumentId(organ_id, promulgated, number, notation)


def number_key(issuer: str, promulgated: date, code_number: str, code_notation: str) -> str:
    """What makes a document one (ND 30: số/ký hiệu restart every year per issuing organisation):
    ``<issuer>/<year>/<số>/<ký hiệu>``, the number and notation in NFC without regard to case."""
    return f"{issuer}/{promulgated.year}/{_number_norm(code_number)}/{_number_norm(code_notation)}"


def _number_norm(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().casefold()

"""A realistic, deterministic sector directory for the demo and the tests (docs/DIRECTORY.md).

The ministry ``G03`` and a few of its units (``G03.xx``), one Sở GD&ĐT per province (``H01`` ..
``H63``, top-level codes numbered in the statistical order of the 63 provinces before 1 July 2025
— illustrative, not the provinces' official mã định danh), universities ``G03.U001`` .. and
colleges ``G03.C001`` .. under the ministry. Entries are unsigned: the directory authority seals
them with the trust tooling. The same arguments always give the same entries.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from schemas.directory import DirectoryEntry, OrgKind, OrgStatus

__all__ = ["BUS", "MERGERS_2025", "MINISTRY", "PROVINCES", "build_sector", "department_code"]

MINISTRY = "G03"
BUS = "G03.BUS"  # the bus itself: seals its 01/02 notices (ADR 0001, "Identities")
ISSUED = datetime(2025, 1, 1, tzinfo=UTC)
MERGED = datetime(2025, 7, 1, tzinfo=UTC)  # NQ 202/2025/QH15 takes effect

PROVINCES: tuple[str, ...] = (
    "Hà Nội", "Hà Giang", "Cao Bằng", "Bắc Kạn", "Tuyên Quang", "Lào Cai", "Điện Biên", "Lai Châu",
    "Sơn La", "Yên Bái", "Hòa Bình", "Thái Nguyên", "Lạng Sơn", "Quảng Ninh", "Bắc Giang", "Phú Thọ",
    "Vĩnh Phúc", "Bắc Ninh", "Hải Dương", "Hải Phòng", "Hưng Yên", "Thái Bình", "Hà Nam", "Nam Định",
    "Ninh Bình", "Thanh Hóa", "Nghệ An", "Hà Tĩnh", "Quảng Bình", "Quảng Trị", "Thừa Thiên Huế",
    "Đà Nẵng", "Quảng Nam", "Quảng Ngãi", "Bình Định", "Phú Yên", "Khánh Hòa", "Ninh Thuận",
    "Bình Thuận", "Kon Tum", "Gia Lai", "Đắk Lắk", "Đắk Nông", "Lâm Đồng", "Bình Phước", "Tây Ninh",
    "Bình Dương", "Đồng Nai", "Bà Rịa - Vũng Tàu", "TP. Hồ Chí Minh", "Long An", "Tiền Giang",
    "Bến Tre", "Trà Vinh", "Vĩnh Long", "Đồng Tháp", "An Giang", "Kiên Giang", "Cần Thơ", "Hậu Giang",
    "Sóc Trăng", "Bạc Liêu", "Cà Mau",
)  # fmt: skip

# NQ 202/2025/QH15: merged-away province -> the province that continues (63 -> 34 provinces)
MERGERS_2025: dict[str, str] = {
    "Hà Giang": "Tuyên Quang", "Yên Bái": "Lào Cai", "Bắc Kạn": "Thái Nguyên", "Vĩnh Phúc": "Phú Thọ",
    "Hòa Bình": "Phú Thọ", "Bắc Giang": "Bắc Ninh", "Thái Bình": "Hưng Yên", "Hải Dương": "Hải Phòng",
    "Hà Nam": "Ninh Bình", "Nam Định": "Ninh Bình", "Quảng Bình": "Quảng Trị", "Quảng Nam": "Đà Nẵng",
    "Kon Tum": "Quảng Ngãi", "Bình Định": "Gia Lai", "Ninh Thuận": "Khánh Hòa", "Đắk Nông": "Lâm Đồng",
    "Bình Thuận": "Lâm Đồng", "Phú Yên": "Đắk Lắk", "Bình Dương": "TP. Hồ Chí Minh",
    "Bà Rịa - Vũng Tàu": "TP. Hồ Chí Minh", "Bình Phước": "Đồng Nai", "Long An": "Tây Ninh",
    "Sóc Trăng": "Cần Thơ", "Hậu Giang": "Cần Thơ", "Bến Tre": "Vĩnh Long", "Trà Vinh": "Vĩnh Long",
    "Tiền Giang": "Đồng Tháp", "Bạc Liêu": "Cà Mau", "Kiên Giang": "An Giang",
}  # fmt: skip

_UNITS = (
    ("G03.01", "Vụ Giáo dục Mầm non", "Department of Early Childhood Education"),
    ("G03.02", "Vụ Giáo dục Đại học", "Department of Higher Education"),
    ("G03.03", "Vụ Giáo dục Phổ thông", "Department of General Education"),
    ("G03.06", "Cục Quản lý chất lượng", "Quality Management Agency"),
    ("G03.09", "Cục Nhà giáo và Cán bộ quản lý giáo dục", "Agency of Teachers and Education Managers"),
    ("G03.15", "Văn phòng", "Ministry Office"),
)
_FIELDS = (
    ("Sư phạm", "su-pham"), ("Kinh tế", "kinh-te"), ("Y Dược", "y-duoc"), ("Bách khoa", "ky-thuat"),
    ("Nông Lâm", "nong-lam"), ("Khoa học", "khoa-hoc"), ("Luật", "luat"), ("Ngoại ngữ", "ngoai-ngu"),
    ("Công nghệ", "ky-thuat"), ("Văn hóa", "van-hoa"), ("Kiến trúc", "ky-thuat"), ("Thủy lợi", "ky-thuat"),
)  # fmt: skip
# province index bounds: Bắc up to Ninh Bình, Trung from Thanh Hóa to Lâm Đồng, the rest Nam
_REGION_ENDS = ((25, "mien-bac"), (44, "mien-trung"))


def department_code(index: int) -> str:
    """``H01`` .. for the province at ``index`` (0-based) of PROVINCES; H64.. for codes beyond."""
    return f"H{index + 1:02d}"


def _fingerprints(code: str, count: int) -> list[str]:
    # stand-ins for the seal and officials' certificate hashes, stable across runs
    return [hashlib.sha256(f"docbus-sector/{code}/{i}".encode()).hexdigest() for i in range(count)]


def _region(index: int) -> str:
    return next((name for end, name in _REGION_ENDS if index < end), "mien-nam")


def _university_name(index: int) -> tuple[str, str]:
    field, slug = _FIELDS[index % len(_FIELDS)]
    round_, place_index = divmod(index // len(_FIELDS), len(PROVINCES))
    suffix = f" - Phân hiệu {round_ + 1}" if round_ else ""
    return f"Trường Đại học {field} {PROVINCES[place_index]}{suffix}", slug


def build_sector(
    n_departments: int = 63,
    n_universities: int = 300,
    *,
    n_colleges: int = 0,
    merged_pair: bool = True,
    mergers_2025: bool = False,
    with_bus: bool = False,
) -> list[DirectoryEntry]:
    """The sector directory: ministry, units, ``n_departments`` active Sở GD&ĐT, universities, colleges.

    ``merged_pair`` adds one extra closed code, ``H64`` (the pre-merger Sở GD&ĐT of Hà Tây, closed
    into Hà Nội ``H01``), so the default keeps the user's 63 active departments and still shows a
    closed code resolving. ``mergers_2025`` closes the 29 departments merged away by NQ 202/2025
    (successor: the continuing province's department), leaving 34 active of the 63. ``with_bus``
    adds the bus's own org ``G03.BUS`` (kind other, child of G03), as a deployed directory has."""
    if not 1 <= n_departments <= len(PROVINCES):
        raise ValueError(f"n_departments must be 1..{len(PROVINCES)}")
    if mergers_2025 and n_departments != len(PROVINCES):
        raise ValueError("the 2025 mergers need all 63 provinces")

    def make(code: str, name: str, kind: OrgKind, parent: str | None, **extra: object) -> DirectoryEntry:
        return DirectoryEntry.model_validate(
            {"code": code, "name": name, "kind": kind, "parent": parent, "version": 1,
             "updated_at": ISSUED, "cert_fingerprints": _fingerprints(code, 2), **extra}
        )  # fmt: skip

    entries = [make(MINISTRY, "Bộ Giáo dục và Đào tạo", OrgKind.MINISTRY, None,
                    name_en="Ministry of Education and Training")]  # fmt: skip
    entries += [make(c, n, OrgKind.MINISTRY_UNIT, MINISTRY, name_en=en) for c, n, en in _UNITS]
    if with_bus:
        entries.append(make(BUS, "docbus - Hệ thống trao đổi văn bản", OrgKind.OTHER, MINISTRY,
                            name_en="docbus document exchange bus"))  # fmt: skip
    codes = {name: department_code(i) for i, name in enumerate(PROVINCES[:n_departments])}
    for i, (province, code) in enumerate(codes.items()):
        dept = make(code, f"Sở GD&ĐT {province}", OrgKind.DEPARTMENT, None, groups=[_region(i)],
                    name_en=f"{province} Department of Education and Training")  # fmt: skip
        if mergers_2025 and province in MERGERS_2025:
            closed = {"status": OrgStatus.CLOSED, "successor": codes[MERGERS_2025[province]]}
            dept = DirectoryEntry.model_validate(
                {**dept.model_dump(), **closed, "version": 2, "updated_at": MERGED}
            )
        entries.append(dept)
    if merged_pair:
        # Hà Tây merged into Hà Nội in 2008 (NQ 15/2008/QH12); its code stays, closed
        ha_tay = make(department_code(len(PROVINCES)), "Sở GD&ĐT Hà Tây", OrgKind.DEPARTMENT, None,
                      status=OrgStatus.CLOSED, successor=codes["Hà Nội"], groups=["mien-bac"])  # fmt: skip
        entries.append(ha_tay)
    for i in range(n_universities):
        name, slug = _university_name(i)
        entries.append(make(f"{MINISTRY}.U{i + 1:03d}", name, OrgKind.UNIVERSITY, MINISTRY, groups=[slug]))
    for i in range(n_colleges):
        college = f"Trường Cao đẳng Sư phạm {PROVINCES[i % len(PROVINCES)]}"
        code = f"{MINISTRY}.C{i + 1:03d}"
        entries.append(make(code, college, OrgKind.COLLEGE, MINISTRY, groups=["su-pham"]))
    return entries

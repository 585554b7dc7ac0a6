"""The sector directory generator: deterministic, consistent, realistic counts."""

from __future__ import annotations

from docbus.sector import MERGERS_2025, PROVINCES, build_sector
from schemas.directory import OrgKind, OrgStatus
from schemas.directory_store import DirectorySnapshot


def test_default_sector_shape(snapshot: DirectorySnapshot) -> None:
    kinds = [e.kind for e in snapshot.entries()]
    assert kinds.count(OrgKind.MINISTRY) == 1
    assert kinds.count(OrgKind.DEPARTMENT) == 64  # 63 active + the closed Hà Tây code
    assert kinds.count(OrgKind.UNIVERSITY) == 300
    hanoi = snapshot.entry("H01")
    assert hanoi is not None and hanoi.name == "Sở GD&ĐT Hà Nội" and hanoi.groups == ["mien-bac"]
    camau = snapshot.entry("H63")
    assert camau is not None and camau.name == "Sở GD&ĐT Cà Mau" and camau.groups == ["mien-nam"]
    uni = snapshot.entry("G03.U001")
    assert uni is not None and uni.name.startswith("Trường Đại học ") and uni.parent == "G03"


def test_deterministic_and_unique() -> None:
    a, b = build_sector(), build_sector()
    assert a == b
    assert len({e.code for e in a}) == len(a)
    assert len({e.name for e in build_sector(n_universities=1200) if e.kind is OrgKind.UNIVERSITY}) == 1200


def test_without_merged_pair_there_is_no_closed_code() -> None:
    entries = build_sector(10, 5, merged_pair=False)
    assert all(e.status is OrgStatus.ACTIVE for e in entries)
    assert len(DirectorySnapshot.build(entries).members("all-departments") or ()) == 10


def test_mergers_2025_leave_34_provinces() -> None:
    snap = DirectorySnapshot.build(build_sector(mergers_2025=True, n_colleges=20))
    assert len(MERGERS_2025) == 29 and len(PROVINCES) == 63
    assert len(snap.members("all-departments") or ()) == 34
    assert len(snap.members("all-colleges") or ()) == 20
    assert snap.resolve("H02") == "H05"  # Hà Giang -> Tuyên Quang
    hcm = snap.resolve("H47")  # Bình Dương -> TP. Hồ Chí Minh
    found = snap.entry(hcm or "")
    assert found is not None and found.name == "Sở GD&ĐT TP. Hồ Chí Minh"

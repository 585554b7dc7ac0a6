"""The demo's scenario and its counting, without a broker."""

from __future__ import annotations

from datetime import date

from docbus.demo.tally import DocumentTally, Rejection, Tally
from docbus.demo.traffic import REFUSALS, clerk_for, letters, refusers
from schemas.document import DocumentType
from schemas.receipt import StatusCode


def test_about_five_of_63_departments_refuse_each_with_a_reason() -> None:
    departments = [f"H{i:02d}" for i in range(1, 64)]
    refusing = refusers(departments)
    assert len(refusing) == 5
    assert set(refusing.values()) == set(REFUSALS)
    assert len(refusers(departments[:5])) == 1  # the test size still shows one refusal


def test_the_clerk_refuses_only_the_directive() -> None:
    all_letters = letters(4, date(2026, 9, 5))
    directive, dispatch = all_letters[0].draft, all_letters[1].draft
    assert directive.document_type is DocumentType.CHI_THI and directive.groups == ("all-departments",)
    assert dispatch.document_type is DocumentType.CONG_VAN
    clerk = clerk_for({"H07": "Thiếu phụ lục"})

    class Env:  # the clerk reads only the document type
        def __init__(self, kind: DocumentType) -> None:
            self.document = type("D", (), {"document_type": kind})()

    assert clerk("H07", Env(DocumentType.CHI_THI)) == (StatusCode.REJECTED, "Thiếu phụ lục")  # type: ignore[arg-type]
    assert clerk("H07", Env(DocumentType.CONG_VAN)) == (StatusCode.ACCEPTED, None)  # type: ignore[arg-type]
    assert clerk("H08", Env(DocumentType.CHI_THI)) == (StatusCode.ACCEPTED, None)  # type: ignore[arg-type]


def test_the_bad_letters_and_the_closed_code() -> None:
    all_letters = letters(4, date(2026, 9, 5))
    assert [x.bad for x in all_letters[-2:]] == ["revoked", "tampered"]
    assert "H64" in all_letters[4].draft.recipients
    assert all_letters[0].document_id(date(2026, 9, 5)) == "G03,2026/09/05,12/CT-BGDĐT"


def test_a_document_is_complete_only_with_every_delivery_and_answer() -> None:
    tally = Tally()
    tally.documents["d"] = DocumentTally("directive", "m", "d", "G03", ("H01", "H02"), notice="01")
    tally.rejections["r"] = Rejection("report", "m2", "H03", "tampered")
    for org in ("H01", "H02"):
        tally.delivered("d", org)
        tally.receipt("d", org, "01", "")
    tally.receipt("d", "H01", "03", "")
    tally.receipt("d", "H09", "03", "")  # not addressed: not counted
    assert not tally.complete and tally.waiting_for() == 2  # H02's answer, the bus's notice for r
    tally.receipt("d", "H02", "02", "Sai thẩm quyền")
    tally.rejections["r"].notice = "02 DIGEST_MISMATCH: ..."
    assert tally.complete and not tally.quarantined
    tally.delivered("d", "H01")  # a second copy
    counted = tally.documents["d"].as_json()
    assert counted["delivered"] == 2 and counted["copies"] == 3 and counted["duplicates"] == 1
    assert counted["refusals"] == {"H02": "Sai thẩm quyền"} and counted["accepted_03"] == 1

"""Text in the contract (schemas/text.py): NFC only; controls, bidi and zero-width characters refused
where they hide or reorder what a clerk reads; stored file names made safe."""

from __future__ import annotations

import unicodedata

import pytest
from pydantic import BaseModel

from schemas.errors import ContractError
from schemas.payload import Payload
from schemas.reasons import Reason
from schemas.text import check_text, safe_file_name


class Doc(BaseModel):
    code_number: str = "15"
    subject: str = "V/v phối hợp"
    file_name: str = "cong-van.pdf"
    places: list[str] = []


def refused(reason: Reason, **fields: object) -> str:
    with pytest.raises(ContractError) as caught:
        check_text(Doc.model_validate(fields))
    assert caught.value.reason is reason, caught.value.detail
    return caught.value.detail


def test_nfc_text_and_ordinary_punctuation_pass() -> None:
    check_text(Doc(subject="Về việc: tăng cường\tcông tác\r\nphòng, chống (2025)", places=["Hà Nội"]))


def test_a_decomposed_spelling_is_refused() -> None:
    nfd = unicodedata.normalize("NFD", "Bộ Giáo dục và Đào tạo")
    assert "subject" in refused(Reason.TEXT_NOT_NFC, subject=nfd)
    assert "places[0]" in refused(Reason.TEXT_NOT_NFC, places=["ok", nfd][1:])


@pytest.mark.parametrize(
    ("field", "value"),
    [("file_name", "cv\u202efdp.exe"), ("subject", "a\x00b"), ("subject", "x\u2067y"),
     ("code_number", "1\u200b5"), ("code_number", "15\ufeff"),
     ("file_name", "a\u00adb.pdf"), ("code_number", "1\u20285")],
)  # fmt: skip
def test_hidden_and_reordering_characters_are_refused(field: str, value: str) -> None:
    assert field in refused(Reason.FORBIDDEN_CHARACTER, **{field: value})


def test_a_zero_width_joiner_may_stand_in_free_text_but_not_in_a_number() -> None:
    check_text(Doc(subject="emoji \u200d text"))
    refused(Reason.FORBIDDEN_CHARACTER, code_number="1\u200d5")


def test_stored_file_names_are_safe_to_show_and_write() -> None:
    assert safe_file_name("cv\u202efdp.exe") == "cv_fdp.exe"
    assert safe_file_name("..hidden") == "hidden" and safe_file_name("a/b\\c\x00") == "a_b_c_"
    assert safe_file_name(unicodedata.normalize("NFD", "công văn.pdf")) == "công văn.pdf"


def test_a_payload_built_from_a_decomposed_file_name_is_nfc() -> None:
    p = Payload.of(unicodedata.normalize("NFD", "quyết định.pdf"), "application/pdf", b"%PDF")
    assert p.file_name == "quyết định.pdf" and unicodedata.is_normalized("NFC", p.file_name)

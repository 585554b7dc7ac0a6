"""schemas/text.py decides the common case (every string passes) with a few C calls over all strings
at once; the string-by-string walk stays the rule. The shortcut may only ever say "passes" where the
walk finds nothing: checked for every code point, and for random models and envelopes."""

from __future__ import annotations

import sys
import unicodedata
from enum import StrEnum

from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from schemas import text
from schemas.errors import ContractError
from schemas.text import check_text, forbidden_in
from tests.schemas.strategies import envelopes

# characters each rule cares about, so random strings hit them often
_TRICKY = (
    "\t\n\r\x00\x0b\x1f\x7f\x85\xa0\xad\u0301\u0323\u180e"
    "\u200b\u200d\u2028\u2029\u202e\u2067\u3000\ufeff\ud800\ue000"
)
_CHARS = st.one_of(st.characters(), st.sampled_from(_TRICKY), st.sampled_from("aĐệ ,/-"))
_ANY = st.text(_CHARS, max_size=12)
# text that breaks at most the NFC rule (a decomposed spelling), so a model has no other refusal
_PLAIN = st.text(st.sampled_from("aĐệễ Hà Nội,/-0"), max_size=8)
_PLAIN_OR_NFD = st.one_of(_PLAIN, _PLAIN.map(lambda t: unicodedata.normalize("NFD", t)))
# characters free text may hold and names may not
_PLAIN_OR_HIDDEN = st.one_of(
    _PLAIN,
    _PLAIN,
    _PLAIN,
    _PLAIN,
    st.tuples(_PLAIN, st.sampled_from("\t\n\xa0\xad\u200b\u2028\ufeff")).map("".join),
)


def test_a_printable_character_is_allowed_in_names_and_everywhere() -> None:
    # the shortcut's identifier test, one code point at a time (both tests are per character, so
    # this holds for any string, and for the strings joined)
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        if ch.isprintable():
            assert forbidden_in(ch, identifier=True) is None, f"U+{cp:04X}"
            assert forbidden_in(ch, identifier=False) is None, f"U+{cp:04X}"


def test_ascii_is_nfc() -> None:
    assert unicodedata.is_normalized("NFC", "".join(map(chr, range(128))))


class Kind(StrEnum):
    PLAIN = "plain"
    ODD = "o\u202edd"  # an enum value is a string too


class Part(BaseModel):
    code: str  # an identifier field
    subject: str
    kind: Kind = Kind.PLAIN
    blobs: list[bytes] = []


class Doc(BaseModel):
    code_number: str
    file_name: str
    subject: str
    places: list[str]
    recipients: tuple[str, ...]
    part: Part
    parts: list[Part]
    nested: list[list[str]]
    size: int = 0
    note: str | None = None


def _docs(texts: st.SearchStrategy[str]) -> st.SearchStrategy[Doc]:
    parts = st.builds(
        Part, code=texts, subject=texts, kind=st.sampled_from(Kind), blobs=st.lists(st.binary(max_size=4))
    )
    return st.builds(
        Doc,
        code_number=texts,
        file_name=texts,
        subject=texts,
        places=st.lists(texts, max_size=3),
        recipients=st.lists(texts, max_size=3).map(tuple),
        part=parts,
        parts=st.lists(parts, max_size=2),
        nested=st.lists(st.lists(texts, max_size=2), max_size=2),
        note=st.none() | texts,
    )


docs = st.one_of(_docs(_ANY), _docs(_PLAIN_OR_NFD), _docs(_PLAIN_OR_HIDDEN), _docs(st.one_of(_PLAIN, _ANY)))


def _outcome(check: object, model: BaseModel) -> tuple[str, str] | None:
    try:
        check(model)  # type: ignore[operator]
    except ContractError as exc:
        return exc.reason.value, exc.detail
    return None


def _same_as_the_walk(model: BaseModel) -> None:
    walked = _outcome(text._refuse_first, model)
    if text._passes(model):
        assert walked is None
    if text._printable_nfc([found for _, _, found in text._strings(model, "")]):
        assert walked is None
    assert _outcome(check_text, model) == walked


@given(docs)
def test_the_shortcut_agrees_with_the_walk_on_random_models(doc: Doc) -> None:
    _same_as_the_walk(doc)


@given(envelopes())
def test_the_shortcut_agrees_with_the_walk_on_random_envelopes(env: BaseModel) -> None:
    _same_as_the_walk(env)


def test_the_shortcut_sends_every_refusal_to_the_walk() -> None:
    base = {"code_number": "15", "file_name": "a.pdf", "subject": "Về việc", "places": [], "recipients": (),
            "part": Part(code="H01", subject="x"), "parts": [], "nested": []}  # fmt: skip
    clean = Doc.model_validate(base)
    assert text._passes(clean) and _outcome(check_text, clean) is None
    for update in ({"subject": "a\x00b"}, {"nested": [["ok"], ["x\u202ey"]]}, {"recipients": ("H\u200b01",)},
                   {"code_number": "1\u200b5"},
                   {"parts": [Part(code="H01", subject=unicodedata.normalize("NFD", "Việt"))]},
                   {"part": Part(code="H01", subject="x", kind=Kind.ODD)}, {"note": "e\u0301"}):  # fmt: skip
        doc = clean.model_copy(update=update)
        assert not text._passes(doc)
        assert _outcome(check_text, doc) is not None and _outcome(check_text, doc) == _outcome(
            text._refuse_first, doc
        )


# characters NFC composes, reorders or replaces, and starters they compose with
_NFC_MARKS = "\u0300\u0301\u0302\u0303\u0306\u0309\u031b\u0323\u0338"  # Vietnamese tones, a slash
_NFC_TRICKY = "aeAEoOuU" + _NFC_MARKS + "\u212b\u2126\u1100\u1161\u11a8\uac00\n"  # singletons, Hangul
_NFC_TEXT = st.text(st.one_of(st.characters(), st.sampled_from(_NFC_TRICKY)), max_size=6)


@given(st.lists(_NFC_TEXT, max_size=6))
def test_strings_joined_by_line_feeds_are_nfc_exactly_when_each_is(parts: list[str]) -> None:
    # the shortcut's NFC test: one call over the strings joined by "\n"
    each = all(unicodedata.is_normalized("NFC", p) for p in parts)
    assert unicodedata.is_normalized("NFC", "\n".join(parts)) == each


def test_a_combining_mark_after_a_line_feed_composes_with_nothing() -> None:
    # a string may start with a mark that would compose with the end of the one before it
    parts = ["e", "\u0301x"]
    assert all(unicodedata.is_normalized("NFC", p) for p in parts)
    assert not unicodedata.is_normalized("NFC", "".join(parts))  # why the strings are not simply joined
    assert unicodedata.is_normalized("NFC", "\n".join(parts))


@given(st.lists(_NFC_TEXT, max_size=6))
def test_strings_joined_by_spaces_are_nfc_exactly_when_each_is(parts: list[str]) -> None:
    # the test over strings a caller lists (schemas.canonical.envelope_strings): one call over them
    # joined by " ", which is printable, so one ``isprintable`` call covers them too
    each = all(unicodedata.is_normalized("NFC", p) for p in parts)
    assert unicodedata.is_normalized("NFC", " ".join(parts)) == each


def test_a_space_composes_with_nothing() -> None:
    # a starter that no canonical decomposition holds is never part of a composition, on either side,
    # and blocks reordering and composition across it: NFC is decided piecewise at a space
    assert unicodedata.combining(" ") == 0 and unicodedata.decomposition(" ") == ""
    for cp in range(sys.maxunicode + 1):
        mapping = unicodedata.decomposition(chr(cp))
        if mapping and not mapping.startswith("<"):  # canonical, not compatibility
            assert "0020" not in mapping.split(), f"U+{cp:04X}"
    parts = ["e", "\u0301x"]
    assert not unicodedata.is_normalized("NFC", "".join(parts))
    assert unicodedata.is_normalized("NFC", " ".join(parts))

"""DirectoryEntry: field rules, codec round trip, signing input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import decode, encode
from schemas.directory import (
    DIRECTORY_ENTRY_CONTEXT,
    DirectoryEntry,
    OrgKind,
    OrgStatus,
    directory_entry_signing_input,
)
from schemas.errors import ContractError
from schemas.reasons import Reason
from tests.routing.conftest import WHEN, entry

codes = st.from_regex(r"[A-Z][0-9]{2}(\.[0-9A-Z]{1,4}){0,3}", fullmatch=True)
names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=40)
lists = st.lists(st.from_regex(r"[a-z0-9][a-z0-9._-]{0,10}", fullmatch=True), unique=True, max_size=4)
fingerprints = st.lists(st.binary(min_size=32, max_size=32).map(bytes.hex), unique=True, max_size=3)


@st.composite
def entries(draw: st.DrawFn) -> DirectoryEntry:
    code = draw(codes)
    closed = draw(st.booleans())
    successor = draw(codes.filter(lambda c: c != code)) if closed else None
    parent = draw(st.none() | codes.filter(lambda c: c != code))
    return entry(
        code,
        draw(st.sampled_from(OrgKind)),
        name=draw(names),
        name_en=draw(st.none() | names),
        parent=parent,
        groups=draw(lists),
        status=OrgStatus.CLOSED if closed else OrgStatus.ACTIVE,
        successor=successor,
        cert_fingerprints=draw(fingerprints),
        version=draw(st.integers(1, 2**63 - 1)),
        updated_at=draw(st.datetimes(timezones=st.just(WHEN.tzinfo))),
    )


@settings(max_examples=150, deadline=None)
@given(entries())
def test_codec_round_trip_keeps_entry_and_signing_input(e: DirectoryEntry) -> None:
    back = decode(encode(e), DirectoryEntry)
    assert back == e
    assert directory_entry_signing_input(back) == directory_entry_signing_input(e)


def test_sector_entries_round_trip(sector: list[DirectoryEntry]) -> None:
    assert [decode(encode(e), DirectoryEntry) for e in sector] == sector


def test_signing_input_layout_is_fixed() -> None:
    e = entry("G03.15", OrgKind.MINISTRY_UNIT, name="Văn phòng", parent="G03", version=2)
    raw = directory_entry_signing_input(e)
    assert raw.startswith(DIRECTORY_ENTRY_CONTEXT + b"\x00\x00\x00\x06G03.15")
    assert b"\x00\x00\x00\x0bV\xc4\x83n ph\xc3\xb2ng" in raw  # name, UTF-8, length-prefixed
    assert raw.endswith((2).to_bytes(8, "big") + (1751358600000).to_bytes(8, "big"))  # version, ms


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Văn phòng Bộ"},
        {"name_en": "Office"},
        {"kind": OrgKind.OTHER},
        {"parent": "G03"},
        {"groups": ["a"]},
        {"status": OrgStatus.CLOSED, "successor": "G03.16"},
        {"cert_fingerprints": ["0" * 64]},
        {"version": 2},
        {"updated_at": WHEN.replace(second=1)},
    ],
)
def test_signing_input_covers_every_field(change: dict[str, Any]) -> None:
    base = entry("G03.15", kind=OrgKind.MINISTRY_UNIT)
    changed = entry("G03.15", **({"kind": OrgKind.MINISTRY_UNIT} | change))
    assert directory_entry_signing_input(changed) != directory_entry_signing_input(base)


def test_optional_absent_and_empty_differ() -> None:
    # a length-prefixed optional keeps "no English name" apart from any present value
    a = directory_entry_signing_input(entry("G03.15"))
    b = directory_entry_signing_input(entry("G03.15", name_en=""))
    assert a != b


@pytest.mark.parametrize(
    "fields",
    [
        {"code": "000.00.15.G03"},  # edXML form: the directory spells codes dotted
        {"code": "g03"},
        {"status": OrgStatus.CLOSED},  # closed without successor
        {"successor": "G03.16"},  # successor on an active code
        {"status": OrgStatus.CLOSED, "successor": "G03.15"},  # its own successor
        {"parent": "G03.15"},
        {"groups": ["List"]},
        {"groups": ["a", "a"]},
        {"cert_fingerprints": ["AB" * 32]},
        {"version": 0},
    ],
)
def test_invalid_entries_are_refused(fields: dict[str, object]) -> None:
    raw = entry("G03.15").model_dump() | fields
    with pytest.raises(ValueError):
        DirectoryEntry.model_validate(raw)


def test_decoding_an_invalid_entry_is_a_contract_error() -> None:
    good = entry("G03.15")
    bad = good.model_construct(**(good.model_dump() | {"status": OrgStatus.CLOSED}))
    with pytest.raises(ContractError) as info:
        decode(encode(bad), DirectoryEntry)
    assert info.value.reason is Reason.INVALID_FIELD

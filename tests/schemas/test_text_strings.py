"""schemas.canonical.envelope_strings lists the strings of an envelope for the text rule, which then
does not walk the model: it must list every string the walk finds, so that no string field of an
envelope goes unchecked. Checked against the walk on random envelopes, and field by field on an
envelope that fills every string field its models declare (a field added to a model and not listed
fails here)."""

from __future__ import annotations

import hashlib
import types
import typing
import unicodedata
from collections import Counter
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given
from pydantic import BaseModel

from schemas import text
from schemas.blob import BlobRef, ChunkRef, DocumentKeys, KeyWrap, SealedBlob
from schemas.blob_crypto import WRAPPED_BYTES
from schemas.canonical import envelope_strings
from schemas.document import format_document_id
from schemas.edxml import EdxmlAttachment, EdxmlBusiness, EdxmlDetails, EdxmlOrgan, EdxmlStaff
from schemas.envelope import Envelope, check_envelope
from schemas.errors import ContractError
from schemas.header import TraceHop
from schemas.payload import Payload
from schemas.reasons import Reason
from schemas.signature import Signature, SignerRole
from schemas.text import IDENTIFIER_FIELDS
from tests.schemas.samples import CREATED, sample_envelope
from tests.schemas.strategies import envelopes

Path = tuple[tuple[str, int | None], ...]  # (field, index in its list or None) from the envelope down


def _leaves(value: object, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every string in ``value``, with where it stands: read from the model's declared fields."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, BaseModel):
        for field in type(value).model_fields:
            yield from _leaves(getattr(value, field), (*path, (field, None)))
    elif isinstance(value, (list, tuple)):
        field = path[-1][0]
        for i, item in enumerate(value):
            yield from _leaves(item, (*path[:-1], (field, i)))


def _declared(annotation: Any, prefix: str = "") -> Iterator[str]:
    """The dotted name of every field the models under ``annotation`` declare that may hold a string."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _declared(typing.get_args(annotation)[0], prefix)
    elif origin in (list, tuple, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _declared(arg, prefix)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            yield from _declared(field.annotation, f"{prefix}.{name}" if prefix else name)
    elif isinstance(annotation, type) and issubclass(annotation, str):
        yield prefix


def _dotted(path: Path) -> str:
    return ".".join(field for field, _ in path)


def _shown(path: Path) -> str:
    """The path as the walk names it in a refusal: ``document.places[1]``."""
    return ".".join(field if i is None else f"{field}[{i}]" for field, i in path)


def _with(model: BaseModel, path: Path, new: str) -> Any:
    """``model`` with the string at ``path`` replaced by ``new`` (no validation: the rule judges it)."""
    (field, index), rest = path[0], path[1:]
    value = getattr(model, field)
    if index is None:
        replaced = _with(value, rest, new) if rest else new
    else:
        items = list(value)
        items[index] = _with(items[index], rest, new) if rest else new
        replaced = type(value)(items)
    return model.model_copy(update={field: replaced})


def _full() -> Envelope:
    """An envelope with every optional part present and something in every string field."""
    wrapped = bytes(range(WRAPPED_BYTES))
    sealed = BlobRef(
        chunk_size=4096,
        partition=0,
        chunks=[ChunkRef(sha256=bytes(32), offset=7)],
        sealed=SealedBlob(id=hashlib.sha256(b"k").digest(), key=wrapped),
    )
    base = sample_envelope()
    header = base.document.model_copy(
        update={"response_for": format_document_id("H41", base.document.promulgation_date, "9", "SGD-VP")}
    )
    organ = EdxmlOrgan(code="H41", name="Sở GD&ĐT", in_charge="UBND", address="Số 1", email="a@b.vn",
                       phone="024", website="https://x.vn", fax="025")  # fmt: skip
    staff = EdxmlStaff(department="Văn phòng", staff="Văn thư", email="vt@b.vn", mobile="09")
    details = EdxmlDetails(
        sender_fax="024 1",
        to=[organ],
        content="Nội dung",
        type_code="1",
        type_detail="2",
        type_name="Công văn",
        competence_text="KT. BỘ TRƯỞNG",
        sphere="Toàn quốc",
        typer_notation="NVA",
        appendixes=["Phụ lục"],
        business=EdxmlBusiness(document_id=base.document.document_id, reason="mới", staff=staff),
        attachments=[
            EdxmlAttachment(content_id="cid:1", description="văn bản"),
            EdxmlAttachment(content_id="cid:2", description="phụ lục"),
        ],
    )
    payload = Payload(file_name="lon.pdf", content_type="application/pdf", size=4096, sha256=bytes(32),
                      data=b"", blob=sealed)  # fmt: skip
    signatures = [
        Signature(
            role=role, algorithm="Ed25519", chain=[b"der"], signing_time=CREATED, value=b"v", ocsp=[b"o"]
        )
        for role in (SignerRole.OFFICIAL, SignerRole.ORGANIZATION)
    ]
    keys = DocumentKeys(
        ephemeral=bytes(65),
        wraps=[KeyWrap(recipient=code, certificate=bytes(32), key=wrapped) for code in ("H41", "H29")],
    )
    return sample_envelope(
        document=header,
        channel="eoffice",
        trace=[TraceHop(org_code="G03.15", at=CREATED), TraceHop(org_code="G03", at=CREATED)],
        payload=payload,
        edxml=details,
        keys=keys,
        signatures=signatures,
    )


FULL = _full()
LEAVES = list(_leaves(FULL))


def _refusal(env: Envelope, check: Any = check_envelope) -> tuple[Reason, str] | None:
    try:
        check(env)
    except ContractError as exc:
        return exc.reason, exc.detail
    return None


def _text_rule(env: Envelope) -> None:
    text.check_text(env, envelope_strings(env))  # what check_envelope runs


def test_the_full_envelope_fills_every_string_field_its_models_declare() -> None:
    assert set(_declared(Envelope)) == {_dotted(path) for path, _ in LEAVES}
    assert _refusal(FULL) is None


@given(envelopes())
def test_the_listed_strings_are_the_strings_the_walk_checks(env: Envelope) -> None:
    walked = Counter(found for _, _, found in text._strings(env, ""))
    assert Counter(envelope_strings(env)) == walked


def test_the_listed_strings_of_the_full_envelope_are_every_string_in_it() -> None:
    assert Counter(envelope_strings(FULL)) == Counter(found for _, found in LEAVES)
    assert Counter(envelope_strings(FULL)) == Counter(found for _, _, found in text._strings(FULL, ""))


@pytest.mark.parametrize("path", [path for path, _ in LEAVES], ids=_shown)
def test_a_refused_character_in_any_string_field_is_refused(path: Path) -> None:
    value = dict(LEAVES)[path]
    where = _shown(path)
    # a value of a closed set (a string enum) cannot be changed for the contract's other checks
    check = _text_rule if isinstance(value, StrEnum) else check_envelope
    hidden = _with(FULL, path, value + "\u202e")  # a bidi override: refused in all text
    assert not text._printable_nfc(envelope_strings(hidden))
    bidi = f"{where}: U+202E RIGHT-TO-LEFT OVERRIDE is not allowed"
    assert _refusal(hidden, check) == (Reason.FORBIDDEN_CHARACTER, bidi)
    decomposed = _with(FULL, path, value + unicodedata.normalize("NFD", "ệ"))
    assert not text._printable_nfc(envelope_strings(decomposed))
    nfd = f"{where}: not in Unicode NFC (normalise before signing)"
    assert _refusal(decomposed, check) == (Reason.TEXT_NOT_NFC, nfd)
    # a zero-width space: refused in names (codes, ids, file names...), allowed in free text
    joined = _with(FULL, path, value + "\u200b")
    assert not text._printable_nfc(envelope_strings(joined))
    refused = (Reason.FORBIDDEN_CHARACTER, f"{where}: U+200B ZERO WIDTH SPACE is not allowed")
    assert _refusal(joined, check) == (refused if path[-1][0] in IDENTIFIER_FIELDS else None)

"""Text in the contract: NFC only, and no invisible or reordering characters where names are read.

The signing input carries strings as UTF-8, without normalisation (schemas/canonical.py), so one
document id spelled in NFC and in NFD would be two documents and two signing inputs: every string
of an envelope or receipt must already be NFC (``TEXT_NOT_NFC``). Characters that hide or reorder
what a clerk reads are refused (``FORBIDDEN_CHARACTER``):

* everywhere: C0/C1 controls but tab, line feed and carriage return (NUL included), and the bidi
  embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069: ``cv\\u202efdp.exe`` shows as
  ``cvexe.pdf``);
* in identifiers — codes, numbers, document ids, file names, content types, message ids — also
  every other control or format character (zero-width space, joiners, marks, BOM, soft hyphen),
  line and paragraph separators and any whitespace but the plain space.

Pure: :func:`check_text` walks a model's fields and raises ContractError naming the field; given
the model's strings as its caller lists them (schemas.canonical.envelope_strings), it decides the
usual case from them without walking the model.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence

from pydantic import BaseModel

from schemas.errors import ContractError
from schemas.reasons import Reason

__all__ = ["IDENTIFIER_FIELDS", "check_text", "forbidden_in", "nfc", "safe_file_name"]

# refused in all text (a regex: free text may be long, this runs for every envelope on the bus)
_ANYWHERE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NOT_IN_NAMES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs"})  # controls, format (zero-width), separators
# the fields read as names: a hidden character there makes two names look like one
IDENTIFIER_FIELDS = frozenset({
    "message_id", "envelope_id", "code", "org_code", "from_org", "to_org", "recipients", "groups",
    "document_id", "code_number", "code_notation", "response_for", "file_name", "content_type",
    "content_id",
})  # fmt: skip


def nfc(text: str) -> str:
    """``text`` in NFC: what a node makes of what a clerk typed before it signs."""
    return unicodedata.normalize("NFC", text)


def forbidden_in(text: str, *, identifier: bool) -> str | None:
    """The first character ``text`` may not hold, or None."""
    found = _ANYWHERE.search(text)
    if found is not None:
        return found[0]
    if identifier:
        for ch in text:
            if unicodedata.category(ch) in _NOT_IN_NAMES or (ch.isspace() and ch != " "):
                return ch
    return None


def safe_file_name(name: str) -> str:
    """``name`` as a recipient may write it to disk: NFC, every character refused in identifiers
    (bidi, controls, zero-width...) and path separators replaced by ``_``, no leading dot."""
    cleaned = "".join(
        "_" if ch in "/\\" or forbidden_in(ch, identifier=True) is not None else ch for ch in nfc(name)
    )
    cleaned = cleaned.lstrip(". ") or "_"
    return cleaned[:255]


def check_text(model: BaseModel, strings: Sequence[str] | None = None) -> None:
    """ContractError(TEXT_NOT_NFC / FORBIDDEN_CHARACTER) for the first string of ``model`` (nested
    models and lists included) that is not NFC or holds a character refused there.

    ``strings``: every string of ``model``, listed by a caller that knows its fields (for an
    envelope schemas.canonical.envelope_strings, which tests/schemas/test_text_strings.py holds to
    the walk); when they are all printable and NFC the model is not walked."""
    if strings is not None and _printable_nfc(strings):
        return
    if not _passes(model):  # the common case is decided in a few C calls over all strings at once
        _refuse_first(model)


def _refuse_first(model: BaseModel) -> None:
    """The rule, string by string: the error names the first string that breaks it."""
    for path, name, text in _strings(model, ""):
        if not unicodedata.is_normalized("NFC", text):
            raise ContractError(Reason.TEXT_NOT_NFC, f"{path}: not in Unicode NFC (normalise before signing)")
        bad = forbidden_in(text, identifier=name in IDENTIFIER_FIELDS)
        if bad is not None:
            what = unicodedata.name(bad, "unnamed")
            raise ContractError(Reason.FORBIDDEN_CHARACTER, f"{path}: U+{ord(bad):04X} {what} is not allowed")


def _printable_nfc(strings: Sequence[str]) -> bool:
    """True only when every string is printable and NFC, which passes both rules (False: the
    other tests decide). Joined by spaces: ``isprintable`` is a property of each character, and a
    space is a starter that composes with nothing, so the joined text is NFC exactly when each
    string is (tests/schemas/test_text_fast.py, every code point and Hypothesis)."""
    try:
        joined = " ".join(strings)
    except TypeError:  # a value that is no string: the walk decides
        return False
    return joined.isprintable() and (joined.isascii() or unicodedata.is_normalized("NFC", joined))


def _passes(model: BaseModel) -> bool:
    """True only when :func:`_refuse_first` finds nothing (False: the walk decides). Each test is a
    property of every character, so it holds for the strings joined as for each one:
    ``isprintable`` is false for every category refused in identifiers (Cc, Cf, Zl, Zp, Co, Cs) and
    for every whitespace but the space, which covers ``_ANYWHERE`` too; ASCII is NFC; strings joined
    by line feeds are NFC exactly when each is.
    tests/schemas/test_text_fast.py checks this for every code point and random models."""
    names: list[str] = []
    free: list[str] = []
    if not _collect(model, names, free):
        return False
    joined_names, joined_free = "".join(names), "".join(free)
    if not joined_names.isprintable() or _ANYWHERE.search(joined_free) is not None:
        return False
    # NFC is decided piecewise at a line feed (a starter that composes with nothing), so the strings
    # joined by one are NFC exactly when each of them is: one C call (tests/schemas/test_text_fast.py)
    return all(
        joined.isascii() or unicodedata.is_normalized("NFC", "\n".join(texts))
        for joined, texts in ((joined_names, names), (joined_free, free))
    )


_FIELDS: dict[type[BaseModel], tuple[tuple[str, bool], ...]] = {}


def _fields(cls: type[BaseModel]) -> tuple[tuple[str, bool], ...]:
    """``cls``'s field names, each with whether it is read as a name (IDENTIFIER_FIELDS)."""
    held = _FIELDS.get(cls)
    if held is None:
        held = _FIELDS[cls] = tuple((f, f in IDENTIFIER_FIELDS) for f in cls.model_fields)
    return held


def _collect(model: BaseModel, names: list[str], free: list[str]) -> bool:
    """Every string :func:`_strings` yields, into ``names`` (identifier fields) or ``free``; False
    for a model missing a field (only an unvalidated one can: the walk then decides)."""
    values = model.__dict__  # a pydantic model's field values; getattr is slower
    try:
        for field, identifier in _fields(type(model)):
            value = values[field]
            kind = _KINDS.get(type(value)) or _kind(type(value))
            if kind is _OTHER:  # most fields: numbers, bytes, times, None
                continue
            if kind is _STR:
                (names if identifier else free).append(value)
            elif kind is _MODEL:
                if not _collect(value, names, free):
                    return False
            elif not _items(value, names if identifier else free, names, free):  # a list or tuple
                return False
    except KeyError:  # a field missing
        return False
    return True


def _items(
    items: list[object] | tuple[object, ...], into: list[str], names: list[str], free: list[str]
) -> bool:
    for value in items:
        kind = _KINDS.get(type(value)) or _kind(type(value))
        if kind is _STR:
            into.append(value)  # type: ignore[arg-type]
        elif kind is _MODEL:
            if not _collect(value, names, free):  # type: ignore[arg-type]
                return False
        elif kind is _SEQUENCE and not _items(value, into, names, free):  # type: ignore[arg-type]
            return False
    return True


# what :func:`_strings` does with a value of each type, looked up once per type (isinstance of a
# pydantic model goes through ABCMeta, the slowest step of a walk)
_STR, _MODEL, _SEQUENCE, _OTHER = "str", "model", "sequence", "other"
_KINDS: dict[type, str] = {}


def _kind(cls: type) -> str:
    kind = (
        _STR if issubclass(cls, str)
        else _MODEL if issubclass(cls, BaseModel)
        else _SEQUENCE if issubclass(cls, (list, tuple))
        else _OTHER
    )  # fmt: skip
    _KINDS[cls] = kind
    return kind


def _strings(value: object, path: str, name: str = "") -> Iterator[tuple[str, str, str]]:
    if isinstance(value, str):
        yield path, name, value
    elif isinstance(value, BaseModel):
        for field in type(value).model_fields:
            yield from _strings(getattr(value, field), f"{path}.{field}" if path else field, field)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]", name)

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

Pure: :func:`check_text` walks a model's fields and raises ContractError naming the field.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

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


def check_text(model: BaseModel) -> None:
    """ContractError(TEXT_NOT_NFC / FORBIDDEN_CHARACTER) for the first string of ``model`` (nested
    models and lists included) that is not NFC or holds a character refused there."""
    for path, name, text in _strings(model, ""):
        if not unicodedata.is_normalized("NFC", text):
            raise ContractError(Reason.TEXT_NOT_NFC, f"{path}: not in Unicode NFC (normalise before signing)")
        bad = forbidden_in(text, identifier=name in IDENTIFIER_FIELDS)
        if bad is not None:
            what = unicodedata.name(bad, "unnamed")
            raise ContractError(Reason.FORBIDDEN_CHARACTER, f"{path}: U+{ord(bad):04X} {what} is not allowed")


def _strings(value: object, path: str, name: str = "") -> Iterator[tuple[str, str, str]]:
    if isinstance(value, str):
        yield path, name, value
    elif isinstance(value, BaseModel):
        for field in type(value).model_fields:
            yield from _strings(getattr(value, field), f"{path}.{field}" if path else field, field)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]", name)

"""Organisation codes (mã định danh): the QĐ 20/2020 dotted form and the older edXML form.

Decision (docs/ENVELOPE.md, "Organisation codes"): both forms are valid on the wire and are signed
exactly as written. For comparison and directory look-up, :func:`canonical_org_code` maps the
edXML form to the dotted form:

* dotted (QĐ 20/2020/QĐ-TTg): at most 35 characters from ``0-9 A-Z .``, non-empty levels, top
  level first — ``G03``, ``G03.15``, ``G03.15.02``;
* edXML (QCVN 102:2016): exactly ``NNN.NN.NN.XNN``, lowest level first, ``00``/``000`` meaning
  "no such level" — ``000.00.00.G03`` is ``G03``, ``000.00.15.G03`` is ``G03.15``,
  ``001.02.15.G03`` is ``G03.15.02.001``.

A 13-character string of the edXML shape is always read as edXML. An edXML code with an empty
level above a non-empty one (``000.02.00.G03``) has no dotted equivalent and is invalid.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["MAX_ORG_CODE_LEN", "canonical_org_code", "is_edxml_form", "validate_org_code"]

MAX_ORG_CODE_LEN = 35
_DOTTED = re.compile(r"[0-9A-Z]+(?:\.[0-9A-Z]+)*")
_EDXML = re.compile(r"([0-9]{3})\.([0-9]{2})\.([0-9]{2})\.([A-Z][0-9]{2})")


def is_edxml_form(code: str) -> bool:
    return _EDXML.fullmatch(code) is not None


@lru_cache(maxsize=8192)
def canonical_org_code(code: str) -> str:
    """The dotted form of a valid code (edXML form mapped, dotted form unchanged).

    Raises ValueError for an invalid code (pydantic turns it into a field error)."""
    if len(code) > MAX_ORG_CODE_LEN or _DOTTED.fullmatch(code) is None:
        raise ValueError(f"org code {code!r}: not 1-35 chars of 0-9 A-Z in non-empty dot-separated levels")
    m = _EDXML.fullmatch(code)
    if m is None:
        return code
    level4, level3, level2, level1 = m.groups()
    levels = [level1]
    for lower in (level2, level3, level4):
        if int(lower) == 0:
            levels.append("")
        else:
            levels.append(lower)
    while levels[-1] == "":
        levels.pop()
    if "" in levels:
        raise ValueError(f"org code {code!r}: an empty edXML level above a non-empty one")
    return ".".join(levels)


def validate_org_code(code: str) -> str:
    """Return ``code`` unchanged if valid in either form; ValueError otherwise."""
    canonical_org_code(code)
    return code

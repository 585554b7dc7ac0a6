"""Hardened XML for edXML packages: refused before any tree is built when unsafe.

Two passes over at most ``max_package_bytes``: defusedxml's expat parser refuses any entity
declaration or external reference (XML_ENTITY_REFUSED) before anything is expanded, then any
DOCTYPE at all (XML_DTD_REFUSED), and counts the nesting depth (stopping at the limit);
only then lxml builds the tree signxml needs, with entity resolution, network, DTD loading and
huge trees all off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from defusedxml import DefusedXmlException, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser
from lxml import etree

from producers.edxml.errors import EdxmlError
from schemas.reasons import Reason

__all__ = ["DS", "NS", "PackageLimits", "parse_xml", "q"]

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DS = "http://www.w3.org/2000/09/xmldsig#"


def q(name: str, ns: str = NS) -> str:
    return f"{{{ns}}}{name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageLimits:
    """Ceilings on an untrusted package, checked before its content is read."""

    max_package_bytes: int = (
        4 * 1024 * 1024
    )  # base64 attachments: ~3 MiB of files, above the envelope's 1 MiB
    max_depth: int = 32  # the edXML layout nests 7 deep; signatures add a few


class _Depth:
    """An expat target that only counts nesting, and stops the parse at the limit."""

    def __init__(self, limit: int) -> None:
        self.limit, self.depth = limit, 0

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        if self.depth > self.limit:
            raise EdxmlError(Reason.XML_TOO_DEEP, f"elements nested deeper than {self.limit}")

    def end(self, tag: str) -> None:
        self.depth -= 1

    def data(self, data: str) -> None:
        pass

    def close(self) -> None:
        pass


def _refuse_doctype(name: str | None, *_: object) -> None:
    # at the end of the DOCTYPE, after expat has reported any entity declaration in it
    raise EdxmlError(Reason.XML_DTD_REFUSED, f"DOCTYPE {name!r} refused: DTDs are never loaded")


def _screen(data: bytes, limits: PackageLimits) -> None:
    parser = DefusedXMLParser(
        target=_Depth(limits.max_depth), forbid_dtd=False, forbid_entities=True, forbid_external=True
    )
    seen: list[str | None] = []
    parser.parser.StartDoctypeDeclHandler = lambda name, *_: seen.append(name)
    parser.parser.EndDoctypeDeclHandler = lambda: _refuse_doctype(seen[0] if seen else None)
    try:
        parser.feed(data)
        parser.close()
    except (EntitiesForbidden, ExternalReferenceForbidden) as exc:
        raise EdxmlError(
            Reason.XML_ENTITY_REFUSED, f"entities and external references refused ({exc})"
        ) from None
    except DefusedXmlException as exc:
        raise EdxmlError(Reason.XML_ENTITY_REFUSED, str(exc)) from None
    except SyntaxError as exc:  # expat's ParseError
        raise EdxmlError(Reason.MALFORMED, f"not well-formed XML: {exc}") from None


_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_blank_text": False,
}


def parse_xml(data: bytes, limits: PackageLimits) -> Any:
    """The root element of ``data``; EdxmlError (TOO_LARGE, XML_*, MALFORMED) otherwise."""
    if len(data) > limits.max_package_bytes:
        raise EdxmlError(Reason.TOO_LARGE, f"package is {len(data)} bytes > {limits.max_package_bytes}")
    _screen(data, limits)
    try:
        return etree.fromstring(data, etree.XMLParser(**_PARSER_OPTIONS))
    except etree.XMLSyntaxError as exc:
        raise EdxmlError(Reason.MALFORMED, f"not well-formed XML: {exc}") from None

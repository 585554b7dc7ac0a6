"""edXML (QCVN 102:2016) packages in and out of docbus envelopes — pure: bytes in, models out.

``parse_package(data)`` screens and parses a package, maps every MessageHeader, TraceHeaderList and
manifest field to the envelope's models (docs/EDXML.md) and verifies the package's own XMLDSig
signature; ``export_package(envelope)`` writes a received envelope back as a package, optionally
signed with the node's key. Status packages map to receipts in :mod:`producers.edxml.status`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from pydantic import ValidationError

from producers.edxml._xml import NS, PackageLimits, parse_xml
from producers.edxml.dsig import SignatureReport, SignatureVerdict, placeholder, sign_package, verify_package
from producers.edxml.errors import EdxmlError
from producers.edxml.reader import PackageContent, read_package
from producers.edxml.writer import content_of, write_package
from schemas.envelope import ZERO_HASH, Envelope
from schemas.reasons import Reason

__all__ = [
    "NS",
    "EdxmlError",
    "EdxmlPackage",
    "PackageContent",
    "PackageLimits",
    "SignatureReport",
    "SignatureVerdict",
    "export_package",
    "parse_package",
]


@dataclass(frozen=True)
class EdxmlPackage:
    """An imported package: its content in docbus's models and the verdict on its own signature."""

    content: PackageContent
    signature: SignatureReport = field(default_factory=lambda: SignatureReport(SignatureVerdict.ABSENT))

    def envelope(
        self,
        *,
        message_id: str,
        sequence: int = 1,
        previous_hash: bytes = ZERO_HASH,
        directory_snapshot: bytes = ZERO_HASH,
        created_at: datetime | None = None,
    ) -> Envelope:
        """The unsigned envelope for this package (the node numbers and signs it)."""
        c = self.content
        try:
            return Envelope(
                message_id=message_id,
                sender=c.sender,
                recipients=c.recipients,
                document=c.document,
                trace=c.trace,
                created_at=created_at or datetime.now(UTC),
                sequence=sequence,
                previous_hash=previous_hash,
                directory_snapshot=directory_snapshot,
                payload=c.payload,
                attachments=c.attachments,
                edxml=c.details,
            )
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"]) or "envelope"
            raise EdxmlError(Reason.INVALID_FIELD, f"{where}: {err['msg']}") from None


def parse_package(data: bytes, limits: PackageLimits | None = None) -> EdxmlPackage:
    """Screen, parse, map and verify; EdxmlError for anything docbus cannot take."""
    root = parse_xml(data, limits or PackageLimits())
    content = read_package(root)
    return EdxmlPackage(content, verify_package(root))


def export_package(
    envelope: Envelope,
    *,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
    chain: list[x509.Certificate] | None = None,
) -> bytes:
    """The envelope as an edXML package (UTF-8 bytes); signed enveloped when ``key`` is given."""
    content = content_of(envelope)
    if key is None:
        root = write_package(content)
    else:
        root = sign_package(write_package(content, signature_placeholder=placeholder()), key, chain or [])
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return out

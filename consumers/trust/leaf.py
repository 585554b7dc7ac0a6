"""What a signer certificate says about its holder: org code, name, position, purposes.

Read once per validated chain and cached with it; the per-signature checks are set lookups.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from schemas import oids
from schemas.errors import TrustError
from schemas.reasons import Reason

__all__ = ["Leaf", "Purpose", "check_purpose", "org_binds", "read_leaf"]


class Purpose(StrEnum):
    ORGANIZATION = "organization"  # organisation seal on a document, receipt or directory entry
    OFFICIAL = "official"  # the competent official's signature on a document
    AUDIT = "audit"  # the audit log's checkpoint signer


_REQUIRED = {
    Purpose.ORGANIZATION: (
        oids.POLICY_ORGANIZATION,
        (oids.EKU_DOCUMENT_SIGNING, oids.EKU_DOCBUS_DOCUMENT_SIGNING),
    ),
    Purpose.OFFICIAL: (oids.POLICY_OFFICIAL, (oids.EKU_DOCUMENT_SIGNING, oids.EKU_DOCBUS_DOCUMENT_SIGNING)),
    Purpose.AUDIT: (oids.POLICY_AUDIT, (oids.EKU_AUDIT_SIGNING,)),
}


@dataclass(frozen=True, slots=True)
class Leaf:
    org_code: str | None  # subject organizationIdentifier (2.5.4.97)
    name: str  # subject commonName
    position: str | None  # subject title (officials)
    serial: int
    fingerprint: str  # SHA-256 of the DER, hex
    policies: frozenset[x509.ObjectIdentifier]
    ekus: frozenset[x509.ObjectIdentifier]
    signs: bool  # keyUsage digitalSignature
    non_repudiation: bool  # keyUsage nonRepudiation (contentCommitment)
    is_ca: bool


def read_leaf(cert: x509.Certificate) -> Leaf:
    ext = cert.extensions
    try:
        ku = ext.get_extension_for_class(x509.KeyUsage).value
        signs, non_rep = ku.digital_signature, ku.content_commitment
    except x509.ExtensionNotFound:
        signs = non_rep = False
    try:
        ekus = frozenset(ext.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        ekus = frozenset()
    try:
        policies = frozenset(
            p.policy_identifier for p in ext.get_extension_for_class(x509.CertificatePolicies).value
        )
    except x509.ExtensionNotFound:
        policies = frozenset()
    try:
        is_ca = ext.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return Leaf(
        org_code=_attr(cert, NameOID.ORGANIZATION_IDENTIFIER),
        name=_attr(cert, NameOID.COMMON_NAME) or "",
        position=_attr(cert, NameOID.TITLE),
        serial=cert.serial_number,
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
        policies=policies,
        ekus=ekus,
        signs=signs,
        non_repudiation=non_rep,
        is_ca=is_ca,
    )


def check_purpose(leaf: Leaf, purpose: Purpose) -> None:
    """CERT_USAGE unless the certificate was issued for ``purpose``."""
    policy, ekus = _REQUIRED[purpose]
    if leaf.is_ca:
        raise TrustError(Reason.CERT_USAGE, "a CA certificate cannot sign documents")
    if not leaf.signs or (purpose is not Purpose.AUDIT and not leaf.non_repudiation):
        raise TrustError(Reason.CERT_USAGE, "key usage lacks digitalSignature/nonRepudiation")
    if not leaf.ekus.intersection(ekus):
        raise TrustError(Reason.CERT_USAGE, f"extended key usage does not allow {purpose.value} signing")
    if policy not in leaf.policies:
        raise TrustError(Reason.CERT_USAGE, f"certificate is not issued under the {purpose.value} policy")


def org_binds(cert_org: str | None, org: str, purpose: Purpose) -> bool:
    """Seal and audit certificates name exactly ``org``; an official may sit in ``org`` or in a
    dotted sub-unit of it (QĐ 20/2020 codes run top level first: G03.15 is a unit of G03)."""
    if cert_org is None:
        return False
    if cert_org == org:
        return True
    return purpose is Purpose.OFFICIAL and cert_org.startswith(org + ".")


def _attr(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    values = cert.subject.get_attributes_for_oid(oid)
    if not values:
        return None
    value = values[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")

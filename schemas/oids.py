"""Object identifiers that bind a docbus certificate to its purpose (docs/TRUST.md, "OIDs").

The private arc is a UUID OID (ITU-T X.667, ``2.25.<uuid>``): globally unique without registration.
Roles are told apart by certificate policy, purposes by extended key usage.
"""

from __future__ import annotations

from cryptography.x509.oid import ObjectIdentifier

__all__ = [
    "DOCBUS_ARC",
    "EKU_AUDIT_SIGNING",
    "EKU_DOCBUS_DOCUMENT_SIGNING",
    "EKU_DOCUMENT_SIGNING",
    "EKU_ENCRYPTION",
    "POLICY_AUDIT",
    "POLICY_ENCRYPTION",
    "POLICY_OFFICIAL",
    "POLICY_ORGANIZATION",
]

DOCBUS_ARC = "2.25.276904835954426628188471411702366753332"

# id-kp-documentSigning, RFC 9336: the standard EKU for signing human-readable documents
EKU_DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
# docbus document signing: also present so a verifier can demand "issued for docbus", not just any signer
EKU_DOCBUS_DOCUMENT_SIGNING = ObjectIdentifier(f"{DOCBUS_ARC}.2.1")
# the audit log's checkpoint key: never accepted on a document, and document keys never on a checkpoint
EKU_AUDIT_SIGNING = ObjectIdentifier(f"{DOCBUS_ARC}.2.2")
# an organisation's key agreement key: large payloads' keys are wrapped to it, it never signs
EKU_ENCRYPTION = ObjectIdentifier(f"{DOCBUS_ARC}.2.3")

POLICY_ORGANIZATION = ObjectIdentifier(f"{DOCBUS_ARC}.1.1")  # organisation seal (con dấu số)
POLICY_OFFICIAL = ObjectIdentifier(f"{DOCBUS_ARC}.1.2")  # a competent official (người ký)
POLICY_AUDIT = ObjectIdentifier(f"{DOCBUS_ARC}.1.3")  # the audit checkpoint signer
POLICY_ENCRYPTION = ObjectIdentifier(f"{DOCBUS_ARC}.1.4")  # an organisation's encryption key

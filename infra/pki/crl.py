"""CRL building: a complete CRL per CA, numbered, with a short next_update (docs/TRUST.md)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from infra.pki.keys import PrivateKey, ca_hash_algorithm

__all__ = ["Revocation", "build_crl"]


class Revocation(Protocol):
    revoked_at: str | None  # ISO 8601
    revocation_reason: str | None  # x509.ReasonFlags value


def build_crl(
    issuer: x509.Certificate,
    key: PrivateKey,
    revoked: Sequence[tuple[int, Revocation]],
    *,
    number: int,
    now: datetime,
    next_update: timedelta,
) -> bytes:
    """PEM CRL of ``issuer`` listing ``revoked`` (serial, record)."""
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(now)
        .next_update(now + next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
    )
    for serial, rec in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial)
        entry = entry.revocation_date(datetime.fromisoformat(rec.revoked_at or now.isoformat()))
        reason = x509.ReasonFlags(rec.revocation_reason or "unspecified")
        if reason is not x509.ReasonFlags.unspecified:  # RFC 5280: omit the extension for unspecified
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(key, ca_hash_algorithm(key)).public_bytes(serialization.Encoding.PEM)

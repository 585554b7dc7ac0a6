"""Fail-closed parsing of certificates and CRLs: any exception of a parser becomes a TrustError.

``cryptography`` raises ValueError, TypeError, ``InvalidVersion`` (no ValueError) and others on odd
encodings, some only when an attribute is first read; asn1crypto parses lazily and may raise
anything later. Both views of an object are built here, once, and read eagerly so a malformed
input fails now, with a reason code, and never deep inside the path validator.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import crl as a_crl
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from schemas.errors import TrustError
from schemas.reasons import Reason

__all__ = ["Cert", "Crl", "parse_cert", "parse_crl", "pem_or_der"]

_DER = Encoding.DER


@dataclass(frozen=True, slots=True, eq=False)
class Cert:
    """One certificate, in both libraries' forms, with the facts the store indexes by."""

    der: bytes
    sha256: bytes
    x509: x509.Certificate  # cryptography: keys, extensions, signatures
    asn1: a_x509.Certificate  # asn1crypto: what the path validator takes
    subject: str  # RFC 5280 normalised name (asn1crypto's ``hashable``)
    issuer: str
    crl_issuers: tuple[str, ...]  # cRLIssuer names of its CRL distribution points
    not_before: datetime
    not_after: datetime


@dataclass(frozen=True, slots=True, eq=False)
class Crl:
    der: bytes
    sha256: bytes
    x509: x509.CertificateRevocationList
    asn1: a_crl.CertificateList
    issuer: str
    scope: tuple[str, bytes, bool]  # issuer, issuingDistributionPoint DER, is a delta CRL
    rank: tuple[int, datetime]  # CRL number (-1 if none), thisUpdate: higher is newer
    next_update: datetime | None


def pem_or_der(data: bytes, label: bytes) -> bytes:
    """The DER of ``data`` (PEM with ``-----BEGIN <label>`` or DER already)."""
    if data.lstrip().startswith(b"-----BEGIN"):
        if label == b"CERTIFICATE":
            return x509.load_pem_x509_certificate(data).public_bytes(_DER)
        return x509.load_pem_x509_crl(data).public_bytes(_DER)
    return data


def parse_cert(data: bytes | x509.Certificate) -> Cert:
    try:
        return _cert(data)
    except TrustError:
        raise
    except Exception as exc:  # fail closed: parsers raise far more than ValueError
        raise TrustError(Reason.UNTRUSTED_CHAIN, f"not a usable X.509 certificate: {_brief(exc)}") from None


def parse_crl(data: bytes | x509.CertificateRevocationList) -> Crl:
    try:
        return _crl(data)
    except TrustError:
        raise
    except Exception as exc:
        raise TrustError(Reason.CRL_UNAVAILABLE, f"not a usable X.509 CRL: {_brief(exc)}") from None


def _cert(data: bytes | x509.Certificate) -> Cert:
    der = data.public_bytes(_DER) if isinstance(data, x509.Certificate) else pem_or_der(data, b"CERTIFICATE")
    cert = x509.load_der_x509_certificate(der)
    _ = cert.extensions, cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(), cert.serial_number
    asn1 = a_x509.Certificate.load(der, strict=True)
    _ = asn1.native  # parse every field now, not inside the validator
    tbs = asn1["tbs_certificate"]
    crl_issuers: list[str] = []
    for dp in (*(asn1.crl_distribution_points_value or ()), *(asn1.freshest_crl_value or ())):
        for name in dp["crl_issuer"] or ():
            if name.name == "directory_name":
                crl_issuers.append(name.chosen.hashable)
    return Cert(
        der=der,
        sha256=hashlib.sha256(der).digest(),
        x509=cert,
        asn1=asn1,
        subject=tbs["subject"].hashable,
        issuer=tbs["issuer"].hashable,
        crl_issuers=tuple(crl_issuers),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


def _crl(data: bytes | x509.CertificateRevocationList) -> Crl:
    der = (
        data.public_bytes(_DER)
        if isinstance(data, x509.CertificateRevocationList)
        else pem_or_der(data, b"X509 CRL")
    )
    crl = x509.load_der_x509_crl(der)
    _ = crl.extensions, crl.issuer.rfc4514_string(), crl.last_update_utc, crl.next_update_utc, len(crl)
    asn1 = a_crl.CertificateList.load(der, strict=True)
    _ = asn1.native
    tbs = asn1["tbs_cert_list"]
    idp = asn1.issuing_distribution_point_value
    number = asn1.crl_number_value
    issuer = tbs["issuer"].hashable
    return Crl(
        der=der,
        sha256=hashlib.sha256(der).digest(),
        x509=crl,
        asn1=asn1,
        issuer=issuer,
        scope=(issuer, idp.dump() if idp is not None else b"", asn1.delta_crl_indicator_value is not None),
        rank=(number.native if number is not None else -1, crl.last_update_utc),
        next_update=crl.next_update_utc,
    )


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:160]}"

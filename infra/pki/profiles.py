"""Certificate profiles of the ministry PKI: root CA, issuing CA, organisation seal, official, audit,
organisation encryption key (keyUsage keyAgreement only, its own EKU and policy: never a signer).

Leaves carry keyUsage digitalSignature + nonRepudiation (critical), the RFC 9336 documentSigning
EKU plus the docbus one (audit: only the audit EKU), and a certificate policy naming the role
(schemas/oids.py; docs/TRUST.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes
from cryptography.x509.oid import NameOID

from infra.pki.keys import PrivateKey, ca_hash_algorithm
from schemas import oids

__all__ = [
    "Profile",
    "build_ca",
    "build_leaf",
    "crl_distribution_points",
    "crl_uris",
    "recertify",
    "subject_name",
]

_DOC_EKUS = (oids.EKU_DOCUMENT_SIGNING, oids.EKU_DOCBUS_DOCUMENT_SIGNING)


@dataclass(frozen=True, slots=True)
class Profile:
    policy: x509.ObjectIdentifier
    ekus: tuple[x509.ObjectIdentifier, ...]
    key_agreement: bool = False  # keyUsage keyAgreement only (an encryption key never signs)


ORGANIZATION = Profile(oids.POLICY_ORGANIZATION, _DOC_EKUS)
OFFICIAL = Profile(oids.POLICY_OFFICIAL, _DOC_EKUS)
AUDIT = Profile(oids.POLICY_AUDIT, (oids.EKU_AUDIT_SIGNING,))
ENCRYPTION = Profile(oids.POLICY_ENCRYPTION, (oids.EKU_ENCRYPTION,), key_agreement=True)


def subject_name(
    common_name: str, org_code: str | None = None, org_name: str | None = None, title: str | None = None
) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    if org_name:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org_name))
    if org_code:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, org_code))
    if title:
        attrs.append(x509.NameAttribute(NameOID.TITLE, title))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _base(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: CertificateIssuerPublicKeyTypes,
    not_before: datetime,
    days: int,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def build_ca(
    subject: x509.Name,
    key: PrivateKey,
    *,
    path_length: int,
    not_before: datetime,
    days: int,
    issuer_cert: x509.Certificate | None = None,
    issuer_key: PrivateKey | None = None,
    crl_uri: str | None = None,
) -> x509.Certificate:
    """A root (self-signed, no issuer given) or an issuing CA signed by ``issuer_key``; ``crl_uri``:
    where its issuer's CRL is read (the broker's JVM checks every certificate of a TLS path)."""
    signer = issuer_key or key
    builder = (
        _base(subject, issuer_cert.subject if issuer_cert else subject, key.public_key(), not_before, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
    )
    if issuer_cert is not None:
        builder = builder.add_extension(_aki(issuer_cert), critical=False)
    if crl_uri is not None:
        builder = builder.add_extension(crl_distribution_points(crl_uri), critical=False)
    return builder.sign(signer, ca_hash_algorithm(signer))


def crl_distribution_points(uri: str) -> x509.CRLDistributionPoints:
    """One distribution point naming ``uri`` (a file: URI of the PKI folder's CRL)."""
    name = x509.UniformResourceIdentifier(uri)
    return x509.CRLDistributionPoints([x509.DistributionPoint([name], None, None, None)])


def crl_uris(cert: x509.Certificate) -> list[str]:
    """The URIs of ``cert``'s CRL distribution points ([] without the extension)."""
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [
        n.value for p in points for n in p.full_name or () if isinstance(n, x509.UniformResourceIdentifier)
    ]


def recertify(
    cert: x509.Certificate, *, issuer_cert: x509.Certificate, issuer_key: PrivateKey, crl_uri: str | None
) -> x509.Certificate:
    """``cert`` certified again by ``issuer_key``: the same subject, public key, validity and
    extensions, a new serial, and the CRL distribution point ``crl_uri`` instead of its own (none
    with ``None``). Nothing signed under the old certificate changes: the key is the same, and so
    is the validity, so a document signed before the new certificate exists still has a path."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(issuer_cert.subject)
        .public_key(cert.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
    )
    for ext in cert.extensions:
        if isinstance(ext.value, (x509.CRLDistributionPoints, x509.AuthorityKeyIdentifier)):
            continue
        builder = builder.add_extension(ext.value, critical=ext.critical)
    if issuer_cert.subject != cert.subject:  # not self-signed: name the issuer's key
        builder = builder.add_extension(_aki(issuer_cert), critical=False)
    if crl_uri is not None:
        builder = builder.add_extension(crl_distribution_points(crl_uri), critical=False)
    return builder.sign(issuer_key, ca_hash_algorithm(issuer_key))


def build_leaf(
    subject: x509.Name,
    public_key: CertificateIssuerPublicKeyTypes,
    profile: Profile,
    *,
    issuer_cert: x509.Certificate,
    issuer_key: PrivateKey,
    not_before: datetime,
    days: int,
) -> x509.Certificate:
    return (
        _base(subject, issuer_cert.subject, public_key, not_before, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False, key_agreement=profile.key_agreement), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(profile.ekus)), critical=False)
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(profile.policy, None)]), critical=False
        )
        .add_extension(_aki(issuer_cert), critical=False)
        .sign(issuer_key, ca_hash_algorithm(issuer_key))
    )


def _aki(issuer_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _key_usage(*, cert_sign: bool, key_agreement: bool = False) -> x509.KeyUsage:
    signs = not cert_sign and not key_agreement
    return x509.KeyUsage(
        digital_signature=signs,
        content_commitment=signs,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=key_agreement,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )

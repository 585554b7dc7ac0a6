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

__all__ = ["Profile", "build_ca", "build_leaf", "crl_distribution_points", "subject_name"]

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

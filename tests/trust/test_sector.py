"""The sector profile on a chain shaped like a VGCA one (the Government Cipher Committee's CA):
RSA root → issuing CA with certificate policies, CRL distribution points and AIA OCSP/caIssuers
pointers → a school's seal. Anchors per role, key sizes on every certificate, the CA profile."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from consumers.trust import Purpose, TrustError, TrustPolicy, TrustStore
from producers.keys import FileKeyProvider, make_signature
from schemas import oids
from schemas.reasons import Reason
from schemas.signature import SignerRole
from tests.trust.conftest import DATA, now

VGCA_POLICY = x509.ObjectIdentifier("2.16.704.1.2.1.1")  # shaped like the VN arc (2.16.704)
Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _name(*parts: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts])


ROOT_NAME = _name(
    (NameOID.COUNTRY_NAME, "VN"),
    (NameOID.ORGANIZATION_NAME, "Ban Cơ yếu Chính phủ"),
    (NameOID.COMMON_NAME, "Vietnam Government System Root CA"),
)
CA_NAME = _name(
    (NameOID.COUNTRY_NAME, "VN"),
    (NameOID.ORGANIZATION_NAME, "Ban Cơ yếu Chính phủ"),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, "Cục Chứng thực số và Bảo mật thông tin"),
    (NameOID.COMMON_NAME, "Vietnam Government System CA G2"),
)


@dataclass
class Vgca:
    root: x509.Certificate
    root_key: Key
    ca: x509.Certificate
    ca_key: Key
    crls: list[x509.CertificateRevocationList]


def _pointers(b: x509.CertificateBuilder, crl: str) -> x509.CertificateBuilder:
    return b.add_extension(
        x509.CRLDistributionPoints(
            [x509.DistributionPoint([x509.UniformResourceIdentifier(crl)], None, None, None)]
        ),
        critical=False,
    ).add_extension(
        x509.AuthorityInformationAccess(
            [
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP,
                    x509.UniformResourceIdentifier("http://ocsp.ca.gov.vn"),
                ),
                x509.AccessDescription(
                    AuthorityInformationAccessOID.CA_ISSUERS,
                    x509.UniformResourceIdentifier("http://ca.gov.vn/pki/pub/cert/rootca.crt"),
                ),
            ]
        ),
        critical=False,
    )


def _ca(
    subject: x509.Name,
    key: Key,
    issuer: x509.Name,
    issuer_key: Key,
    path_length: int | None,
    *,
    bc_critical: bool = True,
    pointers: bool = False,
) -> x509.Certificate:
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now() - timedelta(days=30))
        .not_valid_after(now() + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=bc_critical)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    if pointers:
        b = _pointers(b, "http://ca.gov.vn/pki/pub/crl/rootca.crl").add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(VGCA_POLICY, ["https://ca.gov.vn/cps"])]),
            critical=False,
        )
    return b.sign(issuer_key, hashes.SHA256())


def _crl(issuer: x509.Name, key: Key, number: int = 1) -> x509.CertificateRevocationList:
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer)
        .last_update(now() - timedelta(hours=1))
        .next_update(now() + timedelta(days=7))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def vgca() -> Vgca:
    root_key = rsa.generate_private_key(65537, 2048)
    ca_key = rsa.generate_private_key(65537, 2048)
    root = _ca(ROOT_NAME, root_key, ROOT_NAME, root_key, None)
    ca = _ca(CA_NAME, ca_key, ROOT_NAME, root_key, 0, pointers=True)
    return Vgca(root, root_key, ca, ca_key, [_crl(ROOT_NAME, root_key), _crl(CA_NAME, ca_key)])


def seal(
    issuer: x509.Certificate, issuer_key: Key, *, key_cert_sign: bool = False, leaf_only: bool = False
) -> FileKeyProvider:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(
        (NameOID.COUNTRY_NAME, "VN"),
        (NameOID.LOCALITY_NAME, "Hà Nội"),
        (NameOID.ORGANIZATION_NAME, "Trường THPT Chu Văn An"),
        (NameOID.ORGANIZATION_IDENTIFIER, "H01.T001"),
        (NameOID.COMMON_NAME, "Trường THPT Chu Văn An"),
    )
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now() - timedelta(days=1))
        .not_valid_after(now() + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, key_cert_sign, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([oids.EKU_DOCUMENT_SIGNING]), critical=False)
        .add_extension(
            x509.CertificatePolicies(
                [
                    x509.PolicyInformation(VGCA_POLICY, ["https://ca.gov.vn/cps"]),
                    x509.PolicyInformation(oids.POLICY_ORGANIZATION, None),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    cert = _pointers(b, "http://ca.gov.vn/pki/pub/crl/cp.crl").sign(issuer_key, hashes.SHA256())
    return FileKeyProvider(key, [cert] if leaf_only else [cert, issuer])


def _verify(store: TrustStore, provider: FileKeyProvider, code: str = "H01.T001") -> None:
    sig = make_signature(provider, SignerRole.ORGANIZATION, DATA)
    TrustPolicy(store).verify_seal(DATA, [sig], code, now())


def _refused(store: TrustStore, provider: FileKeyProvider, reason: Reason) -> None:
    with pytest.raises(TrustError) as info:
        _verify(store, provider)
    assert info.value.reason is reason, info.value


def test_a_vgca_shaped_chain_is_accepted(vgca: Vgca) -> None:
    store = TrustStore([vgca.root], vgca.crls)
    _verify(store, seal(vgca.ca, vgca.ca_key))
    # the signer may send only its own certificate when the store knows the issuing CA
    leaf_only = seal(vgca.ca, vgca.ca_key, leaf_only=True)
    _refused(store, leaf_only, Reason.UNTRUSTED_CHAIN)
    store.add_intermediate(vgca.ca)
    _verify(store, leaf_only)


def test_anchors_per_role(vgca: Vgca) -> None:
    store = TrustStore(crls=vgca.crls)
    store.add_anchor(vgca.root, {Purpose.OFFICIAL})  # e.g. a public CA allowed for officials only
    _refused(store, seal(vgca.ca, vgca.ca_key), Reason.ANCHOR_NOT_ALLOWED)
    store.add_anchor(vgca.root, {Purpose.OFFICIAL, Purpose.ORGANIZATION})
    _verify(store, seal(vgca.ca, vgca.ca_key))


def test_revoked_and_missing_crls(vgca: Vgca) -> None:
    provider = seal(vgca.ca, vgca.ca_key)
    serial = provider.chain[0]
    revoked = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(CA_NAME)
        .last_update(now() - timedelta(minutes=30))
        .next_update(now() + timedelta(days=7))
        .add_extension(x509.CRLNumber(2), critical=False)
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(x509.load_der_x509_certificate(serial).serial_number)
            .revocation_date(now() - timedelta(minutes=30))
            .build()
        )
        .sign(vgca.ca_key, hashes.SHA256())
    )
    _refused(TrustStore([vgca.root], [*vgca.crls, revoked]), provider, Reason.CERT_REVOKED)
    _refused(TrustStore([vgca.root], vgca.crls[:1]), provider, Reason.CRL_UNAVAILABLE)


def test_weak_root_key(vgca: Vgca) -> None:
    weak_key = rsa.generate_private_key(65537, 1024)
    root = _ca(ROOT_NAME, weak_key, ROOT_NAME, weak_key, None)
    ca = _ca(CA_NAME, vgca.ca_key, ROOT_NAME, weak_key, 0)
    store = TrustStore([root], [_crl(ROOT_NAME, weak_key), vgca.crls[1]])
    with pytest.raises(TrustError) as info:
        _verify(store, seal(ca, vgca.ca_key))
    assert info.value.reason is Reason.KEY_TOO_WEAK


def test_weak_ec_ca_key(vgca: Vgca) -> None:
    weak = ec.generate_private_key(ec.SECP192R1())
    ca = _ca(CA_NAME, weak, ROOT_NAME, vgca.root_key, 0)
    store = TrustStore([vgca.root], [vgca.crls[0], _crl(CA_NAME, weak)])
    _refused_any(
        store, seal(ca, weak), {Reason.KEY_TOO_WEAK, Reason.ALG_NOT_ALLOWED, Reason.VALIDATOR_FAILURE}
    )


def test_ca_without_critical_basic_constraints(vgca: Vgca) -> None:
    ca = _ca(CA_NAME, vgca.ca_key, ROOT_NAME, vgca.root_key, 0, bc_critical=False)
    _refused(TrustStore([vgca.root], vgca.crls), seal(ca, vgca.ca_key), Reason.CERT_PROFILE)


def test_root_without_critical_basic_constraints(vgca: Vgca) -> None:
    root = _ca(ROOT_NAME, vgca.root_key, ROOT_NAME, vgca.root_key, None, bc_critical=False)
    _refused(TrustStore([root], vgca.crls), seal(vgca.ca, vgca.ca_key), Reason.CERT_PROFILE)


def test_leaf_with_key_cert_sign(vgca: Vgca) -> None:
    _refused(
        TrustStore([vgca.root], vgca.crls),
        seal(vgca.ca, vgca.ca_key, key_cert_sign=True),
        Reason.CERT_PROFILE,
    )


def test_ca_with_an_empty_subject(vgca: Vgca) -> None:
    empty = x509.Name([])
    ca = _ca(empty, vgca.ca_key, ROOT_NAME, vgca.root_key, 0)
    store = TrustStore([vgca.root], [vgca.crls[0], _crl(empty, vgca.ca_key)])
    _refused_any(store, seal(ca, vgca.ca_key), {Reason.CERT_PROFILE, Reason.UNTRUSTED_CHAIN})


def _refused_any(store: TrustStore, provider: FileKeyProvider, reasons: set[Reason]) -> None:
    with pytest.raises(TrustError) as info:
        _verify(store, provider)
    assert info.value.reason in reasons, info.value

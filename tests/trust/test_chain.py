"""Chain validation, revocation and the chain cache, from forged chains and real CRLs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from consumers.trust import TrustConfig, TrustError, TrustPolicy, TrustStore
from infra.pki import Authority, Issued, KeyType, profiles
from infra.pki.keys import generate_key
from producers.keys import FileKeyProvider, make_signature
from schemas import oids
from schemas.reasons import Reason
from schemas.signature import Signature, SignerRole
from tests.trust.conftest import DATA, PASS, Pki, now

Sign = Callable[..., Signature]
ORG, OFF = SignerRole.ORGANIZATION, SignerRole.OFFICIAL


@pytest.fixture(scope="module")
def rogue(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    """Another PKI with the very same CA names: only keys tell them apart."""
    return Authority.init(tmp_path_factory.mktemp("rogue") / "pki", PASS)


def _forge(
    issuer_cert: object, issuer_key: object, profile: profiles.Profile, code: str = "G03"
) -> FileKeyProvider:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = profiles.build_leaf(
        profiles.subject_name("forged", code, "forged"), key.public_key(), profile,
        issuer_cert=issuer_cert, issuer_key=issuer_key, not_before=now() - timedelta(minutes=5), days=30,  # type: ignore[arg-type]
    )  # fmt: skip
    return FileKeyProvider(key, [cert, issuer_cert])  # type: ignore[list-item]


def _check(
    policy: TrustPolicy, pki: Pki, sign: Sign, seal: Signature, reason: Reason | None, **kw: object
) -> None:
    sigs = [sign(pki.official, OFF), seal]
    when = kw.get("at") or now()
    if reason is None:
        policy.verify_document(DATA, sigs, "G03", now=when)  # type: ignore[arg-type]
        return
    with pytest.raises(TrustError) as info:
        policy.verify_document(DATA, sigs, "G03", now=when)  # type: ignore[arg-type]
    assert info.value.reason is reason, info.value


def test_certificate_from_an_unknown_issuer(pki: Pki, sign: Sign, rogue: Authority) -> None:
    seal = sign(rogue.issue_org("G03", "Bộ GD&ĐT (giả)"), ORG)
    _check(pki.policy(), pki, sign, seal, Reason.UNTRUSTED_CHAIN)
    # even with only the leaf and the issuing CA (same names as ours), the signature link fails
    _check(pki.policy(), pki, sign, seal.model_copy(update={"chain": seal.chain[:2]}), Reason.UNTRUSTED_CHAIN)


def test_leaf_signed_by_a_non_ca(pki: Pki, sign: Sign) -> None:
    assert pki.seal.key is not None
    provider = _forge(pki.seal.cert, pki.seal.key, profiles.ORGANIZATION)
    seal = make_signature(provider, ORG, DATA)
    seal = seal.model_copy(update={"chain": [*seal.chain, *(c for c in sign(pki.seal, ORG).chain[1:])]})
    _check(pki.policy(), pki, sign, seal, Reason.UNTRUSTED_CHAIN)


def test_path_length_of_the_issuing_ca(pki: Pki, sign: Sign) -> None:
    a = pki.authority
    sub_key = generate_key(KeyType.P256)
    sub = profiles.build_ca(
        profiles.subject_name("rogue sub-CA", "G03"),
        sub_key,
        path_length=0,
        not_before=now() - timedelta(minutes=5),
        days=30,
        issuer_cert=a.issuing_cert,
        issuer_key=a.issuing_key,
    )
    provider = _forge(sub, sub_key, profiles.ORGANIZATION)
    seal = make_signature(provider, ORG, DATA).model_copy(
        update={"chain": [*provider.chain, *sign(pki.seal, ORG).chain[1:]]}
    )
    with pytest.raises(TrustError) as info:
        pki.policy(require_crl=False).verify_document(DATA, [sign(pki.official, OFF), seal], "G03", now=now())
    assert info.value.reason is Reason.UNTRUSTED_CHAIN and "maximum path length" in info.value.detail


def test_tls_only_certificate(pki: Pki, sign: Sign) -> None:
    a = pki.authority
    tls = profiles.Profile(
        oids.POLICY_ORGANIZATION, (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)
    )
    seal = make_signature(_forge(a.issuing_cert, a.issuing_key, tls), ORG, DATA)
    _check(pki.policy(), pki, sign, seal, Reason.CERT_USAGE)


def test_revoked_certificate(pki: Pki, sign: Sign) -> None:
    seal_cert = pki.authority.issue_org("G03", "Bộ GD&ĐT (lost token)")
    seal = sign(seal_cert, ORG)
    _check(pki.policy(), pki, sign, seal, None)
    pki.authority.revoke(f"{seal_cert.cert.serial_number:x}")
    _check(pki.policy(), pki, sign, seal, Reason.CERT_REVOKED)


def test_cache_never_outlives_a_revocation(pki: Pki, sign: Sign) -> None:
    seal_cert = pki.authority.issue_org("G03", "Bộ GD&ĐT (cached)")
    seal = sign(seal_cert, ORG)
    policy = pki.policy()
    _check(policy, pki, sign, seal, None)
    _check(policy, pki, sign, seal, None)
    assert policy.chains.hits >= 2  # the second document reused both validated chains
    old_crls = pki.authority.crls()
    pki.authority.revoke(f"{seal_cert.cert.serial_number:x}", publish=False)
    pki.authority.publish_crl()
    assert policy.store.add_crl(pki.authority.crls()[1])
    _check(policy, pki, sign, seal, Reason.CERT_REVOKED)
    # a replayed older CRL does not un-revoke
    assert not policy.store.add_crl(old_crls[1])
    _check(policy, pki, sign, seal, Reason.CERT_REVOKED)


def test_removed_anchor_voids_cached_chains(pki: Pki, sign: Sign) -> None:
    policy = pki.policy()
    seal = sign(pki.seal, ORG)
    _check(policy, pki, sign, seal, None)
    policy.store.remove_anchor(pki.authority.root_cert)
    _check(policy, pki, sign, seal, Reason.UNTRUSTED_CHAIN)


def test_stale_crl_fails_closed(pki: Pki, sign: Sign) -> None:
    seal = sign(pki.seal, ORG)
    later = now() + timedelta(days=2)  # both CRLs' next_update (1 day) has passed
    _check(pki.policy(), pki, sign, seal, Reason.CRL_UNAVAILABLE, at=later)
    _check(pki.policy(crl_grace=timedelta(days=3)), pki, sign, seal, None, at=later)


def test_missing_crl_fails_closed(pki: Pki, sign: Sign) -> None:
    seal = sign(pki.seal, ORG)
    no_crl = TrustStore([pki.authority.root_cert])
    _check(TrustPolicy(no_crl), pki, sign, seal, Reason.CRL_UNAVAILABLE)
    _check(TrustPolicy(no_crl, TrustConfig(require_crl=False)), pki, sign, seal, None)


def test_crl_with_a_foreign_signature(pki: Pki, sign: Sign, rogue: Authority) -> None:
    root_crl, issuing_crl = rogue.crls()
    store = TrustStore([pki.authority.root_cert], [pki.authority.crls()[0]])
    with pytest.raises(TrustError) as info:  # the root is an anchor: checked on load
        store.add_crl(root_crl)
    assert info.value.reason is Reason.CRL_UNAVAILABLE
    store.add_crl(issuing_crl)  # the issuing CA is not known yet: checked against the chain
    _check(TrustPolicy(store), pki, sign, sign(pki.seal, ORG), Reason.CRL_UNAVAILABLE)


def test_ed25519_ministry_pki(tmp_path: Path) -> None:
    a = Authority.init(tmp_path / "pki", PASS, key_type=KeyType.ED25519)
    seal: Issued = a.issue_org("H41", "Sở GD&ĐT", key_type=KeyType.ED25519)
    official: Issued = a.issue_official("H41", "Võ Thị Em", "Giám đốc Sở", key_type=KeyType.ED25519)
    assert seal.key is not None and official.key is not None
    sigs = [
        make_signature(FileKeyProvider(official.key, official.chain), OFF, DATA),
        make_signature(FileKeyProvider(seal.key, seal.chain), ORG, DATA),
    ]
    policy = TrustPolicy(TrustStore([a.root_cert], a.crls()))
    doc = policy.verify_document(DATA, sigs, "H41", now=now())
    assert doc.official.position == "Giám đốc Sở"


def _issuing_ca_without_cert_sign(a: Authority) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    usage = x509.KeyUsage(True, True, False, False, False, False, True, False, False)  # no keyCertSign
    cert = (
        x509.CertificateBuilder()
        .subject_name(profiles.subject_name("docbus Issuing CA 1", "G03"))
        .issuer_name(a.root_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now() - timedelta(minutes=5))
        .not_valid_after(now() + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(a.root_key, hashes.SHA256())
    )
    return cert, key


def test_issuer_without_key_cert_sign(pki: Pki, sign: Sign) -> None:
    ca, ca_key = _issuing_ca_without_cert_sign(pki.authority)
    provider = _forge(ca, ca_key, profiles.ORGANIZATION)
    seal = make_signature(provider, ORG, DATA)
    with pytest.raises(TrustError) as info:
        pki.policy(require_crl=False).verify_document(DATA, [sign(pki.official, OFF), seal], "G03", now=now())
    assert (
        info.value.reason is Reason.UNTRUSTED_CHAIN
        and "not allowed to sign certificates" in info.value.detail
    )


def test_unknown_critical_extension(pki: Pki, sign: Sign) -> None:
    a = pki.authority
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(profiles.subject_name("odd", "G03", "odd"))
        .issuer_name(a.issuing_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now() - timedelta(minutes=5))
        .not_valid_after(now() + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([oids.EKU_DOCUMENT_SIGNING]), critical=False)
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(oids.POLICY_ORGANIZATION, None)]), False
        )
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4.5"), b"\x05\x00"), critical=True
        )
    )
    cert = builder.sign(a.issuing_key, hashes.SHA256())
    seal = make_signature(FileKeyProvider(key, [cert, a.issuing_cert]), ORG, DATA)
    _check(pki.policy(), pki, sign, seal, Reason.UNTRUSTED_CHAIN)


def test_crl_checked_on_load_when_the_issuer_is_given(pki: Pki, rogue: Authority) -> None:
    store = TrustStore([pki.authority.root_cert])
    assert store.add_crl(pki.authority.crls()[1], issuer=pki.authority.issuing_cert)
    with pytest.raises(TrustError) as info:
        store.add_crl(rogue.crls()[1], issuer=pki.authority.issuing_cert)
    assert info.value.reason is Reason.CRL_UNAVAILABLE
    with pytest.raises(TrustError) as info:
        store.add_crl(b"-----BEGIN X509 CRL-----\nnot a crl\n-----END X509 CRL-----\n")
    assert info.value.reason is Reason.CRL_UNAVAILABLE


def test_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        TrustConfig(clock_skew=timedelta(minutes=-1))
    with pytest.raises(ValueError):
        TrustConfig(max_chain_length=0)
    with pytest.raises(ValueError):
        TrustConfig(refusal_ttl=timedelta(seconds=-1))


def test_a_refused_chain_is_validated_once_while_the_store_stands(
    pki: Pki, sign: Sign, rogue: Authority
) -> None:
    """A directory topic full of entries sealed under another PKI: one path validation per
    foreign chain, each entry still refused with the same reason."""
    policy = pki.policy()
    foreign = sign(rogue.issue_org("G03", "Bộ GD&ĐT (lần chạy khác)"), ORG)
    reasons = []
    for _ in range(5):
        with pytest.raises(TrustError) as info:
            policy.verify_seal(DATA, [foreign], "G03", now())
        reasons.append((info.value.reason, info.value.role))
    assert reasons == [(Reason.UNTRUSTED_CHAIN, ORG)] * 5
    assert (policy.chains.misses, policy.chains.refusals_reused) == (1, 4)
    policy.verify_seal(DATA, [sign(pki.seal, ORG)], "G03", now())  # our own seal: accepted as ever


def test_a_cached_refusal_never_becomes_an_acceptance_by_itself(sign: Sign, tmp_path: Path) -> None:
    """A seal refused for a stale CRL stays refused from the cache until the store changes; a
    fresh CRL voids the refusal (decided again: accepted), and a revocation voids the acceptance."""
    ca = Authority.init(tmp_path / "pki", PASS)
    seal_cert = ca.issue_org("G03", "Bộ GD&ĐT (refusal cache)")
    seal = sign(seal_cert, ORG)
    store = TrustStore([ca.root_cert], ca.crls())
    policy = TrustPolicy(store, TrustConfig(refusal_ttl=timedelta(days=30)))
    later = now() + timedelta(days=2)  # the CRLs held are past their nextUpdate then
    for _ in range(2):
        with pytest.raises(TrustError) as info:
            policy.verify_seal(DATA, [seal], "G03", later)
        assert info.value.reason is Reason.CRL_UNAVAILABLE
    assert policy.chains.refusals_reused == 1
    # CRLs issued "later" (fresh then): the generation moves, the refusal is decided again
    ca.publish_crl(now=later - timedelta(hours=1))
    for crl in ca.crls():
        store.add_crl(crl)
    policy.verify_seal(DATA, [seal], "G03", later)
    ca.revoke(f"{seal_cert.cert.serial_number:x}", publish=False)
    ca.publish_crl(now=later - timedelta(minutes=30))
    store.add_crl(ca.crls()[1])
    with pytest.raises(TrustError) as info:
        policy.verify_seal(DATA, [seal], "G03", later)
    assert info.value.reason is Reason.CERT_REVOKED


def test_a_refusal_is_decided_again_after_its_ttl(pki: Pki, sign: Sign) -> None:
    seal = sign(pki.seal, ORG)
    no_crl = TrustStore([pki.authority.root_cert])
    policy = TrustPolicy(no_crl, TrustConfig(refusal_ttl=timedelta(seconds=60)))
    t0 = now()
    for at in (t0, t0 + timedelta(seconds=30), t0 + timedelta(seconds=61), t0 - timedelta(seconds=1)):
        with pytest.raises(TrustError) as info:
            policy.verify_seal(DATA, [seal], "G03", at)
        assert info.value.reason is Reason.CRL_UNAVAILABLE  # no CRL held: fail closed, every time
    # reused once (30 s later); decided again past the TTL and for a clock that went back
    assert (policy.chains.misses, policy.chains.refusals_reused) == (3, 1)


def test_a_validated_chain_is_served_again_only_for_the_very_same_bytes(pki: Pki, sign: Sign) -> None:
    # the cache finds a validated chain again by its leaf's last bytes (the CA's signature), then
    # compares it whole: another certificate ending alike, or other stapled OCSP, is judged itself
    seal = sign(pki.authority.issue_org("G03", "Bộ GD&ĐT (probe)"), ORG)
    policy = pki.policy()
    validated = policy.chains.get(seal.chain, now=now())
    assert policy.chains.get(list(seal.chain), now=now()) is validated
    leaf = seal.chain[0]
    altered = leaf[:200] + bytes([leaf[200] ^ 1]) + leaf[201:]
    assert altered[-32:] == leaf[-32:]
    with pytest.raises(TrustError):
        policy.chains.get([altered, *seal.chain[1:]], now=now())
    with pytest.raises(TrustError):
        policy.chains.get(seal.chain, now=now(), ocsp=[b"not an OCSP response"])
    assert policy.chains.get(seal.chain, now=now()) is validated

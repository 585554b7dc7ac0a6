"""verify_document / verify_seal: every algorithm accepted, and each reason code from a realistic
forged or broken input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from consumers.trust import Purpose, TrustError
from schemas.algorithms import P256_ORDER, Algorithm
from schemas.reasons import Reason
from schemas.signature import Signature, SignerRole
from tests.trust.conftest import DATA, Pki, now

Sign = Callable[..., Signature]
ORG, OFF = SignerRole.ORGANIZATION, SignerRole.OFFICIAL


def _reject(pki: Pki, sigs: list[Signature], sender: str, reason: Reason, **kw: object) -> TrustError:
    with pytest.raises(TrustError) as info:
        pki.policy().verify_document(DATA, sigs, sender, now=kw.pop("at", None) or now())  # type: ignore[arg-type]
    assert info.value.reason is reason, info.value
    return info.value


@pytest.mark.parametrize(
    ("seal", "official", "sender", "alg"),
    [
        ("seal", "official", "G03", Algorithm.ECDSA_P256_SHA256),
        ("ed_seal", "ed_official", "ED1", Algorithm.ED25519),
        ("rsa_seal", "rsa_official", "RS1", Algorithm.RSA_PKCS1V15_SHA256),
        ("rsa_seal", "rsa_official", "RS1", Algorithm.RSA_PSS_SHA256),
    ],
)
def test_each_algorithm_verifies(
    pki: Pki, sign: Sign, seal: str, official: str, sender: str, alg: Algorithm
) -> None:
    sigs = [sign(getattr(pki, official), OFF), sign(getattr(pki, seal), ORG, algorithm=alg)]
    assert sigs[1].algorithm == alg.value
    doc = pki.policy().verify_document(DATA, sigs, sender, now=now())
    assert doc.organization.org_code == sender and doc.organization.algorithm is alg
    assert (
        doc.official.name
        == getattr(pki, official).cert.subject.rfc4514_string().split("CN=")[1].split(",")[0]
    )


def test_official_of_a_sub_unit_signs_for_the_parent(pki: Pki, sign: Sign) -> None:
    doc = pki.policy().verify_document(DATA, [sign(pki.official, OFF), sign(pki.seal, ORG)], "G03", now=now())
    assert (doc.official.org_code, doc.official.position) == ("G03.15", "Chánh Văn phòng")


def test_chain_without_the_root_verifies(pki: Pki, sign: Sign) -> None:
    sigs = [sign(pki.official, OFF), sign(pki.seal, ORG)]
    short = [s.model_copy(update={"chain": s.chain[:2]}) for s in sigs]
    pki.policy().verify_document(DATA, short, "G03", now=now())


def test_signature_by_another_key_beside_a_valid_certificate(pki: Pki, sign: Sign) -> None:
    forged = ec.generate_private_key(ec.SECP256R1()).sign(DATA, ec.ECDSA(hashes.SHA256()))
    seal = sign(pki.seal, ORG).model_copy(update={"value": forged})
    err = _reject(pki, [sign(pki.official, OFF), seal], "G03", Reason.SIGNATURE_INVALID)
    assert err.role is ORG


def test_signature_over_other_bytes(pki: Pki, sign: Sign) -> None:
    sigs = [sign(pki.official, OFF, data=DATA + b"x"), sign(pki.seal, ORG)]
    assert _reject(pki, sigs, "G03", Reason.SIGNATURE_INVALID).role is OFF


@pytest.mark.parametrize("issued", ["seal", "ed_seal", "rsa_seal"])
def test_truncated_signature(pki: Pki, sign: Sign, issued: str) -> None:
    org = {"seal": "G03", "ed_seal": "ED1", "rsa_seal": "RS1"}[issued]
    official = {"seal": pki.official, "ed_seal": pki.ed_official, "rsa_seal": pki.rsa_official}[issued]
    seal = sign(getattr(pki, issued), ORG)
    cut = seal.model_copy(update={"value": seal.value[:-1]})
    _reject(pki, [sign(official, OFF), cut], org, Reason.SIGNATURE_INVALID)


def test_high_s_twin_is_refused(pki: Pki, sign: Sign) -> None:
    seal = sign(pki.seal, ORG)
    r, s = decode_dss_signature(seal.value)
    assert s <= P256_ORDER // 2  # we always sign low-S
    twin = encode_dss_signature(r, P256_ORDER - s)
    key = pki.seal.cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(twin, DATA, ec.ECDSA(hashes.SHA256()))  # mathematically valid: only our rule refuses it
    malleated = seal.model_copy(update={"value": twin})
    err = _reject(pki, [sign(pki.official, OFF), malleated], "G03", Reason.SIGNATURE_INVALID)
    assert "high-S" in err.detail


def test_seal_of_another_org(pki: Pki, sign: Sign) -> None:
    _reject(pki, [sign(pki.official, OFF), sign(pki.seal, ORG)], "ED1", Reason.ORG_MISMATCH)


def test_official_of_another_org(pki: Pki, sign: Sign) -> None:
    err = _reject(pki, [sign(pki.ed_official, OFF), sign(pki.seal, ORG)], "G03", Reason.ORG_MISMATCH)
    assert err.role is OFF


def test_seal_of_a_sub_unit_does_not_seal_for_the_parent(pki: Pki, sign: Sign) -> None:
    unit = pki.authority.issue_org("G03.16", "Vụ Giáo dục Đại học")
    _reject(pki, [sign(pki.official, OFF), sign(unit, ORG)], "G03", Reason.ORG_MISMATCH)


def test_code_prefix_without_a_dot_is_not_a_sub_unit(pki: Pki, sign: Sign) -> None:
    other = pki.authority.issue_official("G031", "Phạm Văn Dũng", "Chuyên viên")
    _reject(pki, [sign(other, OFF), sign(pki.seal, ORG)], "G03", Reason.ORG_MISMATCH)


def test_expired_certificate(pki: Pki, sign: Sign) -> None:
    old = pki.authority.issue_org("G03", "Bộ GD&ĐT (2023)", not_before=now() - timedelta(days=800), days=30)
    _reject(pki, [sign(pki.official, OFF), sign(old, ORG)], "G03", Reason.CERT_EXPIRED)
    # signed while it was valid: the document stays verifiable after the certificate expires
    at = now() - timedelta(days=790)
    pki.policy().verify_document(DATA, [sign(pki.official, OFF), sign(old, ORG, at=at)], "G03", now=now())


def test_not_yet_valid_certificate(pki: Pki, sign: Sign) -> None:
    future = pki.authority.issue_org("G03", "Bộ GD&ĐT (next)", not_before=now() + timedelta(days=10))
    _reject(pki, [sign(pki.official, OFF), sign(future, ORG)], "G03", Reason.CERT_NOT_YET_VALID)


def test_signing_time_in_the_future(pki: Pki, sign: Sign) -> None:
    seal = sign(pki.seal, ORG, at=now() + timedelta(hours=1))
    _reject(pki, [sign(pki.official, OFF), seal], "G03", Reason.STALE)


def test_signing_time_within_the_clock_skew(pki: Pki, sign: Sign) -> None:
    seal = sign(pki.seal, ORG, at=now() + timedelta(minutes=2))
    pki.policy().verify_document(DATA, [sign(pki.official, OFF), seal], "G03", now=now())


def test_missing_official_signature(pki: Pki, sign: Sign) -> None:
    assert _reject(pki, [sign(pki.seal, ORG)], "G03", Reason.SIGNATURE_MISSING).role is OFF


def test_two_seals_are_refused(pki: Pki, sign: Sign) -> None:
    sigs = [sign(pki.official, OFF), sign(pki.seal, ORG), sign(pki.seal, ORG)]
    _reject(pki, sigs, "G03", Reason.SIGNATURE_INVALID)


@pytest.mark.parametrize(
    ("issued", "label"),
    [
        ("ed_seal", Algorithm.ECDSA_P256_SHA256.value),  # Ed25519 key, ECDSA name
        ("seal", Algorithm.ED25519.value),  # P-256 key, Ed25519 name
        ("seal", Algorithm.RSA_PSS_SHA256.value),  # P-256 key, RSA name
        ("rsa_seal", Algorithm.ECDSA_P256_SHA256.value),  # RSA key, ECDSA name
        ("seal", "ECDSA-P256-SHA1"),  # unknown names
        ("rsa_seal", "RSA-PKCS1v15-MD5"),
        ("seal", ""),
    ],
)
def test_algorithm_not_matching_the_key(pki: Pki, sign: Sign, issued: str, label: str) -> None:
    org = {"seal": "G03", "ed_seal": "ED1", "rsa_seal": "RS1"}[issued]
    official = {"seal": pki.official, "ed_seal": pki.ed_official, "rsa_seal": pki.rsa_official}[issued]
    seal = sign(getattr(pki, issued), ORG).model_copy(update={"algorithm": label})
    _reject(pki, [sign(official, OFF), seal], org, Reason.ALG_NOT_ALLOWED)


def test_pss_signature_labelled_pkcs1(pki: Pki, sign: Sign) -> None:
    seal = sign(pki.rsa_seal, ORG, algorithm=Algorithm.RSA_PSS_SHA256)
    relabelled = seal.model_copy(update={"algorithm": Algorithm.RSA_PKCS1V15_SHA256.value})
    _reject(pki, [sign(pki.rsa_official, OFF), relabelled], "RS1", Reason.SIGNATURE_INVALID)


def test_official_certificate_used_as_seal(pki: Pki, sign: Sign) -> None:
    as_seal = sign(pki.official, ORG)
    _reject(pki, [sign(pki.official, OFF), as_seal], "G03.15", Reason.CERT_USAGE)


def test_audit_certificate_cannot_sign_documents(pki: Pki, sign: Sign) -> None:
    _reject(pki, [sign(pki.official, OFF), sign(pki.audit, ORG)], "G03", Reason.CERT_USAGE)


def test_seal_and_audit_seal(pki: Pki, sign: Sign) -> None:
    policy = pki.policy()
    assert policy.verify_seal(DATA, [sign(pki.seal, ORG)], "G03", now()).signer.org_code == "G03"
    audit = policy.verify_seal(DATA, [sign(pki.audit, ORG)], "G03", now(), purpose=Purpose.AUDIT)
    assert audit.purpose is Purpose.AUDIT
    with pytest.raises(TrustError) as info:  # an org key cannot sign an audit checkpoint
        policy.verify_seal(DATA, [sign(pki.seal, ORG)], "G03", now(), purpose=Purpose.AUDIT)
    assert info.value.reason is Reason.CERT_USAGE


def test_chain_too_long(pki: Pki, sign: Sign) -> None:
    sigs = [sign(pki.official, OFF), sign(pki.seal, ORG)]
    with pytest.raises(TrustError) as info:
        pki.policy(max_chain_length=2).verify_document(DATA, sigs, "G03", now=now())
    assert info.value.reason is Reason.CHAIN_TOO_LONG


def test_garbage_certificate(pki: Pki, sign: Sign) -> None:
    seal = sign(pki.seal, ORG)
    broken = seal.model_copy(update={"chain": [seal.chain[0][:-10], *seal.chain[1:]]})
    _reject(pki, [sign(pki.official, OFF), broken], "G03", Reason.UNTRUSTED_CHAIN)


def test_empty_chain(pki: Pki, sign: Sign) -> None:
    seal = sign(pki.seal, ORG).model_copy(update={"chain": []})
    _reject(pki, [sign(pki.official, OFF), seal], "G03", Reason.UNTRUSTED_CHAIN)


def test_naive_signing_time(pki: Pki, sign: Sign) -> None:
    seal = sign(pki.seal, ORG)
    naive = seal.model_copy(update={"signing_time": seal.signing_time.replace(tzinfo=None)})
    _reject(pki, [sign(pki.official, OFF), naive], "G03", Reason.INVALID_FIELD)


def test_public_key_types_are_the_expected_ones(pki: Pki) -> None:
    assert isinstance(pki.ed_seal.cert.public_key(), ed25519.Ed25519PublicKey)
    rsa_key = pki.rsa_seal.cert.public_key()
    assert isinstance(rsa_key, rsa.RSAPublicKey) and rsa_key.key_size == 2048
    spki = pki.seal.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert len(spki) == 91  # uncompressed P-256 point


def test_one_policy_judges_each_use_of_a_chain_it_has_accepted(pki: Pki, sign: Sign) -> None:
    # the policy keeps what a validated chain passed for an org, purpose and algorithm; every other
    # use is judged afresh, and the signing time is judged every time
    policy = pki.policy()
    old = pki.authority.issue_org("G03", "Bộ GD&ĐT (2023)", not_before=now() - timedelta(days=800), days=30)
    at = now() - timedelta(days=790)
    sigs = [sign(pki.official, OFF), sign(old, ORG, at=at)]
    relabelled = sigs[1].model_copy(update={"algorithm": "ECDSA-P256-SHA1"})
    policy.verify_document(DATA, sigs, "G03", now=now())
    for org, seal, reason in [
        ("ED1", sign(old, ORG, at=at), Reason.ORG_MISMATCH),
        ("G03", sign(old, ORG), Reason.CERT_EXPIRED),
        ("G03", relabelled, Reason.ALG_NOT_ALLOWED),
    ]:
        with pytest.raises(TrustError) as info:
            policy.verify_document(DATA, [sigs[0], seal], org, now=now())
        assert info.value.reason is reason, info.value
    with pytest.raises(TrustError) as info:
        policy.verify_seal(DATA, [sigs[1]], "G03", now(), purpose=Purpose.AUDIT)
    assert info.value.reason in (Reason.ANCHOR_NOT_ALLOWED, Reason.CERT_USAGE), info.value
    policy.verify_document(DATA, sigs, "G03", now=now())  # and the accepted use still passes

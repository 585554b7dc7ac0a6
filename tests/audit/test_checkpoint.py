from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from consumers.audit.core.checkpoint import (
    CHECKPOINT_CONTEXT,
    CheckpointSigner,
    chain_digest,
    key_id_for,
    signing_input,
    verify_checkpoint,
    verify_signature,
)
from consumers.audit.core.errors import AuditError
from schemas.algorithms import Algorithm
from schemas.audit import Checkpoint
from schemas.codec import decode, encode
from schemas.reasons import Reason
from schemas.signature import SignerRole
from tests.audit.conftest import T0, AuditKey, make_key

ROOT, LAST = b"\xaa" * 32, b"\xbb" * 32
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def test_signing_input_is_fixed_width_and_documented() -> None:
    key_id = "ab" * 32
    at = datetime(2026, 3, 2, 8, 30, 0, 250000, tzinfo=UTC)
    data = signing_input(7, ROOT, LAST, at, key_id, "Ed25519")
    expected = (
        b"docbus/checkpoint/v1\n"
        + (7).to_bytes(8, "big")
        + ROOT
        + LAST
        + (int(datetime(2026, 3, 2, 8, 30, tzinfo=UTC).timestamp()) * 1000 + 250).to_bytes(8, "big")
        + key_id.encode()
        + hashlib.sha256(b"").digest()  # no certificates
        + b"\x07Ed25519"
    )
    assert data == expected and data.startswith(CHECKPOINT_CONTEXT)


def test_a_signed_checkpoint_round_trips_and_verifies(audit_key: AuditKey) -> None:
    cp = audit_key.signer.sign(5, ROOT, LAST, T0 + timedelta(microseconds=1999))
    back = decode(encode(cp), Checkpoint)
    assert back == cp and back.issued_at == T0 + timedelta(milliseconds=1)
    verify_checkpoint(back, audit_key.keys)
    assert cp.key_id == key_id_for(audit_key.private.public_key())


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": 6},
        {"root_hash": b"\xab" * 32},
        {"last_hash": b"\xbc" * 32},
        {"issued_at": T0 + timedelta(seconds=1)},
    ],
)
def test_any_changed_field_breaks_the_signature(audit_key: AuditKey, change: dict[str, object]) -> None:
    cp = audit_key.signer.sign(5, ROOT, LAST, T0)
    forged = cp.model_copy(update=change)
    if "issued_at" in change:  # keep signing_time in step so the signature itself is what fails
        forged = forged.model_copy(
            update={"signature": cp.signature.model_copy(update={"signing_time": change["issued_at"]})}
        )
    with pytest.raises(AuditError) as err:
        verify_checkpoint(forged, audit_key.keys)
    assert err.value.reason is Reason.SIGNATURE_INVALID


def test_the_certificate_chain_is_covered_by_the_signature(audit_key: AuditKey) -> None:
    cp = audit_key.signer.sign(5, ROOT, LAST, T0)
    der = cp.signature.chain[0]
    changed = der[:-70] + bytes([der[-70] ^ 1]) + der[-69:]  # in the certificate's own signature
    forged = cp.model_copy(update={"signature": cp.signature.model_copy(update={"chain": [changed]})})
    with pytest.raises(AuditError) as err:
        verify_checkpoint(forged, audit_key.keys)
    assert err.value.reason is Reason.SIGNATURE_INVALID
    assert chain_digest([b"ab", b"c"]) != chain_digest([b"a", b"bc"])


def test_unknown_key_and_mismatched_certificate_are_untrusted(audit_key: AuditKey) -> None:
    other = make_key("another audit key")
    cp = other.signer.sign(5, ROOT, LAST, T0)
    with pytest.raises(AuditError) as err:
        verify_checkpoint(cp, audit_key.keys)
    assert err.value.reason is Reason.UNTRUSTED_CHAIN
    # the certificate in the block must hold the pinned key
    mislabelled = CheckpointSigner(
        other.private.sign, Algorithm.ED25519, audit_key.signer.chain, other.signer.key_id
    )
    with pytest.raises(AuditError) as err:
        verify_checkpoint(mislabelled.sign(5, ROOT, LAST, T0), other.keys)
    assert err.value.reason is Reason.UNTRUSTED_CHAIN


def test_signing_time_must_equal_issued_at(audit_key: AuditKey) -> None:
    cp = audit_key.signer.sign(5, ROOT, LAST, T0)
    moved = cp.model_copy(
        update={"signature": cp.signature.model_copy(update={"signing_time": T0 + timedelta(1)})}
    )
    with pytest.raises(AuditError):
        verify_checkpoint(moved, audit_key.keys)


def _low_s_p256(key: ec.EllipticCurvePrivateKey):  # type: ignore[no-untyped-def]
    def sign(data: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return encode_dss_signature(r, min(s, P256_N - s))

    return sign


def test_ecdsa_p256_low_s_is_required() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    signer = CheckpointSigner(_low_s_p256(key), Algorithm.ECDSA_P256_SHA256, (), key_id_for(public))
    cp = signer.sign(3, ROOT, LAST, T0)
    verify_checkpoint(cp, {signer.key_id: public})
    r, s = decode_dss_signature(cp.signature.value)
    high = cp.model_copy(
        update={"signature": cp.signature.model_copy(update={"value": encode_dss_signature(r, P256_N - s)})}
    )
    with pytest.raises(AuditError) as err:
        verify_checkpoint(high, {signer.key_id: public})
    assert err.value.reason is Reason.SIGNATURE_INVALID


@pytest.mark.parametrize("alg", [Algorithm.RSA_PKCS1V15_SHA256, Algorithm.RSA_PSS_SHA256])
def test_rsa_checkpoints(alg: Algorithm) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pad = (
        padding.PKCS1v15()
        if alg is Algorithm.RSA_PKCS1V15_SHA256
        else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    )
    signer = CheckpointSigner(
        lambda d: key.sign(d, pad, hashes.SHA256()), alg, (), key_id_for(key.public_key())
    )
    cp = signer.sign(3, ROOT, LAST, T0)
    verify_checkpoint(cp, {signer.key_id: key.public_key()})
    other = (
        Algorithm.RSA_PSS_SHA256 if alg is Algorithm.RSA_PKCS1V15_SHA256 else Algorithm.RSA_PKCS1V15_SHA256
    )
    data = signing_input(3, ROOT, LAST, cp.issued_at, cp.key_id, other.value)
    with pytest.raises(AuditError):  # the padding is bound to the named algorithm
        verify_signature(key.public_key(), other.value, cp.signature.value, data)


def test_algorithm_must_match_the_key() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(AuditError) as err:
        verify_signature(key.public_key(), Algorithm.ECDSA_P256_SHA256.value, key.sign(b"x"), b"x")
    assert err.value.reason is Reason.ALG_NOT_ALLOWED
    with pytest.raises(AuditError) as err:
        verify_signature(key.public_key(), "HMAC-SHA256", key.sign(b"x"), b"x")
    assert err.value.reason is Reason.ALG_NOT_ALLOWED


def test_key_id_is_the_spki_digest(audit_key: AuditKey) -> None:
    from cryptography.hazmat.primitives import serialization

    spki = audit_key.private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert audit_key.signer.key_id == hashlib.sha256(spki).hexdigest()


def test_the_role_outside_the_signature_must_be_the_seal(audit_key: AuditKey) -> None:
    cp = audit_key.signer.sign(5, ROOT, LAST, T0)
    raw = encode(cp)
    # fastavro reads a negative enum index as a valid symbol: flipping the role's index byte
    # (zigzag 1 -> -2) decodes to "official" with the signature still valid over the signed bytes
    at = raw.index(b"\x02\x0eEd25519")
    flipped = decode(raw[:at] + b"\x03" + raw[at + 1 :], Checkpoint)
    assert flipped.signature.role is SignerRole.OFFICIAL
    with pytest.raises(AuditError) as err:
        verify_checkpoint(flipped, audit_key.keys)
    assert err.value.reason is Reason.SIGNATURE_INVALID

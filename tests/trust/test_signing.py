"""Signature encoding helpers: ECDSA low-S and the token's raw r||s to DER."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from hypothesis import given
from hypothesis import strategies as st

from producers.keys import FileKeyProvider, SigningError, default_algorithm
from schemas.algorithms import P256_ORDER, Algorithm, low_s, raw_to_der
from schemas.errors import TrustError
from schemas.reasons import Reason
from schemas.signature import Signature, SignerRole
from tests.trust.conftest import DATA, Pki

scalars = st.integers(min_value=1, max_value=P256_ORDER - 1)


@given(r=scalars, s=scalars)
def test_low_s_keeps_r_and_folds_s(r: int, s: int) -> None:
    r2, s2 = decode_dss_signature(low_s(encode_dss_signature(r, s)))
    assert r2 == r and s2 <= P256_ORDER // 2 and s2 in (s, P256_ORDER - s)


@given(r=scalars, s=scalars)
def test_raw_to_der_round_trip(r: int, s: int) -> None:
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    r2, s2 = decode_dss_signature(raw_to_der(raw))
    assert r2 == r and s2 == min(s, P256_ORDER - s)


def test_raw_signature_of_the_wrong_size() -> None:
    with pytest.raises(ValueError):
        raw_to_der(b"\x01" * 63)


def test_folded_signature_still_verifies() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    for i in range(20):
        data = bytes([i]) * 10
        key.public_key().verify(
            low_s(key.sign(data, ec.ECDSA(hashes.SHA256()))), data, ec.ECDSA(hashes.SHA256())
        )


def test_default_algorithms(pki: Pki) -> None:
    assert default_algorithm(pki.rsa_seal.cert.public_key()) is Algorithm.RSA_PSS_SHA256
    assert default_algorithm(pki.seal.cert.public_key()) is Algorithm.ECDSA_P256_SHA256
    assert default_algorithm(pki.ed_seal.cert.public_key()) is Algorithm.ED25519


def test_provider_refuses_an_algorithm_that_does_not_fit(pki: Pki) -> None:
    assert pki.seal.key is not None
    with pytest.raises(SigningError):
        FileKeyProvider(pki.seal.key, pki.seal.chain, Algorithm.ED25519)


def test_provider_needs_a_chain() -> None:
    with pytest.raises(SigningError):
        FileKeyProvider(ec.generate_private_key(ec.SECP256R1()), [])
    with pytest.raises(SigningError):
        default_algorithm(object())


def test_small_rsa_is_refused_by_signer_and_verifier(pki: Pki) -> None:
    small = rsa.generate_private_key(65537, 1024)
    issued = pki.authority.issue_org("RS2", "Sở RS2", public_key=small.public_key())
    with pytest.raises(SigningError, match="1024"):
        FileKeyProvider(small, issued.chain)
    value = small.sign(DATA, padding.PKCS1v15(), hashes.SHA256())
    seal = Signature(
        role=SignerRole.ORGANIZATION,
        algorithm=Algorithm.RSA_PKCS1V15_SHA256.value,
        chain=[c.public_bytes(serialization.Encoding.DER) for c in issued.chain],
        signing_time=datetime.now(UTC),
        value=value,
    )
    with pytest.raises(TrustError) as info:
        pki.policy().verify_seal(DATA, [seal], "RS2", datetime.now(UTC))
    assert info.value.reason is Reason.ALG_NOT_ALLOWED

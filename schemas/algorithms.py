"""Which algorithm fits which key, and the raw signature check (docs/TRUST.md, "Algorithms").

ECDSA signatures must be DER ``(r, s)`` with ``s <= n/2`` (low-S): the high-S twin of a valid
signature is refused so a signature value is not malleable.
"""

from __future__ import annotations

from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from schemas.errors import TrustError
from schemas.reasons import Reason

__all__ = [
    "P256_ORDER",
    "Algorithm",
    "PublicKey",
    "check_key",
    "low_s",
    "parse_algorithm",
    "raw_to_der",
    "verify_raw",
]


class Algorithm(StrEnum):
    RSA_PKCS1V15_SHA256 = "RSA-PKCS1v15-SHA256"  # RSA >= 2048 bits
    RSA_PSS_SHA256 = "RSA-PSS-SHA256"  # RSA >= 2048 bits, MGF1-SHA256, salt length 32
    ECDSA_P256_SHA256 = "ECDSA-P256-SHA256"  # DER-encoded (r, s), low-S required
    ED25519 = "Ed25519"


PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_HALF_ORDER = P256_ORDER // 2
_SHA256 = hashes.SHA256()
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
_PKCS1 = padding.PKCS1v15()
_ECDSA = ec.ECDSA(hashes.SHA256())
_BY_NAME = {a.value: a for a in Algorithm}


def parse_algorithm(name: str) -> Algorithm:
    alg = _BY_NAME.get(name)
    if alg is None:
        raise TrustError(Reason.ALG_NOT_ALLOWED, f"unknown signature algorithm {name[:40]!r}")
    return alg


def check_key(alg: Algorithm, key: object, min_rsa_bits: int) -> PublicKey:
    """The key if ``alg`` may be used with it; ALG_NOT_ALLOWED otherwise."""
    if alg in (Algorithm.RSA_PKCS1V15_SHA256, Algorithm.RSA_PSS_SHA256):
        if isinstance(key, rsa.RSAPublicKey):
            if key.key_size < min_rsa_bits:
                raise TrustError(Reason.ALG_NOT_ALLOWED, f"RSA key of {key.key_size} bits < {min_rsa_bits}")
            return key
    elif alg is Algorithm.ECDSA_P256_SHA256:
        if isinstance(key, ec.EllipticCurvePublicKey):
            if not isinstance(key.curve, ec.SECP256R1):
                raise TrustError(Reason.ALG_NOT_ALLOWED, f"EC curve {key.curve.name} is not P-256")
            return key
    elif isinstance(key, ed25519.Ed25519PublicKey):
        return key
    raise TrustError(Reason.ALG_NOT_ALLOWED, f"{alg.value} does not match a {type(key).__name__}")


def verify_raw(alg: Algorithm, key: PublicKey, value: bytes, data: bytes) -> None:
    """Check ``value`` over ``data``; SIGNATURE_INVALID if it does not verify."""
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(value, data, _PSS if alg is Algorithm.RSA_PSS_SHA256 else _PKCS1, _SHA256)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            _require_low_s(value)
            key.verify(value, data, _ECDSA)
        else:
            key.verify(value, data)
    except InvalidSignature:
        raise TrustError(
            Reason.SIGNATURE_INVALID, "signature does not verify over the signing input"
        ) from None


def _require_low_s(value: bytes) -> None:
    try:
        _, s = decode_dss_signature(value)
    except ValueError:
        raise TrustError(Reason.SIGNATURE_INVALID, "ECDSA signature is not DER (r, s)") from None
    if s > _HALF_ORDER:
        raise TrustError(Reason.SIGNATURE_INVALID, "ECDSA signature is high-S (malleable form)")


def low_s(der: bytes) -> bytes:
    """The low-S form of a DER P-256 ECDSA signature (signers call this; OpenSSL may give high-S)."""
    r, s = decode_dss_signature(der)
    return encode_dss_signature(r, P256_ORDER - s) if s > _HALF_ORDER else der


def raw_to_der(raw: bytes) -> bytes:
    """PKCS#11 gives ECDSA as raw ``r || s``; docbus carries DER, low-S."""
    if len(raw) != 64:
        raise ValueError(f"P-256 raw signature must be 64 bytes, got {len(raw)}")
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    return low_s(encode_dss_signature(r, s))

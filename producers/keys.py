"""Signing keys on the node side: a ``KeyProvider`` port, the key-file provider, and signature blocks.

Every provider yields what the envelope carries: an algorithm id from ``schemas.algorithms``, the
DER chain leaf first, and signature bytes (ECDSA DER, low-S). Token keys: producers/pkcs11_key.py.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from schemas.algorithms import Algorithm, check_key, low_s
from schemas.errors import OperationError, TrustError
from schemas.reasons import Reason
from schemas.signature import Signature, SignerRole

__all__ = [
    "FileKeyProvider",
    "KeyProvider",
    "SigningError",
    "bind_chain",
    "default_algorithm",
    "make_signature",
    "sign_dual",
]

logger = logging.getLogger(__name__)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


class SigningError(OperationError):
    """A key cannot be loaded or cannot sign (wrong passphrase, token error, key/cert mismatch)."""

    REASON = Reason.KEY_UNAVAILABLE


@runtime_checkable
class KeyProvider(Protocol):
    @property
    def algorithm(self) -> Algorithm: ...

    @property
    def chain(self) -> list[bytes]: ...  # DER, leaf first

    def sign(self, data: bytes) -> bytes: ...


def default_algorithm(public_key: object) -> Algorithm:
    """RSA signs PSS (TT 15/2025 asks for it; verifiers accept v1.5 too), EC P-256 ECDSA, Ed25519."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return Algorithm.RSA_PSS_SHA256
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return Algorithm.ECDSA_P256_SHA256
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return Algorithm.ED25519
    raise SigningError(f"no docbus algorithm for a {type(public_key).__name__}")


def bind_chain(
    certs: Sequence[x509.Certificate | bytes], public_key: object, algorithm: Algorithm | None
) -> tuple[list[bytes], Algorithm]:
    """DER chain and the algorithm, after checking the leaf holds ``public_key`` and the algorithm fits."""
    if not certs:
        raise SigningError("a signing key needs its certificate chain")
    ders = [
        c.public_bytes(serialization.Encoding.DER) if isinstance(c, x509.Certificate) else c for c in certs
    ]
    leaf_key = x509.load_der_x509_certificate(ders[0]).public_key()
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf_key.public_bytes(*spki) != public_key.public_bytes(*spki):  # type: ignore[attr-defined]
        raise SigningError("the private key does not belong to the leaf certificate")
    alg = algorithm or default_algorithm(leaf_key)
    try:
        check_key(alg, leaf_key, 2048)
    except TrustError as exc:
        raise SigningError(exc.detail) from None
    return ders, alg


class FileKeyProvider:
    """A private key held in memory, loaded from an encrypted PKCS#8 PEM or a PKCS#12 file."""

    def __init__(
        self, key: PrivateKey, chain: Sequence[x509.Certificate | bytes], algorithm: Algorithm | None = None
    ) -> None:
        self._key = key
        self._chain, self._algorithm = bind_chain(chain, key.public_key(), algorithm)

    @property
    def algorithm(self) -> Algorithm:
        return self._algorithm

    @property
    def chain(self) -> list[bytes]:
        return list(self._chain)

    @classmethod
    def from_pem(
        cls, key_path: Path, chain_path: Path, passphrase: bytes | None, algorithm: Algorithm | None = None
    ) -> FileKeyProvider:
        """``chain_path``: PEM bundle, leaf first (the PKI writes ``org.pem`` this way)."""
        try:
            key = serialization.load_pem_private_key(Path(key_path).read_bytes(), passphrase)
            certs = x509.load_pem_x509_certificates(Path(chain_path).read_bytes())
        except (ValueError, TypeError, OSError) as exc:
            raise SigningError(f"cannot load {key_path}: {exc}") from None
        if not isinstance(key, PrivateKey):
            raise SigningError(f"{key_path}: unsupported key type {type(key).__name__}")
        return cls(key, certs, algorithm)

    @classmethod
    def from_pkcs12(
        cls, path: Path, passphrase: bytes | None, algorithm: Algorithm | None = None
    ) -> FileKeyProvider:
        try:
            bundle = pkcs12.load_pkcs12(Path(path).read_bytes(), passphrase)
        except (ValueError, TypeError, OSError) as exc:
            raise SigningError(f"cannot load {path}: {exc}") from None
        key = bundle.key
        if bundle.cert is None or not isinstance(key, PrivateKey):
            raise SigningError(f"{path}: needs a supported private key and its certificate")
        return cls(
            key, [bundle.cert.certificate, *(c.certificate for c in bundle.additional_certs)], algorithm
        )

    def sign(self, data: bytes) -> bytes:
        key, alg = self._key, self._algorithm
        if isinstance(key, rsa.RSAPrivateKey):
            pad = _PSS if alg is Algorithm.RSA_PSS_SHA256 else padding.PKCS1v15()
            return key.sign(data, pad, hashes.SHA256())
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return low_s(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return key.sign(data)


def make_signature(
    provider: KeyProvider, role: SignerRole, data: bytes, at: datetime | None = None
) -> Signature:
    """The signature block for ``data`` (the canonical signing input) signed now or ``at``."""
    when = (at or datetime.now(UTC)).astimezone(UTC)
    try:
        value = provider.sign(data)
    except SigningError:
        raise
    except Exception as exc:  # token and library errors reach the caller as one type
        raise SigningError(f"{role.value} key failed to sign: {exc!r}") from exc
    return Signature(
        role=role, algorithm=provider.algorithm.value, chain=provider.chain, signing_time=when, value=value
    )


def staple(signatures: Sequence[Signature], ocsp: Mapping[SignerRole, Sequence[bytes]]) -> list[Signature]:
    """The signatures with the DER OCSP responses each signer's CA gave it (envelope.v4). Stapling
    changes no signed byte: signatures are outside the signing input."""
    return [s.model_copy(update={"ocsp": list(ocsp.get(s.role, ()))}) for s in signatures]


def sign_dual(
    official: KeyProvider, organization: KeyProvider, data: bytes, at: datetime | None = None
) -> list[Signature]:
    """Both signatures a document needs (ND 30, Art. 5): the official's, then the organisation seal."""
    when = at or datetime.now(UTC)
    return [
        make_signature(official, SignerRole.OFFICIAL, data, when),
        make_signature(organization, SignerRole.ORGANIZATION, data, when),
    ]

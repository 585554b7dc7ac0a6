"""Signed checkpoints (tree heads) over the audit log, and their verification (docs/AUDIT.md).

The audit key signs fixed-width bytes with their own context string, never a re-encoding::

    b"docbus/checkpoint/v1\\n" || tree_size (u64 BE) || root_hash (32) || last_hash (32)
      || issued_at (i64 BE, Unix milliseconds) || key_id (64 ASCII hex)
      || SHA-256(for each certificate: u32 BE length || DER) || len(alg) (u8) || alg (ASCII)

so ``openssl pkeyutl -verify`` can check a checkpoint from this description alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from consumers.audit.core.errors import AuditError
from consumers.trust.config import TrustConfig
from schemas.algorithms import Algorithm, PublicKey, check_key, parse_algorithm, verify_raw
from schemas.audit import HASH_SIZE, Checkpoint
from schemas.errors import TrustError
from schemas.reasons import Reason
from schemas.signature import Signature, SignerRole

__all__ = [
    "CHECKPOINT_CONTEXT",
    "AuditPublicKey",
    "CheckpointSigner",
    "chain_digest",
    "key_id_for",
    "signing_input",
    "verify_checkpoint",
    "verify_signature",
]

CHECKPOINT_CONTEXT = b"docbus/checkpoint/v1\n"
AuditPublicKey = PublicKey
_MIN_RSA_BITS = TrustConfig().min_rsa_bits  # the floor every signer's own key is held to
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def key_id_for(public_key: AuditPublicKey) -> str:
    """Hex SHA-256 of the key's SubjectPublicKeyInfo DER (what ``Checkpoint.key_id`` holds)."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def chain_digest(chain: Sequence[bytes]) -> bytes:
    """SHA-256 over the certificates, each as u32 BE length || DER: binds the chain to the signature."""
    return hashlib.sha256(b"".join(len(der).to_bytes(4, "big") + der for der in chain)).digest()


def signing_input(
    tree_size: int,
    root_hash: bytes,
    last_hash: bytes,
    issued_at: datetime,
    key_id: str,
    algorithm: str,
    chain: Sequence[bytes] = (),
) -> bytes:
    if len(root_hash) != HASH_SIZE or len(last_hash) != HASH_SIZE or len(key_id) != 64:
        raise ValueError("hashes are 32 bytes and key_id 64 hex characters")
    alg = algorithm.encode("ascii")
    millis = (issued_at - _EPOCH) // timedelta(milliseconds=1)  # exact: no float rounding
    return b"".join(
        (
            CHECKPOINT_CONTEXT,
            tree_size.to_bytes(8, "big"),
            root_hash,
            last_hash,
            millis.to_bytes(8, "big", signed=True),
            key_id.encode("ascii"),
            chain_digest(chain),
            len(alg).to_bytes(1, "big"),
            alg,
        )
    )


def _input_of(cp: Checkpoint) -> bytes:
    sig = cp.signature
    return signing_input(
        cp.tree_size, cp.root_hash, cp.last_hash, cp.issued_at, cp.key_id, sig.algorithm, sig.chain
    )


@dataclass(frozen=True, slots=True)
class CheckpointSigner:
    """The audit key as a callable (a key file or a PKCS#11 token behind it) plus its certificate."""

    sign_bytes: Callable[[bytes], bytes]
    algorithm: Algorithm
    chain: Sequence[bytes]  # DER, audit certificate first
    key_id: str

    @classmethod
    def from_certificate(
        cls, sign_bytes: Callable[[bytes], bytes], algorithm: Algorithm, chain: Sequence[bytes]
    ) -> CheckpointSigner:
        leaf = x509.load_der_x509_certificate(chain[0]).public_key()
        if not isinstance(leaf, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
            raise ValueError("the audit certificate holds an unsupported key type")
        return cls(sign_bytes, algorithm, tuple(chain), key_id_for(leaf))

    def sign(self, tree_size: int, root_hash: bytes, last_hash: bytes, issued_at: datetime) -> Checkpoint:
        if issued_at.tzinfo is None:
            raise ValueError("issued_at must be timezone-aware")
        # Avro keeps milliseconds: sign exactly what will be stored
        at = issued_at.astimezone(UTC)
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)
        data = signing_input(
            tree_size, root_hash, last_hash, at, self.key_id, self.algorithm.value, self.chain
        )
        signature = Signature(
            role=SignerRole.ORGANIZATION,
            algorithm=self.algorithm.value,
            chain=list(self.chain),
            signing_time=at,
            value=self.sign_bytes(data),
        )
        return Checkpoint(
            tree_size=tree_size,
            root_hash=root_hash,
            last_hash=last_hash,
            issued_at=at,
            key_id=self.key_id,
            signature=signature,
        )


def verify_signature(public_key: AuditPublicKey, algorithm: str, signature: bytes, data: bytes) -> None:
    """A signature of the audit key (checkpoints, record seals), checked by the same algorithm rules
    as every other signature (``schemas.algorithms``: algorithm names, key fit, low-S ECDSA, RSA
    sizes). Returns nothing or raises AuditError carrying the trust core's reason."""
    try:
        alg = parse_algorithm(algorithm)
        verify_raw(alg, check_key(alg, public_key, _MIN_RSA_BITS), signature, data)
    except TrustError as exc:
        raise AuditError(exc.reason, exc.detail) from exc
    except ValueError as exc:  # a signature value the key type cannot even parse
        raise AuditError(Reason.SIGNATURE_INVALID, f"malformed signature: {exc}") from exc


def verify_checkpoint(checkpoint: Checkpoint, keys: Mapping[str, AuditPublicKey]) -> None:
    """Check a checkpoint's signature against the pinned audit keys (key_id -> public key)."""
    key = keys.get(checkpoint.key_id)
    if key is None:
        raise AuditError(
            Reason.UNTRUSTED_CHAIN, f"checkpoint signed by unknown audit key {checkpoint.key_id}"
        )
    sig = checkpoint.signature
    if sig.role is not SignerRole.ORGANIZATION:
        # the role is outside the signed bytes; the audit key seals (and fastavro reads a negative
        # enum index as a valid symbol, so a flipped bit there must not pass unnoticed)
        raise AuditError(Reason.SIGNATURE_INVALID, f"checkpoint signed in role {sig.role.value}, not a seal")
    if sig.signing_time != checkpoint.issued_at:
        raise AuditError(Reason.SIGNATURE_INVALID, "signing_time differs from issued_at")
    verify_signature(key, sig.algorithm, sig.value, _input_of(checkpoint))  # covers the chain too
    if sig.chain:
        try:
            leaf = x509.load_der_x509_certificate(sig.chain[0]).public_key()
        except (ValueError, x509.InvalidVersion, UnsupportedAlgorithm) as exc:
            raise AuditError(Reason.UNTRUSTED_CHAIN, f"bad audit certificate: {exc}") from None
        if not isinstance(leaf, AuditPublicKey) or key_id_for(leaf) != checkpoint.key_id:
            raise AuditError(Reason.UNTRUSTED_CHAIN, "audit certificate does not hold the key_id key")

"""Record seals: the writer's signature on each record it writes (docs/AUDIT.md §2a).

Anyone who can write the audit topic can append a record that chains correctly; only the writer
holds the audit key. The writer signs every record it stores, and the seal travels beside the
stored bytes (the Kafka header ``docbus_audit_seal``, an archive entry's ``seal``), never inside
them, so ``record_hash`` and the Avro schema are unchanged. The signed bytes::

    b"docbus/audit-seal/v1\\n" || len(alg) (u8) || alg (ASCII) || genesis (32) || record_hash (32)

``genesis`` is the record hash of the log's record 0 (for record 0 itself, its own hash): a seal
never verifies in another log signed with the same key. The seal's bytes::

    len(alg) (u8) || alg (ASCII) || key_id (32 bytes, SHA-256 of the key's SubjectPublicKeyInfo) || signature
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from consumers.audit.core.checkpoint import AuditPublicKey, CheckpointSigner, verify_signature
from consumers.audit.core.errors import AuditError
from schemas.audit import HASH_SIZE
from schemas.reasons import Reason

__all__ = ["SEAL_CONTEXT", "SEAL_HEADER", "RecordSealer", "seal_input", "seal_verifies"]

SEAL_HEADER = "docbus_audit_seal"
SEAL_CONTEXT = b"docbus/audit-seal/v1\n"
_MAX_SEAL = 1024  # an RSA-4096 signature plus the prefix fits well below


def seal_input(algorithm: str, genesis: bytes, record_hash: bytes) -> bytes:
    if len(genesis) != HASH_SIZE or len(record_hash) != HASH_SIZE:
        raise ValueError("genesis and record hash are 32 bytes")
    alg = algorithm.encode("ascii")
    return SEAL_CONTEXT + len(alg).to_bytes(1, "big") + alg + genesis + record_hash


@dataclass(frozen=True, slots=True)
class RecordSealer:
    """Seals records with the audit key (the checkpoint signer's key)."""

    signer: CheckpointSigner

    def seal(self, genesis: bytes, record_hash: bytes) -> bytes:
        alg = self.signer.algorithm.value
        value = self.signer.sign_bytes(seal_input(alg, genesis, record_hash))
        return bytes([len(alg)]) + alg.encode("ascii") + bytes.fromhex(self.signer.key_id) + value


def _open(seal: bytes) -> tuple[str, str, bytes]:
    if not 1 < len(seal) <= _MAX_SEAL:
        raise AuditError(Reason.MALFORMED, "record seal of impossible length")
    n = seal[0]
    if len(seal) < 1 + n + HASH_SIZE + 1:
        raise AuditError(Reason.MALFORMED, "record seal truncated")
    try:
        alg = seal[1 : 1 + n].decode("ascii")
    except UnicodeDecodeError:
        raise AuditError(Reason.MALFORMED, "record seal algorithm is not ASCII") from None
    key_id = seal[1 + n : 1 + n + HASH_SIZE].hex()
    return alg, key_id, seal[1 + n + HASH_SIZE :]


def seal_verifies(
    seal: bytes | None, genesis: bytes, record_hash: bytes, keys: Mapping[str, AuditPublicKey]
) -> bool:
    """True only for a seal made by one of ``keys`` over this record of this log."""
    if seal is None:
        return False
    try:
        alg, key_id, value = _open(seal)
        key = keys.get(key_id)
        if key is None:
            return False
        verify_signature(key, alg, value, seal_input(alg, genesis, record_hash))
    except AuditError:
        return False
    return True

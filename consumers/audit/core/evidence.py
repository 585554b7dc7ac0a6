"""Evidence bundles: one envelope's story, provable offline without a broker (docs/AUDIT.md).

A bundle (``schemas.audit.Evidence``, Avro single-object encoded) holds the exact envelope bytes,
the certificate chains and CRLs used, the receipts, the audit records about the envelope, each with
an RFC 9162 inclusion proof, and the signed checkpoint the proofs lead to. ``verify_evidence``
checks the audit side itself and hands the envelope, chains, CRLs and receipts to the caller's
``check_envelope`` for signature and chain validation (the trust module), so this stays pure.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from consumers.audit.core.chain import record_hash
from consumers.audit.core.checkpoint import AuditPublicKey, verify_checkpoint
from consumers.audit.core.errors import AuditError
from consumers.audit.core.merkle import MerkleTree, leaf_hash
from consumers.audit.core.proofs import verify_inclusion
from schemas.audit import AuditEvent, AuditRecord, Checkpoint, Evidence, ProvenRecord
from schemas.codec import decode, encode
from schemas.errors import ContractError
from schemas.reasons import Reason

__all__ = ["EnvelopeCheck", "EvidenceReport", "build_evidence", "verify_evidence"]

logger = logging.getLogger(__name__)

# Called with the decoded bundle; raises (its own domain error) to reject the envelope.
EnvelopeCheck = Callable[[Evidence], None]
_M = TypeVar("_M", Evidence, Checkpoint, AuditRecord)


@dataclass(frozen=True, slots=True)
class EvidenceReport:
    message_id: str
    stored_hash: bytes
    records: tuple[AuditRecord, ...]  # in index order
    checkpoint: Checkpoint
    envelope_checked: bool  # False when no check_envelope was given: signatures NOT verified


def build_evidence(
    *,
    envelope: bytes,
    records: Sequence[bytes],
    tree: MerkleTree,
    checkpoint: bytes,
    chains: Sequence[Sequence[bytes]] = (),
    crls: Sequence[bytes] = (),
    receipts: Sequence[bytes] = (),
    created_at: datetime,
) -> bytes:
    """Assemble a bundle; ``tree`` holds the log's leaves at least up to the checkpoint's size."""
    size = _decode(checkpoint, Checkpoint, "checkpoint").tree_size
    proven = []
    for stored in records:
        index = _decode(stored, AuditRecord, "audit record").index
        proven.append(ProvenRecord(record=stored, proof=tree.inclusion_proof(index, size)))
    bundle = Evidence(
        envelope=envelope,
        chains=[list(c) for c in chains],
        crls=list(crls),
        receipts=list(receipts),
        checkpoint=checkpoint,
        records=proven,
        created_at=created_at,
    )
    return encode(bundle)


def verify_evidence(
    bundle: bytes,
    keys: Mapping[str, AuditPublicKey],
    *,
    check_envelope: EnvelopeCheck | None = None,
) -> EvidenceReport:
    """Returns what the bundle proves or raises AuditError; ``check_envelope``'s errors propagate."""
    evidence = _decode(bundle, Evidence, "evidence bundle")
    checkpoint = _decode(evidence.checkpoint, Checkpoint, "checkpoint")
    verify_checkpoint(checkpoint, keys)
    digest = hashlib.sha256(evidence.envelope).digest()
    records = []
    for proven in evidence.records:
        record = _decode(proven.record, AuditRecord, "audit record")
        leaf = leaf_hash(record_hash(proven.record))
        verify_inclusion(leaf, record.index, checkpoint.tree_size, proven.proof, checkpoint.root_hash)
        records.append(record)
    records.sort(key=lambda r: r.index)
    _bind(records, digest, evidence.receipts)
    _bind_trust(records, evidence)
    if check_envelope is not None:
        check_envelope(evidence)
    return EvidenceReport(
        records[0].message_id, digest, tuple(records), checkpoint, check_envelope is not None
    )


def _bind(records: Sequence[AuditRecord], digest: bytes, receipts: Sequence[bytes]) -> None:
    """The proven records must all be about this envelope, and vouch for every receipt."""
    ids = {r.message_id for r in records}
    if len(ids) != 1:
        raise AuditError(Reason.DIGEST_MISMATCH, f"records about several messages: {sorted(ids)}")
    if len({r.index for r in records}) != len(records):
        raise AuditError(Reason.DIGEST_MISMATCH, "the same audit record appears twice")
    hashes = {r.stored_hash for r in records if r.stored_hash is not None}
    if hashes != {digest}:
        raise AuditError(Reason.DIGEST_MISMATCH, "the envelope is not the one the audit records name")
    logged = {r.receipt_hash for r in records if r.event is AuditEvent.RECEIPT}
    for i, receipt in enumerate(receipts):
        if hashlib.sha256(receipt).digest() not in logged:
            raise AuditError(Reason.DIGEST_MISMATCH, f"receipt {i} is not in the proven audit records")


def _bind_trust(records: Sequence[AuditRecord], evidence: Evidence) -> None:
    """Certificates and CRLs count only if a proven decision record names them by hash."""
    named = {h for r in records for h in r.trust_hashes}
    items = [("certificate", der) for chain in evidence.chains for der in chain]
    items += [("CRL", der) for der in evidence.crls]
    for what, der in items:
        if hashlib.sha256(der).digest() not in named:
            raise AuditError(Reason.DIGEST_MISMATCH, f"a {what} no proven audit record relied on")


def _decode(data: bytes, model: type[_M], what: str) -> _M:
    try:
        return decode(data, model)
    except ContractError as exc:
        raise AuditError(Reason.MALFORMED, f"{what}: {exc.detail}") from exc

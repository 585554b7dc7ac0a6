"""Log verification with the audit key validated by the trust core, not merely pinned.

``verify_log`` checks checkpoint signatures under pinned keys (key_id -> public key). Here the keys
come from the checkpoints themselves, each accepted only if its certificate chain validates to the
PKI's anchors for the audit purpose (``TrustPolicy.verify_seal(..., purpose=Purpose.AUDIT)``: the
audit EKU and policy, the org code, revocation, validity at ``issued_at``). A checkpoint whose
certificate fails is a CHECKPOINT_SIGNATURE fault at its own position, reported if it comes before
the walk's first fault.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from cryptography import x509

from consumers.audit.core.checkpoint import AuditPublicKey, key_id_for, signing_input
from consumers.audit.core.errors import AuditError
from consumers.audit.core.report import Fault, FaultKind, VerifyReport
from consumers.audit.core.verify import verify_log
from consumers.trust import Purpose, TrustError, TrustPolicy
from schemas.audit import Checkpoint
from schemas.codec import decode
from schemas.errors import ContractError
from schemas.reasons import Reason

__all__ = ["checkpoint_keys", "trusted_checkpoint", "verify_trusted"]


def trusted_checkpoint(cp: Checkpoint, policy: TrustPolicy, org: str, now: datetime) -> AuditPublicKey:
    """The audit key of a checkpoint whose signature and certificate chain the trust core accepts.
    Raises TrustError (certificate or signature) or AuditError (a key type checkpoints never use)."""
    sig = cp.signature
    data = signing_input(
        cp.tree_size, cp.root_hash, cp.last_hash, cp.issued_at, cp.key_id, sig.algorithm, sig.chain
    )
    policy.verify_seal(data, [sig], org, now, purpose=Purpose.AUDIT)
    key = x509.load_der_x509_certificate(sig.chain[0]).public_key()  # validated just above
    if not isinstance(key, AuditPublicKey) or key_id_for(key) != cp.key_id:
        raise AuditError(Reason.UNTRUSTED_CHAIN, "audit certificate does not hold the key_id key")
    return key


def checkpoint_keys(
    checkpoints: Sequence[bytes], policy: TrustPolicy, org: str, now: datetime
) -> tuple[dict[str, AuditPublicKey], list[Fault]]:
    """Keys of the checkpoints that pass the trust core, and a fault for each that does not.
    Undecodable checkpoints are left to verify_log (a DECODE fault)."""
    keys: dict[str, AuditPublicKey] = {}
    faults: list[Fault] = []
    for i, data in enumerate(checkpoints):
        try:
            cp = decode(data, Checkpoint)
        except ContractError:
            continue
        try:
            keys[cp.key_id] = trusted_checkpoint(cp, policy, org, now)
        except (TrustError, AuditError) as exc:
            where = max(cp.tree_size - 1, 0)
            msg = f"checkpoint {i}: audit certificate refused: {exc}"
            faults.append(Fault(FaultKind.CHECKPOINT_SIGNATURE, where, msg, i))
    return keys, faults


def verify_trusted(
    records: Iterable[bytes],
    checkpoints: Sequence[bytes],
    policy: TrustPolicy,
    *,
    org: str,
    now: datetime,
    decode_records: bool = True,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """verify_log with trust-validated audit keys; the earliest fault of either kind wins.
    An AuditError raised by ``records`` (a damaged archive) propagates."""
    keys, faults = checkpoint_keys(checkpoints, policy, org, now)
    report = verify_log(records, checkpoints, keys, decode=decode_records, progress=progress)
    if not faults:
        return report
    first = min(faults, key=lambda f: f.position or 0)
    walk = report.fault
    if walk is None or (walk.position is not None and (first.position or 0) <= walk.position):
        verified = min(report.records, first.position or 0)
        return VerifyReport(False, verified, report.checkpoints, report.last_hash, first)
    return report

"""Log verification with the audit key validated by the trust core, not merely pinned.

``verify_log`` checks checkpoint signatures under pinned keys (key_id -> public key). Here the keys
come from the checkpoints themselves, each accepted only if its certificate chain validates to the
PKI's anchors for the audit purpose (``TrustPolicy.verify_seal(..., purpose=Purpose.AUDIT)``: the
audit EKU and policy, the org code, revocation, validity at ``issued_at``). A checkpoint whose
certificate fails is a CHECKPOINT_SIGNATURE fault at its own position, reported if it comes before
the walk's first fault.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from cryptography import x509

from consumers.audit.core.checkpoint import AuditPublicKey, key_id_for, signing_input
from consumers.audit.core.errors import AuditError
from consumers.audit.core.report import Fault, FaultKind, VerifyReport
from consumers.audit.core.sieve import Stored
from consumers.audit.core.verify import verify_sealed
from consumers.trust import Purpose, TrustError, TrustPolicy
from consumers.trust.chain import check_times
from consumers.trust.leaf import check_purpose, org_binds
from schemas.audit import Checkpoint
from schemas.codec import decode
from schemas.errors import ContractError
from schemas.reasons import Reason

__all__ = ["audit_keys", "checkpoint_keys", "trusted_audit_key", "trusted_checkpoint", "verify_trusted"]

logger = logging.getLogger(__name__)


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


def trusted_audit_key(chain: Sequence[bytes], policy: TrustPolicy, org: str, now: datetime) -> AuditPublicKey:
    """The key of an audit certificate (DER chain, leaf first) the trust core accepts for the audit
    purpose now: what checks record seals before any checkpoint names the key."""
    validated = policy.chains.get(chain, now=now)
    if Purpose.AUDIT not in validated.purposes:
        raise TrustError(Reason.ANCHOR_NOT_ALLOWED, "the path's anchor is not trusted for audit signing")
    check_purpose(validated.leaf, Purpose.AUDIT)
    if not org_binds(validated.leaf.org_code, org, Purpose.AUDIT):
        raise TrustError(Reason.ORG_MISMATCH, f"audit certificate is not {org}'s")
    check_times(validated, now, now, policy.config)
    key = validated.key
    if not isinstance(key, AuditPublicKey):
        raise AuditError(Reason.ALG_NOT_ALLOWED, "the audit certificate holds an unsupported key type")
    return key


def audit_keys(
    checkpoints: Sequence[bytes],
    policy: TrustPolicy,
    *,
    org: str,
    now: datetime,
    certificates: Sequence[Sequence[bytes]] = (),
) -> dict[str, AuditPublicKey]:
    """The audit keys that may seal records: those of the checkpoints the trust core accepts, plus
    the given audit certificates (the PKI folder's, for a log no checkpoint covers yet)."""
    keys, _ = checkpoint_keys(checkpoints, policy, org, now)
    for chain in certificates:
        try:
            key = trusted_audit_key(chain, policy, org, now)
        except (TrustError, AuditError) as exc:
            logger.warning("audit certificate refused: %s", exc)
            continue
        keys[key_id_for(key)] = key
    return keys


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
    records: Iterable[Stored | bytes],
    checkpoints: Sequence[bytes],
    policy: TrustPolicy,
    *,
    org: str,
    now: datetime,
    certificates: Sequence[Sequence[bytes]] = (),
    decode_records: bool = True,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """verify_sealed with trust-validated audit keys (the checkpoints' and ``certificates``); the
    earliest fault of either kind wins. An AuditError raised by ``records`` (a damaged archive)
    propagates."""
    keys, faults = checkpoint_keys(checkpoints, policy, org, now)
    keys.update(audit_keys([], policy, org=org, now=now, certificates=certificates))
    report = verify_sealed(records, checkpoints, keys, decode=decode_records, progress=progress)
    if not faults:
        return report
    first = min(faults, key=lambda f: f.position or 0)
    walk = report.fault
    if walk is None or (walk.position is not None and (first.position or 0) <= walk.position):
        verified = min(report.records, first.position or 0)
        return VerifyReport(False, verified, report.checkpoints, report.last_hash, first, report.foreign)
    return report

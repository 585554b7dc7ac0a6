"""Evidence bundles from the running bus, and their offline check with the trust core
(``docbus evidence``; the format and the audit-side checks are consumers/audit/core/evidence.py).

Building reads the log, the newest checkpoint, the envelope from docbus.ingress and the receipts
from docbus.receipts at the positions the audit records name (each must hash to what the record
says), and adds the certificates (the envelope's and receipts' chains plus the anchor) and the CRLs
of the PKI folder that a proven decision record names in ``trust_hashes``.

Checking needs no broker and no network. The trust anchors come from the verifier's own PKI folder
(``ca/root.pem``) or a file it names, never from the bundle (an anchor in the bundle would vouch for
itself). The CRLs are the bundle's: the envelope's signatures are checked as of the ACCEPTED
decision's time, each receipt's seal as of its RECEIPT record's time, the checkpoint's audit
certificate as of ``issued_at`` (with the verifier's CRLs added, for a checkpoint signed later).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from consumers.audit.config import AuditConfig
from consumers.audit.core.errors import AuditError
from consumers.audit.core.evidence import EvidenceReport, build_evidence, verify_evidence
from consumers.audit.core.log import AuditLog
from consumers.audit.core.trusted import trusted_checkpoint
from consumers.audit.kafka.kafka_io import fetch_at
from consumers.audit.kafka.logview import load_log
from consumers.trust import TrustPolicy, TrustStore
from schemas.audit import AuditEvent, AuditRecord, Checkpoint, Evidence
from schemas.canonical import envelope_signing_input, receipt_signing_input
from schemas.codec import decode
from schemas.connection import KafkaConnection
from schemas.envelope import parse_envelope
from schemas.errors import ContractError
from schemas.reasons import Reason
from schemas.receipt import parse_receipt

__all__ = ["build_bundle", "pki_anchors", "pki_crls", "verify_bundle"]


def pki_crls(pki: Path) -> list[bytes]:
    """The CRLs (DER) published in ``<pki>/crl``."""
    folder = pki / "crl"
    out = []
    for path in sorted(folder.glob("*.pem")) if folder.is_dir() else ():
        out.append(x509.load_pem_x509_crl(path.read_bytes()).public_bytes(Encoding.DER))
    return out


def pki_anchors(path: Path) -> list[bytes]:
    """Anchors (DER) from a PKI folder (``ca/root.pem``) or a PEM file of certificates."""
    file = path / "ca" / "root.pem" if path.is_dir() else path
    return [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(file.read_bytes())]


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


async def build_bundle(
    settings: AuditConfig,
    kafka: KafkaConnection,
    message_id: str,
    *,
    now: datetime,
    policy: TrustPolicy | None = None,
) -> bytes:
    """The evidence bundle of one message, from the writer's records only (foreign ones are
    sieved out with the audit keys ``policy`` accepts; default: the PKI folder's anchors and CRLs).
    LookupError when something it needs is not on the bus (no record, no covering checkpoint yet,
    envelope gone); AuditError if the log disagrees with its checkpoint."""
    if policy is None:
        policy = TrustPolicy(TrustStore(anchors=pki_anchors(settings.pki), crls=pki_crls(settings.pki)))
    view = await load_log(settings, kafka, policy, now=now)
    about = [(s, r) for s, r in view.about(message_id) if r.message_id == message_id]
    if not about:
        raise LookupError(f"no audit record about message {message_id}")
    newest = view.newest_checkpoint()
    last = max(r.index for _, r in about)
    if newest is None or newest[1].tree_size <= last:
        raise LookupError(f"no checkpoint covers audit record {last} yet: run `docbus audit checkpoint`")
    cp_bytes, cp = newest
    log = AuditLog.replay(view.stored[: cp.tree_size])
    if log.tree.root() != cp.root_hash:
        raise AuditError(Reason.DIGEST_MISMATCH, "the log is not the one the checkpoint signed: run verify")
    records = [r for _, r in about]
    envelope = await _fetch_envelope(settings, kafka, records)
    receipts = await _fetch_receipts(kafka, records)
    named = {h for r in records for h in r.trust_hashes}
    anchors = [a for a in pki_anchors(settings.pki) if _sha(a) in named]
    chains = []
    for sig in [
        *parse_envelope(envelope).signatures,
        *(s for r in receipts for s in parse_receipt(r).signatures),
    ]:
        chain = [*sig.chain, *anchors]
        if all(_sha(der) in named for der in chain) and chain not in chains:
            chains.append(chain)
    crls = [c for c in pki_crls(settings.pki) if _sha(c) in named]
    return build_evidence(
        envelope=envelope, records=[s for s, _ in about], tree=log.tree, checkpoint=cp_bytes,
        chains=chains, crls=crls, receipts=receipts, created_at=now,
    )  # fmt: skip


async def _fetch_envelope(
    settings: AuditConfig, kafka: KafkaConnection, records: Sequence[AuditRecord]
) -> bytes:
    wanted = [r for r in records if r.stored_hash is not None and r.source is not None]
    wanted = [r for r in wanted if r.source is not None and r.source.topic == settings.ingress_topic]
    if not wanted:
        raise LookupError("no audit record names the envelope's ingress position")
    positions = {r.source for r in wanted if r.source is not None}
    fetched = await fetch_at(kafka, positions)
    for rec in wanted:
        msg = fetched.get(rec.source) if rec.source is not None else None
        if msg is not None and _sha(msg.value) == rec.stored_hash:
            return msg.value
    raise LookupError("the envelope is no longer on the ingress topic as recorded")


async def _fetch_receipts(kafka: KafkaConnection, records: Sequence[AuditRecord]) -> list[bytes]:
    wanted = [r for r in records if r.event is AuditEvent.RECEIPT and r.source and r.receipt_hash]
    fetched = await fetch_at(kafka, [r.source for r in wanted if r.source is not None])
    out = []
    for rec in wanted:
        msg = fetched.get(rec.source) if rec.source is not None else None
        if msg is None or _sha(msg.value) != rec.receipt_hash:
            raise LookupError(f"receipt of audit record {rec.index} is not on {rec.source} as recorded")
        if msg.value not in out:
            out.append(msg.value)
    return out


def verify_bundle(
    bundle: bytes, anchors: Sequence[bytes], *, audit_org: str = "G03", crls: Sequence[bytes] = ()
) -> EvidenceReport:
    """Offline: raises AuditError (audit side), TrustError (a signature or certificate) or
    ContractError (an envelope or receipt that does not decode); returns the report otherwise.
    ``crls``: the verifier's own CRLs, used for the checkpoint's audit certificate only."""
    try:
        evidence = decode(bundle, Evidence)
        cp = decode(evidence.checkpoint, Checkpoint)
    except ContractError as exc:
        raise AuditError(Reason.MALFORMED, f"evidence bundle: {exc.detail}") from exc
    cp_policy = TrustPolicy(TrustStore(anchors=list(anchors), crls=[*evidence.crls, *crls]))
    keys = {cp.key_id: trusted_checkpoint(cp, cp_policy, audit_org, cp.issued_at)}
    return verify_evidence(bundle, keys, check_envelope=lambda ev: _check_signatures(ev, anchors))


def _check_signatures(evidence: Evidence, anchors: Sequence[bytes]) -> None:
    # runs after verify_evidence proved every record, so their times can be trusted here
    policy = TrustPolicy(TrustStore(anchors=list(anchors), crls=list(evidence.crls)))
    records = [decode(p.record, AuditRecord) for p in evidence.records]
    env = parse_envelope(evidence.envelope)
    decided = [r.at for r in records if r.event is AuditEvent.ACCEPTED]
    if decided:  # a rejected envelope may well have bad signatures: that was the decision
        policy.verify_document(envelope_signing_input(env), env.signatures, env.sender.code, now=decided[0])
    times = {r.receipt_hash: r.at for r in records if r.event is AuditEvent.RECEIPT}
    for raw in evidence.receipts:
        receipt = parse_receipt(raw)
        at = times[_sha(raw)]  # present: verify_evidence bound every receipt to a RECEIPT record
        policy.verify_seal(receipt_signing_input(receipt), receipt.signatures, receipt.from_org, at)

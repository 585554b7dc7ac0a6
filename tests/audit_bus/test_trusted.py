"""Checkpoint keys come from certificates the trust core accepts for the audit purpose."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from consumers.audit.core.chain import AuditChain
from consumers.audit.core.checkpoint import CheckpointSigner
from consumers.audit.core.merkle import MerkleTree
from consumers.audit.core.trusted import verify_trusted
from consumers.audit.kafka.service import load_signer
from docbus.pki_folder import trust_policy_from_pki
from infra.pki import Authority
from producers.keys import FileKeyProvider
from schemas.audit import AuditEvent
from schemas.codec import encode

PASS = b"trusted-test"


def _log(n: int) -> tuple[list[bytes], MerkleTree, bytes]:
    chain, tree, stored = AuditChain(), MerkleTree(), []
    for i in range(n):
        a = chain.append(AuditEvent.SUBMITTED, message_id=f"m-{i}", sender="G03", at=datetime.now(UTC))
        stored.append(a.stored)
        tree.append(a.hash)
    return stored, tree, chain.last_hash


def _sign(signer: CheckpointSigner, n: int, tree: MerkleTree, last: bytes) -> bytes:
    return encode(signer.sign(n, tree.root(n), last, datetime.now(UTC)))


def test_audit_certificate_accepted_document_seal_and_revoked_certificate_refused(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    ca = Authority.init(pki, PASS)
    ca.issue_audit()
    ca.issue_org("G03.U001", "Trường Đại học Sư phạm Hà Nội")
    stored, tree, last = _log(5)
    good = _sign(load_signer(pki, PASS), 5, tree, last)
    now = datetime.now(UTC)

    report = verify_trusted(stored, [good], trust_policy_from_pki(pki), org="G03", now=now)
    assert report.ok and report.checkpoints == 1

    seal = FileKeyProvider.from_pem(
        pki / "issued/G03.U001/org.key.pem", pki / "issued/G03.U001/org.pem", PASS
    )
    forged = _sign(CheckpointSigner.from_certificate(seal.sign, seal.algorithm, seal.chain), 5, tree, last)
    report = verify_trusted(stored, [forged], trust_policy_from_pki(pki), org="G03", now=now)
    assert not report.ok and report.fault is not None
    assert report.fault.kind == "CHECKPOINT_SIGNATURE" and report.fault.position == 4
    assert "CERT_USAGE" in report.fault.message  # a document seal never signs checkpoints

    ca.revoke("G03")
    later = datetime.now(UTC)  # revocation dates are whole seconds: this one may stand after ``now``
    report = verify_trusted(stored, [good], trust_policy_from_pki(pki), org="G03", now=later)
    assert not report.ok and report.fault is not None
    assert report.fault.kind == "CHECKPOINT_SIGNATURE" and "CERT_REVOKED" in report.fault.message

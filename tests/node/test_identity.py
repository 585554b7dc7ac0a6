"""Loading identities from the PKI folder and sealing receipts with them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumers.trust import TrustError
from producers.identity import NodeIdentity
from producers.keys import SigningError
from producers.receipts import build_receipt
from schemas.canonical import receipt_signing_input
from schemas.reasons import Reason
from schemas.receipt import StatusCode, parse_receipt
from tests.node.conftest import PASS, NodePki

HASH = bytes(range(32))
DOC = "G03.U001,2025/09/01,12/ĐHSP-HCTH"


def test_identity_loads_seal_and_official_of_a_sub_unit(node_pki: NodePki) -> None:
    ministry = NodeIdentity.from_pki(node_pki.folder, "G03", PASS, "Nguyễn Văn An")
    assert ministry.org_code == "G03" and ministry.org_name == "Bộ Giáo dục và Đào tạo"
    assert ministry.official_name == "Nguyễn Văn An" and ministry.official_position == "Chánh Văn phòng"
    assert len(ministry.seal.chain) == 2 and ministry.require_official() is ministry.official


def test_identity_refuses_wrong_passphrase_and_unknown_official(node_pki: NodePki) -> None:
    with pytest.raises(SigningError):
        NodeIdentity.from_pki(node_pki.folder, "G03.U001", "wrong", "*")
    with pytest.raises(SigningError, match="no official"):
        NodeIdentity.from_pki(node_pki.folder, "G03.U001", PASS, "Nobody Here")
    with pytest.raises(SigningError, match="no official key"):
        NodeIdentity.from_pki(node_pki.folder, "G03.BUS", PASS).require_official()


def test_sealed_receipt_round_trips_and_verifies(node_pki: NodePki) -> None:
    now = datetime.now(UTC)
    at = now.replace(microsecond=now.microsecond // 1000 * 1000)
    raw = build_receipt(
        node_pki.identity("G03.U002"), envelope_message_id="0199a0b2-7c3e-7d41-8a2b-3c4d5e6f7a8b",
        document_id=DOC, signing_hash=HASH, to_org="G03.U001", status=StatusCode.ARRIVED,
        reason=None, by_name="Văn thư", at=at,
    )  # fmt: skip
    receipt = parse_receipt(raw)
    assert (receipt.from_org, receipt.to_org, receipt.status, receipt.at) == (
        "G03.U002",
        "G03.U001",
        "01",
        at,
    )
    policy = node_pki.policy()
    seal = policy.verify_seal(
        receipt_signing_input(receipt), receipt.signatures, "G03.U002", datetime.now(UTC)
    )
    assert seal.signer.org_code == "G03.U002"
    with pytest.raises(TrustError) as info:  # the seal does not seal for another org
        node_pki.policy().verify_seal(
            receipt_signing_input(receipt), receipt.signatures, "G03.U001", datetime.now(UTC)
        )
    assert info.value.reason is Reason.ORG_MISMATCH


def test_refusal_needs_a_reason(node_pki: NodePki) -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        build_receipt(
            node_pki.identity("G03.U002"), envelope_message_id="0199a0b2-7c3e-7d41-8a2b-3c4d5e6f7a8b",
            document_id=DOC, signing_hash=HASH, to_org="G03.U001", status=StatusCode.REJECTED, reason=None,
        )  # fmt: skip

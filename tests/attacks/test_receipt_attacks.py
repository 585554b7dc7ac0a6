"""Attacks on status receipts, decided by the pure receipt check: forged, misdirected, out of turn."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consumers.bus.decide.receipt_check import ReceiptAccepted, ReceiptDecision, ReceiptRejected
from consumers.bus.decide.validator import Accepted
from producers.identity import NodeIdentity
from producers.receipts import receipt_for
from schemas.codec import encode
from schemas.envelope import Envelope
from schemas.lifecycle import Recall, RecipientState
from schemas.reasons import Reason
from schemas.receipt import Receipt, StatusCode
from tests.attacks.lab import Bus, Chain, Lab, provider


@pytest.fixture
def routed(lab: Lab, bus: Bus) -> Envelope:
    """An envelope from H01 to H02 that the bus accepted and routed."""
    env, raw = Chain(lab, "H01").signed("H02")
    assert isinstance(bus.check(raw), Accepted)
    return env


def decide(bus: Bus, receipt: Receipt | bytes, recalled: bool = False) -> ReceiptDecision:
    raw = receipt if isinstance(receipt, bytes) else encode(receipt)
    asked = RecipientState(recall=Recall.REQUESTED if recalled else Recall.NONE)
    return bus.receipts.check(
        raw, now=datetime.now(UTC), routed_of=bus.routed.get, recall_requested=lambda _: recalled,
        lifecycle_of=lambda _mid, _code: asked,
    )  # fmt: skip


def rejected(d: ReceiptDecision, reason: Reason) -> ReceiptRejected:
    assert isinstance(d, ReceiptRejected), f"accepted: {d}"
    assert d.reason is reason, (d.reason, d.detail)
    return d


def test_the_recipients_receipt_goes_back_to_the_sender(lab: Lab, bus: Bus, routed: Envelope) -> None:
    d = decide(bus, receipt_for(lab.identity("H02"), routed, StatusCode.ARRIVED))
    assert isinstance(d, ReceiptAccepted) and d.forward_to == ("H01",)


def test_receipt_forged_by_a_non_recipient(lab: Lab, bus: Bus, routed: Envelope) -> None:
    # H03 seals, validly, an "arrived" for an envelope it never received
    d = rejected(decide(bus, receipt_for(lab.identity("H03"), routed, StatusCode.ARRIVED)), Reason.POLICY)
    assert "not a recipient" in d.detail


def test_receipt_in_the_recipients_name_sealed_by_another_org(lab: Lab, bus: Bus, routed: Envelope) -> None:
    impostor = NodeIdentity("H02", provider(lab.seals["H03"]))  # says H02, seals with H03's key
    rejected(decide(bus, receipt_for(impostor, routed, StatusCode.DONE)), Reason.ORG_MISMATCH)


def test_receipt_sealed_with_an_officials_certificate(lab: Lab, bus: Bus, routed: Envelope) -> None:
    wrong = NodeIdentity("H02", provider(lab.officials["H02"]))  # a person, not the organisation seal
    rejected(decide(bus, receipt_for(wrong, routed, StatusCode.ARRIVED)), Reason.CERT_USAGE)


def test_receipt_naming_another_signing_hash(lab: Lab, bus: Bus, routed: Envelope) -> None:
    other = routed.model_copy(update={"sequence": routed.sequence + 1})  # hashes differently
    rejected(decide(bus, receipt_for(lab.identity("H02"), other, StatusCode.ARRIVED)), Reason.DIGEST_MISMATCH)


def test_receipt_for_an_envelope_never_routed(lab: Lab, bus: Bus) -> None:
    env = Chain(lab, "H01").unsigned()
    rejected(decide(bus, receipt_for(lab.identity("H02"), env, StatusCode.ARRIVED)), Reason.POLICY)


def test_seal_stripped_from_a_receipt(lab: Lab, bus: Bus, routed: Envelope) -> None:
    receipt = receipt_for(lab.identity("H02"), routed, StatusCode.ARRIVED)
    rejected(decide(bus, receipt.model_copy(update={"signatures": []})), Reason.SIGNATURE_MISSING)


def test_receipt_altered_after_sealing(lab: Lab, bus: Bus, routed: Envelope) -> None:
    receipt = receipt_for(lab.identity("H02"), routed, StatusCode.ARRIVED)
    rejected(decide(bus, receipt.model_copy(update={"status": StatusCode.DONE})), Reason.SIGNATURE_INVALID)


def test_recall_by_a_recipient(lab: Lab, bus: Bus, routed: Envelope) -> None:
    recall = receipt_for(lab.identity("H02"), routed, StatusCode.RECALL_REQUESTED, to_org="H01")
    d = rejected(decide(bus, recall), Reason.POLICY)
    assert "not its sender" in d.detail


def test_recall_answer_without_a_recall(lab: Lab, bus: Bus, routed: Envelope) -> None:
    agreed = receipt_for(lab.identity("H02"), routed, StatusCode.RECALL_AGREED)
    rejected(decide(bus, agreed), Reason.POLICY)
    assert isinstance(decide(bus, agreed, recalled=True), ReceiptAccepted)


def test_receipt_addressed_to_a_third_party(lab: Lab, bus: Bus, routed: Envelope) -> None:
    rejected(
        decide(bus, receipt_for(lab.identity("H02"), routed, StatusCode.ARRIVED, to_org="H04")), Reason.POLICY
    )


@pytest.mark.parametrize("when", [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)])
def test_receipt_with_an_extreme_signing_time(lab: Lab, bus: Bus, routed: Envelope, when: datetime) -> None:
    receipt = receipt_for(lab.identity("H02"), routed, StatusCode.ARRIVED)
    seal = receipt.signatures[0].model_copy(update={"signing_time": when})
    d = decide(bus, receipt.model_copy(update={"signatures": [seal]}))  # date arithmetic must not overflow
    assert isinstance(d, ReceiptRejected) and d.reason in {Reason.STALE, Reason.CERT_NOT_YET_VALID}, d


def test_receipt_backdated_out_of_the_freshness_window(lab: Lab, bus: Bus, routed: Envelope) -> None:
    # an old (or backdated) receipt could be judged against a certificate long expired or revoked
    old = datetime.now(UTC) - timedelta(days=2)
    receipt = receipt_for(lab.identity("H02"), routed, StatusCode.ARRIVED, at=old)
    rejected(decide(bus, receipt), Reason.STALE)


def test_receipt_with_a_signing_time_before_the_receipt(lab: Lab, bus: Bus, routed: Envelope) -> None:
    receipt = receipt_for(lab.identity("H02"), routed, StatusCode.ARRIVED)
    seal = receipt.signatures[0].model_copy(update={"signing_time": receipt.at - timedelta(days=365)})
    rejected(decide(bus, receipt.model_copy(update={"signatures": [seal]})), Reason.STALE)

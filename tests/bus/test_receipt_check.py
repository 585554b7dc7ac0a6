"""The receipt decisions without a broker: who may answer, with which status, and where it goes."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import pytest

from consumers.bus.decide.receipt_check import ReceiptAccepted, ReceiptCheck, ReceiptDecision, ReceiptRejected
from consumers.bus.decide.routed import RoutedRecord
from docbus.pki_folder import TrustFiles
from producers.receipts import build_receipt, make_receipt
from schemas.codec import encode
from schemas.lifecycle import RecipientState
from schemas.reasons import Reason
from schemas.receipt import StatusCode
from tests.bus.world import World

ENVELOPE = str(uuid.uuid4())
DIGEST = bytes(range(32))
DOCUMENT = "G03,2025/09/30,12/TEST"
ROUTED = RoutedRecord("G03", ("H01", "H02"), DIGEST, DOCUMENT, (0, 7))


class Harness:
    def __init__(self, world: World) -> None:
        self.world = world
        self.check_ = ReceiptCheck(TrustFiles(world.pki).policy)
        self.recalled: set[str] = set()
        self.states: dict[tuple[str, str], RecipientState] = {}

    def receipt(
        self, org: str, status: StatusCode, *, to: str = "G03", digest: bytes = DIGEST, **kw: str
    ) -> bytes:
        reason = "lý do" if status.needs_reason else None
        return build_receipt(
            self.world.identities[org], envelope_message_id=kw.get("envelope", ENVELOPE),
            document_id=DOCUMENT, signing_hash=digest, to_org=to, status=status, reason=reason,
        )  # fmt: skip

    def check(self, raw: bytes, key: bytes | None = None) -> ReceiptDecision:
        d = self.check_.check(
            raw,
            now=datetime.now(UTC),
            routed_of={ENVELOPE: ROUTED}.get,
            recall_requested=self.recalled.__contains__,
            lifecycle_of=lambda mid, code: self.states.get((mid, code), RecipientState()),
            key=key,
        )
        if isinstance(d, ReceiptAccepted):  # the agent's lifecycle table
            self.states.update(((d.receipt.envelope_id, code), state) for code, state in d.lifecycle)
        return d


@pytest.fixture
def bus(world: World) -> Harness:
    return Harness(world)


def refused(d: ReceiptDecision, reason: Reason) -> None:
    assert isinstance(d, ReceiptRejected), d
    assert d.reason is reason, d.detail


def test_arrival_goes_back_to_the_sender(bus: Harness) -> None:
    raw = bus.receipt("H01", StatusCode.ARRIVED)
    d = bus.check(raw)
    assert isinstance(d, ReceiptAccepted)
    assert d.forward_to == ("G03",) and d.status_keys == (f"{ENVELOPE}/H01/01",) and d.raw == raw


def test_only_addressed_recipients_answer_the_sender(bus: Harness) -> None:
    refused(bus.check(bus.receipt("H04", StatusCode.ARRIVED)), Reason.POLICY)
    refused(bus.check(bus.receipt("H01", StatusCode.ARRIVED, to="H02")), Reason.POLICY)
    refused(bus.check(bus.receipt("H01", StatusCode.ARRIVED, envelope=str(uuid.uuid4()))), Reason.POLICY)
    refused(bus.check(bus.receipt("H01", StatusCode.ARRIVED, digest=bytes(32))), Reason.DIGEST_MISMATCH)


def test_seal_must_be_the_answering_org(bus: Harness, world: World) -> None:
    by_h02 = make_receipt(world.identities["H02"], envelope_message_id=ENVELOPE, document_id=DOCUMENT,
                          signing_hash=DIGEST, to_org="G03", status=StatusCode.ARRIVED)  # fmt: skip
    posing = encode(by_h02.model_copy(update={"from_org": "H01"}))
    d = bus.check(posing)
    assert isinstance(d, ReceiptRejected) and d.reason in {Reason.ORG_MISMATCH, Reason.SIGNATURE_INVALID}
    refused(bus.check(bus.receipt("H03", StatusCode.ARRIVED)), Reason.CERT_REVOKED)


def test_recall_from_the_sender_reaches_every_recipient_and_only_then_may_be_answered(bus: Harness) -> None:
    refused(bus.check(bus.receipt("H01", StatusCode.RECALL_AGREED)), Reason.POLICY)  # no recall yet
    refused(bus.check(bus.receipt("H01", StatusCode.RECALL_REQUESTED, to="H01")), Reason.POLICY)
    recall = bus.check(bus.receipt("G03", StatusCode.RECALL_REQUESTED, to="H01"))
    assert isinstance(recall, ReceiptAccepted) and recall.forward_to == ("H01", "H02")
    assert recall.status_keys == (f"{ENVELOPE}/H01/13", f"{ENVELOPE}/H02/13")
    bus.recalled.add(ENVELOPE)
    agreed = bus.check(bus.receipt("H02", StatusCode.RECALL_REFUSED))
    assert isinstance(agreed, ReceiptAccepted) and agreed.forward_to == ("G03",)


def test_a_receipt_out_of_order_is_refused_and_a_recall_keeps_each_history(bus: Harness) -> None:
    """01 straight to 06, and 02 then 03, are RECEIPT_ORDER (both were accepted); a 13 is kept under
    each recipient's own key beside its earlier receipts, and goes only where it may follow."""
    assert isinstance(bus.check(bus.receipt("H01", StatusCode.ARRIVED)), ReceiptAccepted)
    refused(bus.check(bus.receipt("H01", StatusCode.DONE)), Reason.RECEIPT_ORDER)
    assert isinstance(bus.check(bus.receipt("H01", StatusCode.ACCEPTED)), ReceiptAccepted)
    assert isinstance(bus.check(bus.receipt("H02", StatusCode.REJECTED)), ReceiptAccepted)
    refused(bus.check(bus.receipt("H02", StatusCode.ACCEPTED)), Reason.RECEIPT_ORDER)
    recall = bus.check(bus.receipt("G03", StatusCode.RECALL_REQUESTED, to="H01"))
    assert isinstance(recall, ReceiptAccepted) and recall.forward_to == ("H01", "H02")
    bus.recalled.add(ENVELOPE)
    agreed = bus.check(bus.receipt("H01", StatusCode.RECALL_AGREED))
    assert isinstance(agreed, ReceiptAccepted) and agreed.status_keys == (f"{ENVELOPE}/H01/15",)
    refused(bus.check(bus.receipt("H01", StatusCode.PROCESSING)), Reason.RECEIPT_ORDER)  # recalled
    refused(bus.check(bus.receipt("G03", StatusCode.RECALL_REQUESTED, to="H01")), Reason.RECEIPT_ORDER)
    assert isinstance(bus.check(bus.receipt("H02", StatusCode.RECALL_REFUSED)), ReceiptAccepted)
    again = bus.check(bus.receipt("G03", StatusCode.RECALL_REQUESTED, to="H01"))
    assert isinstance(again, ReceiptAccepted) and again.forward_to == ("H02",)  # H01 already agreed


@pytest.mark.parametrize("size", [0, 3, 300])
def test_random_bytes(bus: Harness, size: int) -> None:
    d = bus.check(os.urandom(size))
    assert isinstance(d, ReceiptRejected) and d.reason in {Reason.MALFORMED, Reason.UNKNOWN_SCHEMA}


def test_every_receipt_of_a_document_is_keyed_by_its_sender(bus: Harness) -> None:
    """The recall (13) too: keyed by its first recipient, as nodes did, it is refused RECORD_KEY
    before the recall and lifecycle tables are read; keyed by the document's sender it goes through."""
    recall = bus.receipt("G03", StatusCode.RECALL_REQUESTED, to="H01")
    d = bus.check(recall, key=b"H01")
    refused(d, Reason.RECORD_KEY)
    assert isinstance(d, ReceiptRejected) and "'G03'" in d.detail
    refused(bus.check(recall, key=b""), Reason.RECORD_KEY)  # no key: any partition
    assert isinstance(bus.check(recall, key=b"G03"), ReceiptAccepted)
    arrived = bus.receipt("H01", StatusCode.ARRIVED)
    refused(bus.check(arrived, key=b"H01"), Reason.RECORD_KEY)
    assert isinstance(bus.check(arrived, key=b"G03"), ReceiptAccepted)

"""Valid signed envelopes and a receipt to mutate, and the pure decisions they go through."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consumers.bus.decide.policy import SenderState
from consumers.bus.decide.receipt_check import ReceiptCheck, ReceiptDecision
from consumers.bus.decide.routed import RoutedRecord
from consumers.bus.decide.validator import Decision, Validator
from docbus.pki_folder import TrustFiles
from producers.receipts import build_receipt
from schemas.canonical import signing_hash
from schemas.directory_store import DirectoryStore
from schemas.envelope import Envelope
from schemas.receipt import StatusCode
from tests.attacks.lab import Chain, build_lab


@dataclass
class Target:
    """The validator and receipt check over one lab, each call from an empty sender state (so the
    unmutated originals are accepted) at a fixed ``now``."""

    validator: Validator
    receipts: ReceiptCheck
    envelopes: list[tuple[Envelope, bytes]]
    receipt: bytes
    routed: RoutedRecord
    now: datetime
    pki: Path  # the lab's PKI folder: CRLs to mutate
    directory: DirectoryStore

    def check(self, raw: bytes) -> Decision:
        return self.validator.check(
            raw, now=self.now, position=(0, 1), state_of=lambda _: SenderState(), routed_of=lambda _: None
        )

    def check_receipt(self, raw: bytes) -> ReceiptDecision:
        return self.receipts.check(
            raw, now=self.now, routed_of=lambda _: self.routed, recall_requested=lambda _: False
        )

    @property
    def signed_hashes(self) -> set[bytes]:
        return {signing_hash(env) for env, _ in self.envelopes}


@pytest.fixture(scope="session")
def target(tmp_path_factory: pytest.TempPathFactory) -> Target:
    lab = build_lab(tmp_path_factory.mktemp("fuzz") / "pki")
    store = DirectoryStore()
    store.apply(lab.entries)
    trust = TrustFiles(lab.pki)
    envelopes = [
        Chain(lab, "H01").signed("H02"),
        Chain(lab, "H02").signed("H01", "H03"),
        Chain(lab, "H01").signed("H04", official=lab.extra["ed25519"]),
    ]
    first = envelopes[0][0]
    digest = signing_hash(first)
    receipt = build_receipt(
        lab.identity("H02"),
        envelope_message_id=first.message_id,
        document_id=first.document.document_id,
        signing_hash=digest,
        to_org="H01",
        status=StatusCode.ARRIVED,
    )
    routed = RoutedRecord("H01", ("H02",), digest, first.document.document_id, (0, 1))
    return Target(
        Validator(trust.policy, store),
        ReceiptCheck(trust.policy),
        envelopes,
        receipt,
        routed,
        datetime.now(UTC),
        lab.pki,
        store,
    )

"""Hypothesis round trips: encode -> decode gives the same record and the same signing input."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from schemas.canonical import envelope_signing_input, receipt_signing_input
from schemas.codec import decode, encode
from schemas.envelope import Envelope
from schemas.quarantine import QuarantineRecord
from schemas.receipt import Receipt
from tests.schemas.strategies import envelopes, quarantine_records, receipts

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(envelopes())
def test_envelope_round_trip(env: Envelope) -> None:
    back = decode(encode(env), Envelope)
    assert back == env
    assert envelope_signing_input(back) == envelope_signing_input(env)


@FAST
@given(receipts())
def test_receipt_round_trip(receipt: Receipt) -> None:
    back = decode(encode(receipt), Receipt)
    assert back == receipt
    assert receipt_signing_input(back) == receipt_signing_input(receipt)


@FAST
@given(quarantine_records)
def test_quarantine_round_trip(record: QuarantineRecord) -> None:
    assert decode(encode(record), QuarantineRecord) == record

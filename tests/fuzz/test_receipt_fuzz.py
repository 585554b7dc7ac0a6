"""Mutated receipts: parse_receipt raises only ContractError, the receipt check never raises and
never forwards a receipt whose sealed bytes changed."""

from __future__ import annotations

import contextlib
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.bus.decide.receipt_check import ReceiptAccepted, ReceiptRejected
from schemas.canonical import receipt_signing_input
from schemas.errors import ContractError
from schemas.receipt import parse_receipt
from tests.fuzz.conftest import Target
from tests.fuzz.mutations import mutant

# mutated certificates (a zero serial...) warn that a later cryptography will refuse them: the
# trust core refuses them either way; a warning is not an error of the decision
pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

FUZZ = settings(
    max_examples=int(os.environ.get("DOCBUS_FUZZ_EXAMPLES", "500")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def test_the_original_is_forwarded(target: Target) -> None:
    assert isinstance(target.check_receipt(target.receipt), ReceiptAccepted)


@FUZZ
@given(data=st.data())
def test_mutated_receipts(target: Target, data: st.DataObject) -> None:
    raw = data.draw(mutant([target.receipt]))
    with contextlib.suppress(ContractError):
        parse_receipt(raw)
    decision = target.check_receipt(raw)
    if isinstance(decision, ReceiptAccepted):
        sealed = receipt_signing_input(parse_receipt(target.receipt))
        assert receipt_signing_input(decision.receipt) == sealed, raw.hex()
    else:
        assert isinstance(decision, ReceiptRejected)

"""Mutated envelopes never escape the typed errors and are never accepted with changed signed bytes."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.bus.decide.validator import Accepted, Rejected
from schemas.canonical import signing_hash
from schemas.envelope import parse_envelope
from schemas.errors import ContractError
from schemas.reasons import Reason
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


def originals(target: Target) -> list[bytes]:
    return [raw for _, raw in target.envelopes]


def test_the_originals_are_accepted(target: Target) -> None:
    for raw in originals(target):
        assert isinstance(target.check(raw), Accepted)


@FUZZ
@given(data=st.data())
def test_parse_envelope_raises_only_contract_errors(target: Target, data: st.DataObject) -> None:
    raw = data.draw(mutant(originals(target)))
    try:
        parse_envelope(raw)
    except ContractError as exc:
        assert isinstance(exc.reason, Reason) and exc.detail


@FUZZ
@given(data=st.data())
def test_validator_rejects_or_accepts_only_the_signed_bytes(target: Target, data: st.DataObject) -> None:
    raw = data.draw(mutant(originals(target)))
    decision = target.check(raw)  # any exception escaping here is a finding
    if isinstance(decision, Accepted):
        # only unsigned parts (a signature's claimed time...) may differ from an original
        assert signing_hash(decision.envelope) in target.signed_hashes, raw.hex()
    else:
        assert isinstance(decision, Rejected) and isinstance(decision.reason, Reason)

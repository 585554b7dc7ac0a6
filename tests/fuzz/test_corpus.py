"""Every single-bit flip of the first bytes of a signed envelope, exhaustively."""

from __future__ import annotations

import contextlib

import pytest

from consumers.validator import Accepted
from schemas.canonical import envelope_hash
from schemas.envelope import parse_envelope
from schemas.errors import ContractError
from tests.fuzz.conftest import Target
from tests.fuzz.mutations import flip_bit

# mutated certificates (a zero serial...) warn that a later cryptography will refuse them: the
# trust core refuses them either way; a warning is not an error of the decision
pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

FIRST = 512  # header, message id, sender, addressing, the document header's start


def test_every_bit_flip_of_the_first_bytes(target: Target) -> None:
    _, raw = target.envelopes[0]
    signed = target.signed_hashes
    accepted = 0
    for bit in range(min(FIRST, len(raw)) * 8):
        mutated = flip_bit(raw, bit)
        with contextlib.suppress(ContractError):
            parse_envelope(mutated)
        decision = target.check(mutated)
        if isinstance(decision, Accepted):
            accepted += 1
            assert envelope_hash(decision.envelope) in signed, f"bit {bit} changed signed bytes"
    assert accepted < 8 * FIRST  # most flips must be refused (sanity of the harness)

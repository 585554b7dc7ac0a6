"""Every single-bit flip of the first bytes of a signed envelope, exhaustively."""

from __future__ import annotations

import contextlib
from collections import Counter

import pytest

from consumers.bus.decide.validator import Accepted
from schemas.canonical import signing_hash
from schemas.envelope import parse_envelope
from schemas.errors import ContractError
from schemas.reasons import Reason
from tests.fuzz.conftest import Target
from tests.fuzz.mutations import flip_bit

# mutated certificates (a zero serial...) warn that a later cryptography will refuse them: the
# trust core refuses them either way; a warning is not an error of the decision
pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

FIRST = 512  # header, message id, sender, addresses, the signature block's start (Avro order)


def test_every_bit_flip_of_the_first_bytes(target: Target) -> None:
    _, raw = target.envelopes[0]
    signed = target.signed_hashes
    reasons: Counter[Reason] = Counter()
    for bit in range(min(FIRST, len(raw)) * 8):
        mutated = flip_bit(raw, bit)
        with contextlib.suppress(ContractError):
            parse_envelope(mutated)
        decision = target.check(mutated)
        if isinstance(decision, Accepted):
            assert signing_hash(decision.envelope) in signed, f"bit {bit} changed signed bytes"
        else:
            reasons[decision.reason] += 1
    # the flips reach every stage: decoding, contract, directory, chains and signatures
    stages = {Reason.MALFORMED, Reason.INVALID_FIELD, Reason.UNTRUSTED_CHAIN, Reason.SIGNATURE_INVALID}
    assert stages <= set(reasons), reasons

"""Mutated DER of the signer certificate, the issuing CA certificate and the issuing CA's CRL,
inside otherwise valid envelopes and receipts: only typed refusals come out, never an exception,
and a chain or CRL that changed is never what makes a signature acceptable."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.bus.decide.policy import SenderState
from consumers.bus.decide.receipt_check import ReceiptAccepted, ReceiptCheck, ReceiptRejected
from consumers.bus.decide.validator import Accepted, Rejected, Validator
from consumers.trust import TrustError, TrustPolicy, TrustStore
from consumers.trust.der import pem_or_der
from schemas.codec import encode
from schemas.envelope import parse_envelope
from schemas.reasons import Reason
from schemas.receipt import parse_receipt
from schemas.signature import Signature
from tests.fuzz.conftest import Target

# mutated certificates (a zero serial...) warn that a later cryptography will refuse them
pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

FUZZ = settings(
    max_examples=int(os.environ.get("DOCBUS_FUZZ_EXAMPLES", "500")) // 2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@st.composite
def der_mutant(draw: st.DrawFn, der: bytes) -> bytes:
    """Bit flips, a byte set to a DER-significant value (lengths, tags), insertion, deletion,
    truncation, a duplicated slice, or deep nesting in front."""
    kind = draw(st.sampled_from(["flip", "byte", "insert", "delete", "truncate", "dup", "nest"]))
    at = draw(st.integers(0, len(der) - 1))
    if kind == "flip":
        out = bytearray(der)
        for bit in draw(st.lists(st.integers(0, len(der) * 8 - 1), min_size=1, max_size=4)):
            out[bit // 8] ^= 1 << (bit % 8)
        return bytes(out)
    if kind == "byte":
        value = draw(st.sampled_from([0x00, 0x01, 0x05, 0x30, 0x7F, 0x80, 0x81, 0x82, 0x84, 0xA0, 0xFF]))
        return der[:at] + bytes([value]) + der[at + 1 :]
    if kind == "insert":
        return der[:at] + draw(st.binary(min_size=1, max_size=16)) + der[at:]
    if kind == "delete":
        return der[:at] + der[at + draw(st.integers(1, 16)) :]
    if kind == "truncate":
        return der[:at]
    if kind == "dup":
        end = draw(st.integers(at, min(len(der), at + 64)))
        return der[:end] + der[at:end] + der[end:]
    depth = draw(st.integers(1, 3000))
    return b"\x30\x80" * depth + der


def _chain_mutant(data: st.DataObject, sigs: list[Signature]) -> list[Signature]:
    i = data.draw(st.integers(0, len(sigs) - 1))
    chain = list(sigs[i].chain)
    j = data.draw(st.integers(0, min(1, len(chain) - 1)))  # the signer's or the issuing CA's
    chain[j] = data.draw(der_mutant(chain[j]))
    return [s.model_copy(update={"chain": chain}) if k == i else s for k, s in enumerate(sigs)]


@FUZZ
@given(data=st.data())
def test_envelope_with_a_mutated_certificate(target: Target, data: st.DataObject) -> None:
    env, _ = data.draw(st.sampled_from(target.envelopes))
    raw = encode(env.model_copy(update={"signatures": _chain_mutant(data, list(env.signatures))}))
    decision = target.check(raw)  # any exception escaping here is a finding
    assert isinstance(decision, Accepted | Rejected)
    if isinstance(decision, Rejected):
        assert isinstance(decision.reason, Reason)


@FUZZ
@given(data=st.data())
def test_receipt_with_a_mutated_certificate(target: Target, data: st.DataObject) -> None:
    receipt = parse_receipt(target.receipt)
    raw = encode(receipt.model_copy(update={"signatures": _chain_mutant(data, list(receipt.signatures))}))
    decision = target.check_receipt(raw)
    assert isinstance(decision, ReceiptAccepted | ReceiptRejected)


def _issuing_crl(target: Target) -> tuple[bytes, bytes]:
    crl = target.pki / "crl"
    return (
        pem_or_der((crl / "root.crl.pem").read_bytes(), b"X509 CRL"),
        pem_or_der((crl / "issuing.crl.pem").read_bytes(), b"X509 CRL"),
    )


@FUZZ
@given(data=st.data())
def test_a_mutated_crl_never_lets_anything_through(target: Target, data: st.DataObject) -> None:
    root_crl, issuing_crl = _issuing_crl(target)
    mutant = data.draw(der_mutant(issuing_crl))
    store = TrustStore([(target.pki / "ca" / "root.pem").read_bytes()], [root_crl])
    try:
        store.add_crl(mutant)
        loaded = True
    except TrustError as exc:
        assert isinstance(exc.reason, Reason)
        loaded = False
    policy = TrustPolicy(store)
    env, raw = data.draw(st.sampled_from(target.envelopes))
    decision = Validator(policy, target.directory).check(
        raw, now=target.now, position=(0, 1), state_of=lambda _: SenderState(), routed_of=lambda _: None
    )
    if isinstance(decision, Accepted):
        assert loaded  # no CRL of the issuing CA held: nothing may pass
    else:
        assert isinstance(decision, Rejected) and isinstance(decision.reason, Reason)
    receipt = ReceiptCheck(policy).check(
        target.receipt, now=target.now, routed_of=lambda _: target.routed, recall_requested=lambda _: False
    )
    assert isinstance(receipt, ReceiptAccepted | ReceiptRejected)
    assert parse_envelope(raw).message_id == env.message_id

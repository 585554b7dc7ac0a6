"""Oversized and over-counted input is refused by the contract checks before any cryptography:
a spy on every entry into the trust core (chain validation, raw signature checks, the signature
check) and on cryptography's own certificate loading sees no call for the decision. Telling an
authenticated sender (a 02 notice) costs at most its one seal check afterwards, and none at all
when the signature block itself is over the limits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

import consumers.bus.decide.validator
import consumers.trust.chain
import consumers.trust.verify
import schemas.algorithms
from consumers.bus.decide.validator import Accepted, Rejected
from consumers.trust import TrustPolicy
from schemas.codec import encode
from schemas.envelope import Envelope
from schemas.header import TraceHop
from schemas.payload import Payload
from schemas.reasons import Reason
from tests.attacks.lab import Bus, Chain, Lab, sign

Spy = Counter[str]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    calls: Spy = Counter()

    def counted(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kw: Any) -> Any:
            calls[name] += 1
            return fn(*args, **kw)

        return wrapper

    raw_check = schemas.algorithms.verify_raw  # what consumers.trust.verify calls
    monkeypatch.setattr(consumers.trust.verify, "verify_raw", counted("verify_raw", raw_check))
    monkeypatch.setattr(
        consumers.trust.chain,
        "validate_chain",
        counted("validate_chain", consumers.trust.chain.validate_chain),
    )
    monkeypatch.setattr(
        TrustPolicy, "verify_signature", counted("verify_signature", TrustPolicy.verify_signature)
    )
    monkeypatch.setattr(
        consumers.bus.decide.validator,
        "trust_hashes",
        counted("trust_hashes", consumers.bus.decide.validator.trust_hashes),
    )
    return calls


def refused_before_crypto(bus: Bus, spy: Spy, raw: bytes, reason: Reason) -> Rejected:
    d = bus.check(raw)
    assert isinstance(d, Rejected), d
    assert d.reason is reason, (d.reason, d.detail)
    # the decision ran no cryptography; the notice decision at most one seal check
    assert spy["verify_signature"] <= 1 and spy["verify_raw"] <= 1 and spy["trust_hashes"] == 0, spy
    return d


def signed_then(lab: Lab, change: Callable[[Envelope], Envelope]) -> bytes:
    """A properly signed envelope, altered after signing (the attacker does not care to re-sign)."""
    env, _ = Chain(lab, "H01").signed()
    return encode(change(env))


def test_the_spy_sees_a_valid_envelope_verified(lab: Lab, bus: Bus, spy: Spy) -> None:
    assert isinstance(bus.check(Chain(lab, "H01").signed()[1]), Accepted)
    assert spy["verify_signature"] == 2 and spy["verify_raw"] == 2 and spy["validate_chain"] >= 1


def test_too_many_recipients(lab: Lab, bus: Bus, spy: Spy) -> None:
    many = [f"G03.U{n:03d}" for n in range(1, 1002)]
    raw = signed_then(lab, lambda e: e.model_copy(update={"recipients": many}))
    refused_before_crypto(bus, spy, raw, Reason.TOO_LARGE)


def test_too_many_groups(lab: Lab, bus: Bus, spy: Spy) -> None:
    groups = [f"list:g{n}" for n in range(17)]
    refused_before_crypto(
        bus, spy, signed_then(lab, lambda e: e.model_copy(update={"groups": groups})), Reason.TOO_LARGE
    )


def test_too_many_trace_hops(lab: Lab, bus: Bus, spy: Spy) -> None:
    env, _ = Chain(lab, "H01").signed()
    hops = [TraceHop(org_code="H01", at=env.created_at)] * 33
    refused_before_crypto(bus, spy, encode(env.model_copy(update={"trace": hops})), Reason.TOO_LARGE)


def test_too_many_signatures(lab: Lab, bus: Bus, spy: Spy) -> None:
    raw = signed_then(lab, lambda e: e.model_copy(update={"signatures": e.signatures * 3}))
    refused_before_crypto(bus, spy, raw, Reason.TOO_LARGE)


def test_oversized_signature_value(lab: Lab, bus: Bus, spy: Spy) -> None:
    def huge(e: Envelope) -> Envelope:
        sig = e.signatures[1].model_copy(update={"value": bytes(4096)})
        return e.model_copy(update={"signatures": [e.signatures[0], sig]})

    refused_before_crypto(bus, spy, signed_then(lab, huge), Reason.TOO_LARGE)


def test_oversized_certificate(lab: Lab, bus: Bus, spy: Spy) -> None:
    def huge(e: Envelope) -> Envelope:
        sig = e.signatures[0]
        sig = sig.model_copy(update={"chain": [sig.chain[0] + bytes(20_000), *sig.chain[1:]]})
        return e.model_copy(update={"signatures": [sig, e.signatures[1]]})

    refused_before_crypto(bus, spy, signed_then(lab, huge), Reason.TOO_LARGE)


def test_over_long_certificate_chain(lab: Lab, bus: Bus, spy: Spy) -> None:
    def long(e: Envelope) -> Envelope:
        sig = e.signatures[1]
        sig = sig.model_copy(update={"chain": [*sig.chain, *sig.chain[1:]]})  # 5 certificates
        return e.model_copy(update={"signatures": [e.signatures[0], sig]})

    refused_before_crypto(bus, spy, signed_then(lab, long), Reason.CHAIN_TOO_LONG)


def test_message_over_one_mebibyte(lab: Lab, bus: Bus, spy: Spy) -> None:
    big = Payload.of("phu-luc.bin", "application/octet-stream", bytes(1024 * 1024))
    env, _ = sign(lab, Chain(lab, "H01").unsigned(), "H01")
    raw = encode(env.model_copy(update={"attachments": [big]}))
    refused_before_crypto(bus, spy, raw, Reason.TOO_LARGE)


def test_subject_over_its_edxml_length(lab: Lab, bus: Bus, spy: Spy) -> None:
    def long(e: Envelope) -> Envelope:
        return e.model_copy(update={"document": e.document.model_copy(update={"subject": "V" * 501})})

    refused_before_crypto(bus, spy, signed_then(lab, long), Reason.INVALID_FIELD)


def test_payload_swapped_after_signing(lab: Lab, bus: Bus, spy: Spy) -> None:
    def swapped(e: Envelope) -> Envelope:
        return e.model_copy(update={"payload": e.payload.model_copy(update={"data": b"%PDF-1.7 khac"})})

    refused_before_crypto(bus, spy, signed_then(lab, swapped), Reason.DIGEST_MISMATCH)


def test_junk_certificates_do_not_pile_up_in_the_issuer_cache(lab: Lab, bus: Bus) -> None:
    env, _ = Chain(lab, "H01").signed()
    for n in range(3):
        junk = n.to_bytes(2, "big") + bytes(16 * 1024 - 2)  # the largest certificate the contract allows
        sig = env.signatures[0].model_copy(update={"chain": [junk]})
        d = bus.check(encode(env.model_copy(update={"signatures": [sig, env.signatures[1]]})))
        assert isinstance(d, Rejected) and d.reason is Reason.UNTRUSTED_CHAIN, d
    # what the cache keeps per certificate an unauthenticated sender names: a digest
    assert all(len(key) == 32 for key in consumers.bus.decide.validator._ISSUERS)

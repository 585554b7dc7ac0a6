"""Hard limits and refusals that run before any cryptography."""

from __future__ import annotations

import pytest

from schemas.codec import encode
from schemas.document import SecurityLevel
from schemas.envelope import check_envelope, parse_envelope
from schemas.errors import ContractError
from schemas.limits import DEFAULT_LIMITS, Limits, check_envelope_limits
from schemas.payload import Payload
from schemas.reasons import Reason
from schemas.receipt import parse_receipt
from schemas.signature import Signature, SignerRole
from tests.schemas.samples import CREATED, sample_envelope, sample_receipt


def _sig(chain_len: int = 1, value: bytes = b"v" * 64) -> Signature:
    return Signature(
        role=SignerRole.OFFICIAL,
        algorithm="Ed25519",
        chain=[b"c"] * chain_len,
        signing_time=CREATED,
        value=value,
    )


def _reason(raw: bytes, limits: Limits = DEFAULT_LIMITS) -> Reason:
    with pytest.raises(ContractError) as err:
        parse_envelope(raw, limits)
    return err.value.reason


def test_defaults_are_the_documented_ones() -> None:
    d = DEFAULT_LIMITS
    assert (d.max_message_bytes, d.max_recipients, d.max_attachments) == (1024 * 1024, 1000, 20)
    assert (d.max_chain_length, d.max_signatures) == (4, 4)


def test_valid_envelope_parses() -> None:
    env = sample_envelope(signatures=[_sig()])
    assert parse_envelope(encode(env)) == env


def test_oversized_message_is_refused_before_decoding() -> None:
    assert _reason(b"\x00" * (DEFAULT_LIMITS.max_message_bytes + 1)) is Reason.TOO_LARGE
    raw = encode(sample_envelope())
    assert _reason(raw, Limits(max_message_bytes=len(raw) - 1)) is Reason.TOO_LARGE


@pytest.mark.parametrize(
    ("limits", "changes"),
    [
        (Limits(max_recipients=1), {}),
        (Limits(max_groups=1), {}),
        (Limits(max_attachments=0), {}),
        (Limits(max_trace_hops=0), {}),
        (Limits(max_places=1), {}),
        (Limits(max_signatures=1), {"signatures": [_sig(), _sig()]}),
        (Limits(max_signature_bytes=63), {"signatures": [_sig()]}),
        (Limits(max_certificate_bytes=0), {"signatures": [_sig()]}),
    ],
)
def test_count_and_size_limits_are_too_large(limits: Limits, changes: dict[str, object]) -> None:
    raw = encode(sample_envelope(**changes))
    parse_envelope(raw)  # fine under the defaults
    assert _reason(raw, limits) is Reason.TOO_LARGE


def test_default_attachment_and_recipient_ceilings() -> None:
    many = [Payload.of(f"a{i}.pdf", "application/pdf", b"x") for i in range(21)]
    assert _reason(encode(sample_envelope(attachments=many))) is Reason.TOO_LARGE
    codes = [f"H{i:02d}.{j}" for i in range(10, 20) for j in range(101)]
    assert _reason(encode(sample_envelope(recipients=codes))) is Reason.TOO_LARGE


def test_long_chain_is_chain_too_long() -> None:
    raw = encode(sample_envelope(signatures=[_sig(chain_len=5)]))
    assert _reason(raw) is Reason.CHAIN_TOO_LONG
    check_envelope_limits(sample_envelope(signatures=[_sig(chain_len=4)]))


@pytest.mark.parametrize(
    "level", [SecurityLevel.SECRET, SecurityLevel.TOP_SECRET, SecurityLevel.ABSOLUTE_SECRET]
)
def test_secret_documents_are_refused(level: SecurityLevel) -> None:
    base = sample_envelope()
    env = base.model_copy(update={"document": base.document.model_copy(update={"security_level": level})})
    assert _reason(encode(env)) is Reason.SECRET_REFUSED


def test_secret_is_refused_even_when_the_digest_is_also_wrong() -> None:
    base = sample_envelope()
    env = base.model_copy(
        update={
            "document": base.document.model_copy(update={"security_level": SecurityLevel.SECRET}),
            "payload": base.payload.model_copy(update={"data": b"changed"}),
        }
    )
    assert _reason(encode(env)) is Reason.SECRET_REFUSED


def test_payload_digest_checked_by_parse_envelope() -> None:
    base = sample_envelope()
    env = base.model_copy(update={"payload": base.payload.model_copy(update={"data": b"changed"})})
    assert _reason(encode(env)) is Reason.DIGEST_MISMATCH


def test_parse_receipt_applies_limits() -> None:
    raw = encode(sample_receipt(signatures=[_sig(chain_len=5)]))
    with pytest.raises(ContractError) as err:
        parse_receipt(raw)
    assert err.value.reason is Reason.CHAIN_TOO_LONG
    assert parse_receipt(encode(sample_receipt())) == sample_receipt()


def test_check_envelope_lets_a_node_refuse_before_signing() -> None:
    check_envelope(sample_envelope())
    base = sample_envelope()
    secret = base.model_copy(
        update={"document": base.document.model_copy(update={"security_level": SecurityLevel.SECRET})}
    )
    with pytest.raises(ContractError) as err:
        check_envelope(secret)
    assert err.value.reason is Reason.SECRET_REFUSED

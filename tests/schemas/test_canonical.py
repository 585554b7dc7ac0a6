"""The canonical signing input: exact bytes, field coverage, unambiguity, digests."""

from __future__ import annotations

import hashlib
import struct
from datetime import UTC, date, datetime

import pytest

from schemas.canonical import (
    ENVELOPE_CONTEXT,
    check_digests,
    envelope_signing_input,
    payload_digest_ok,
    receipt_signing_hash,
    receipt_signing_input,
    signing_hash,
)
from schemas.document import BusinessType, Priority, SecurityLevel, SteeringType
from schemas.errors import ContractError
from schemas.header import Organization, TraceHop
from schemas.payload import Payload
from schemas.reasons import Reason
from schemas.receipt import StatusCode
from schemas.signature import Signature, SignerRole
from tests.schemas.samples import sample_envelope, sample_receipt

BASE = sample_envelope()
BASE_INPUT = envelope_signing_input(BASE)


def _s(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">I", len(raw)) + raw


def test_receipt_signing_input_byte_for_byte() -> None:
    r = sample_receipt()
    expected = (
        b"docbus/receipt/v1\n"
        + _s(r.message_id)
        + _s(r.envelope_id)
        + struct.pack(">I", 32)
        + r.signing_hash
        + _s("G03,2025/09/30,1234/BGDĐT-VP")
        + _s("H41")
        + _s("G03")
        + _s("01")
        + _s("")
        + _s("Trần Thị B")
        + _s("Văn thư")
        + struct.pack(">q", 1759222800000)  # 2025-09-30T09:00:00Z
    )
    assert receipt_signing_input(r) == expected
    assert receipt_signing_hash(r) == hashlib.sha256(expected).digest()


def test_envelope_input_starts_with_context_id_time_sequence_hashes() -> None:
    prefix = ENVELOPE_CONTEXT + _s(BASE.message_id) + struct.pack(">qq", 1759220100123, 1)
    prefix += struct.pack(">I", 32) + bytes(32) + struct.pack(">I", 32) + bytes(range(32))
    assert BASE_INPUT.startswith(prefix)
    assert signing_hash(BASE) == hashlib.sha256(BASE_INPUT).digest()


def test_signatures_are_not_covered() -> None:
    sig = Signature(
        role=SignerRole.OFFICIAL,
        algorithm="Ed25519",
        chain=[b"x"],
        signing_time=datetime.now(UTC),
        value=b"s",
    )
    assert envelope_signing_input(BASE.model_copy(update={"signatures": [sig]})) == BASE_INPUT
    assert receipt_signing_input(sample_receipt(signatures=[sig])) == receipt_signing_input(sample_receipt())


def test_payload_bytes_are_covered_only_through_the_digest() -> None:
    same_descriptor = BASE.payload.model_copy(update={"data": b"other"})
    assert envelope_signing_input(BASE.model_copy(update={"payload": same_descriptor})) == BASE_INPUT
    assert BASE.payload.sha256 in BASE_INPUT
    assert BASE.attachments[0].sha256 in BASE_INPUT
    assert BASE.payload.data not in BASE_INPUT


doc = BASE.document
CHANGES = {
    "message_id": {"message_id": "0199a0b2-7c3e-7d41-8a2b-3c4d5e6f7a8c"},
    "created_at": {"created_at": datetime(2025, 9, 30, 8, 15, 0, 124000, tzinfo=UTC)},
    "sequence": {"sequence": 2},
    "previous_hash": {"previous_hash": b"\x01" * 32},
    "directory_snapshot": {"directory_snapshot": b"\x02" * 32},
    "sender name": {"sender": BASE.sender.model_copy(update={"name": "Bộ GD&ĐT"})},
    "sender contact": {"sender": BASE.sender.model_copy(update={"phone": "024 0000 0000"})},
    "recipients": {"recipients": ["H41"]},
    "recipient order": {"recipients": list(reversed(BASE.recipients))},
    "groups": {"groups": ["all-departments"]},
    "subject": {"document": doc.model_copy(update={"subject": "V/v khác"})},
    "signer": {
        "document": doc.model_copy(update={"signer": doc.signer.model_copy(update={"full_name": "B"})})
    },
    "priority": {"document": doc.model_copy(update={"priority": Priority.FLASH})},
    "due date": {"document": doc.model_copy(update={"due_date": None})},
    "places": {"document": doc.model_copy(update={"places": ["Như trên;"]})},
    "steering": {"document": doc.model_copy(update={"steering_type": SteeringType.NOT_STEERING})},
    "response_for": {"document": doc.model_copy(update={"response_for": "H41,2025/09/01,12/SGDĐT-VP"})},
    "business type": {"document": doc.model_copy(update={"business_type": BusinessType.REPLACE})},
    "security level": {"document": doc.model_copy(update={"security_level": SecurityLevel.SECRET})},
    "promulgation place": {"document": doc.model_copy(update={"promulgation_place": "TP. Hồ Chí Minh"})},
    "trace": {"trace": [TraceHop(org_code="G03.15", at=datetime(2025, 9, 30, tzinfo=UTC))]},
    "payload name": {"payload": BASE.payload.model_copy(update={"file_name": "x.pdf"})},
    "payload digest": {"payload": BASE.payload.model_copy(update={"sha256": bytes(32)})},
    "attachments": {"attachments": []},
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=list(CHANGES))
def test_every_signed_field_changes_the_input(change: dict[str, object]) -> None:
    assert envelope_signing_input(BASE.model_copy(update=change)) != BASE_INPUT


def test_field_boundaries_are_unambiguous() -> None:
    a = sample_envelope(recipients=["G03.1", "H41"], groups=[])
    b = sample_envelope(recipients=["G03", "1H41"], groups=[])
    c = sample_envelope(recipients=["G03.1"], groups=["all-h41"])
    inputs = {envelope_signing_input(x) for x in (a, b, c)}
    assert len(inputs) == 3
    # an absent optional differs from any present value
    with_due = sample_envelope(document=doc.model_copy(update={"due_date": date(2025, 10, 15)}))
    assert envelope_signing_input(with_due) != envelope_signing_input(
        sample_envelope(document=doc.model_copy(update={"due_date": None}))
    )


def test_digest_checks() -> None:
    assert payload_digest_ok(BASE)
    check_digests(BASE)
    wrong_size = BASE.payload.model_copy(update={"size": BASE.payload.size + 1})
    wrong_hash = BASE.payload.model_copy(update={"sha256": bytes(32)})
    wrong_attachment = [BASE.attachments[0].model_copy(update={"data": b"changed"})]
    for change in ({"payload": wrong_size}, {"payload": wrong_hash}, {"attachments": wrong_attachment}):
        env = BASE.model_copy(update=change)
        assert not payload_digest_ok(env)
        with pytest.raises(ContractError) as err:
            check_digests(env)
        assert err.value.reason is Reason.DIGEST_MISMATCH


def test_payload_of_builds_a_matching_descriptor() -> None:
    p = Payload.of("a.pdf", "application/pdf", b"abc")
    assert (p.size, p.sha256) == (3, hashlib.sha256(b"abc").digest())


def test_status_codes_are_the_edxml_codes() -> None:
    assert [s.value for s in StatusCode] == ["01", "02", "03", "04", "05", "06", "13", "15", "16"]
    assert Organization(code="000.00.00.G03", name="Bộ").code == "000.00.00.G03"  # signed as written

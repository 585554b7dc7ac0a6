from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pydantic
import pytest

from consumers.audit.core.chain import CHAIN_CONTEXT, HEADER, AuditChain, read_link, record_hash
from schemas.audit import ZERO_HASH, AuditEvent, AuditRecord, SourcePosition
from schemas.codec import decode, fingerprint
from schemas.errors import ContractError
from tests.audit.conftest import T0, append_event


def test_records_link_by_the_hash_of_the_exact_stored_bytes() -> None:
    chain = AuditChain()
    first = chain.append(
        AuditEvent.SUBMITTED, at=T0, message_id="m-1", sender="G03", stored_hash=b"\x07" * 32
    )
    second = chain.append(AuditEvent.ACCEPTED, at=T0, message_id="m-1", sender="G03")
    assert first.record.prev_hash == ZERO_HASH and first.record.index == 0
    assert first.hash == hashlib.sha256(b"docbus/audit/v1\x00" + first.stored).digest()
    assert second.record.prev_hash == first.hash and second.record.index == 1
    assert (chain.next_index, chain.last_hash) == (2, second.hash)


def test_prev_hash_and_index_sit_at_fixed_offsets() -> None:
    chain = AuditChain()
    stored = [append_event(chain, i)[0] for i in range(300)]
    for i, data in enumerate(stored):
        assert data.startswith(HEADER)
        prev, index = read_link(data)
        assert index == i
        assert prev == (record_hash(stored[i - 1]) if i else ZERO_HASH)


def test_stored_bytes_decode_to_the_record_written() -> None:
    chain = AuditChain()
    source = SourcePosition(topic="docbus.ingress", partition=3, offset=1 << 40)
    appended = chain.append(
        AuditEvent.RECEIPT,
        at=datetime(2026, 3, 2, 8, 30, 0, 123456, tzinfo=UTC),
        message_id="m-2",
        sender="G03",
        recipient="H41",
        status="03",
        receipt_hash=b"\x01" * 32,
        source=source,
    )
    back = decode(appended.stored, AuditRecord)
    assert back == appended.record
    assert back.at.microsecond == 123000  # milliseconds on the wire, and in the model too


def test_resume_continues_the_same_chain() -> None:
    writer = AuditChain()
    stored = [append_event(writer, i)[0] for i in range(5)]
    resumed = AuditChain.resume(stored[-1])
    assert (resumed.next_index, resumed.last_hash) == (writer.next_index, writer.last_hash)
    assert AuditChain.resume(None).next_index == 0


def test_resume_refuses_a_damaged_tail() -> None:
    chain = AuditChain()
    stored, _ = append_event(chain, 0)
    with pytest.raises(ContractError):
        AuditChain.resume(stored[:-3])


@pytest.mark.parametrize(
    ("event", "fields"),
    [
        (AuditEvent.REJECTED, {}),  # no reason
        (AuditEvent.REJECTED, {"reason": "not a code"}),
        (AuditEvent.RECEIPT, {}),  # no status
        (AuditEvent.RECEIPT, {"status": "3"}),
        (AuditEvent.ROUTED, {}),  # no recipient
        (AuditEvent.SUBMITTED, {"stored_hash": b"short"}),
    ],
)
def test_event_rules_refuse_incomplete_records_and_leave_the_chain_unchanged(
    event: AuditEvent, fields: dict[str, object]
) -> None:
    chain = AuditChain()
    with pytest.raises(pydantic.ValidationError):
        chain.append(event, at=T0, message_id="m", sender="G03", **fields)  # type: ignore[arg-type]
    assert (chain.next_index, chain.last_hash) == (0, ZERO_HASH)


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError):
        AuditChain().append(AuditEvent.SUBMITTED, at=datetime(2026, 1, 1), message_id="m", sender="G03")


def test_rejected_carries_its_reason() -> None:
    appended = AuditChain().append(
        AuditEvent.REJECTED, at=T0 + timedelta(1), message_id="m", sender="G03", reason="CERT_REVOKED"
    )
    assert decode(appended.stored, AuditRecord).reason == "CERT_REVOKED"


def test_wire_fingerprints_match_docs_audit_md() -> None:
    assert HEADER.hex() == "c30124c446758535c624"
    assert fingerprint("audit_record.v1").hex() == "58803c3ee29c7d6d"
    assert fingerprint("checkpoint.v1").hex() == "272c635bd9d9ed61"
    assert fingerprint("evidence.v1").hex() == "cd676bced232adcd"


def test_context_string_is_part_of_the_hash() -> None:
    stored, digest = append_event(AuditChain(), 0)
    assert CHAIN_CONTEXT == b"docbus/audit/v1\x00"
    assert digest != hashlib.sha256(stored).digest()

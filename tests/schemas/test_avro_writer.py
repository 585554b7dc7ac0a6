"""The compiled Avro writer writes exactly the codec's (fastavro's) bytes."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.audit import AuditEvent, AuditRecord, SourcePosition
from schemas.avro_writer import encode_model, writer, zigzag
from schemas.codec import decode, encode, register_schema, schema_entries
from schemas.continuity import Chain
from schemas.envelope import Envelope
from schemas.errors import ContractError
from schemas.quarantine import QuarantineRecord
from schemas.reasons import Reason
from schemas.receipt import Receipt
from schemas.route_proof import RouteProof
from schemas.signature import Signature, SignerRole
from tests.schemas.samples import sample_envelope, sample_receipt
from tests.schemas.strategies import envelopes, quarantine_records, receipts, sha256s, times, uuids

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
AT = datetime(2026, 12, 2, 10, 0, 0, 123000, tzinfo=UTC)
SEAL = Signature(
    role=SignerRole.ORGANIZATION, algorithm="ECDSA_P256_SHA256", chain=[b"leaf", b"ca"], signing_time=AT,
    value=b"\x30" * 71,
)  # fmt: skip


def test_every_shipped_schema_compiles() -> None:
    for entry in schema_entries():
        writer(entry.name)


@FAST
@given(envelopes())
def test_envelope_bytes(env: Envelope) -> None:
    assert encode_model(env) == encode(env)


@FAST
@given(receipts(), st.none() | st.builds(Chain, channel=st.just("main"), sequence=st.integers(0, 2**63 - 1),
                                         signing_hash=sha256s))  # fmt: skip
def test_receipt_bytes(receipt: Receipt, chain: Chain | None) -> None:
    receipt = receipt.model_copy(update={"chain": chain})
    raw = encode_model(receipt)
    assert raw == encode(receipt)
    assert decode(raw, Receipt) == receipt


@FAST
@given(quarantine_records)
def test_quarantine_bytes(record: QuarantineRecord) -> None:
    assert encode_model(record) == encode(record)


@FAST
@given(
    st.sampled_from(AuditEvent), uuids, times, st.none() | sha256s,
    st.lists(sha256s, max_size=8), st.none() | st.integers(0, 2**63 - 1), st.integers(0, 2**63 - 1),
)  # fmt: skip
def test_audit_record_bytes(
    event: AuditEvent, message_id: str, at: datetime, stored: bytes | None, trust: list[bytes],
    offset: int | None, index: int,
) -> None:  # fmt: skip
    record = AuditRecord(
        prev_hash=bytes(32), index=index, event=event, at=at, message_id=message_id, sender="H01",
        recipient="H05" if event in (AuditEvent.ROUTED, AuditEvent.DELIVERED, AuditEvent.RECEIPT) else None,
        reason="DUPLICATE" if event is AuditEvent.REJECTED else None,
        status="01" if event is AuditEvent.RECEIPT else None,
        stored_hash=stored, trust_hashes=trust,
        source=None if offset is None else SourcePosition(topic="docbus.ingress", partition=2, offset=offset),
    )  # fmt: skip
    raw = encode_model(record)
    assert raw == encode(record)
    assert decode(raw, AuditRecord) == record


def test_route_proof_and_sample_bytes() -> None:
    proof = RouteProof(
        message_id=sample_envelope().message_id, signing_hash=bytes(range(32)), recipient="H05",
        snapshot=bytes(32), signature=SEAL,
    )  # fmt: skip
    assert encode_model(proof) == encode(proof)
    assert encode_model(sample_envelope()) == encode(sample_envelope())
    assert encode_model(sample_receipt()) == encode(sample_receipt())


@pytest.mark.parametrize(
    "n", [0, 1, -1, 63, 64, -64, -65, 2**31 - 1, -(2**31), 2**62, 2**63 - 1, -(2**63), 4095, 4096, 8191]
)
def test_longs_and_lengths(n: int) -> None:
    entry = register_schema(
        "test_avro_writer.v1",
        {"type": "record", "name": "WriterProbe", "namespace": "test", "fields": [
            {"name": "n", "type": "long"}, {"name": "s", "type": "string"},
            {"name": "m", "type": {"type": "map", "values": "int"}},
            {"name": "d", "type": "double"}, {"name": "b", "type": "boolean"},
            {"name": "u", "type": ["string", "null"]},
        ]},
    )  # fmt: skip
    size = abs(n) % 5000
    record = {"n": n, "s": "đ" * size, "m": {"a": 1, "b": -2} if n % 2 else {}, "d": n / 7, "b": n > 0,
              "u": None if n % 3 else "x"}  # fmt: skip
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, entry.parsed, record)
    assert writer("test_avro_writer.v1")(record) == b"\xc3\x01" + entry.fingerprint + buf.getvalue()
    assert zigzag(n) == fastavro_long(n)


def fastavro_long(n: int) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, "long", n)
    return buf.getvalue()


def test_values_the_schema_cannot_hold_are_contract_errors() -> None:
    proof = RouteProof.model_construct(
        message_id=sample_envelope().message_id, signing_hash=b"short", recipient="H05", snapshot=bytes(32),
        signature=SEAL,
    )  # fmt: skip
    with pytest.raises(ContractError) as caught:
        encode_model(proof)
    assert caught.value.reason is Reason.INVALID_FIELD
    naive = SEAL.model_construct(**{**SEAL.model_dump(), "signing_time": datetime(2026, 1, 1)})
    with pytest.raises(ContractError):
        encode_model(proof.model_copy(update={"signing_hash": bytes(32), "signature": naive}))


def test_a_union_of_two_types_is_left_to_the_codec() -> None:
    register_schema(
        "test_avro_writer_union.v1",
        {"type": "record", "name": "UnionProbe", "namespace": "test",
         "fields": [{"name": "v", "type": ["null", "string", "long"]}]},
    )  # fmt: skip
    with pytest.raises(ValueError, match="not compiled"):
        writer("test_avro_writer_union.v1")

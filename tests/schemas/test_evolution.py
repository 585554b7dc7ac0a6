"""Schema evolution (docs/SCHEMA-EVOLUTION.md): a newer reader reads what an older writer wrote."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
import pytest
from pydantic import Field, ValidationError

from consumers.audit.core.chain import HEADER, read_link, record_hash
from consumers.audit.core.log import AuditLog
from consumers.audit.core.verify import verify_log
from consumers.audit.kafka.logview import LogView
from schemas.audit import ZERO_HASH, AuditEvent, AuditRecord
from schemas.canonical import (
    CHANNEL_CONTEXT,
    ENVELOPE_CONTEXT,
    ENVELOPE_V2_CONTEXT,
    RECEIPT_V2_CONTEXT,
    envelope_signing_input,
    receipt_signing_input,
)
from schemas.codec import MARKER, AvroModel, decode, encode, fingerprint, register_schema, schema_entries
from schemas.continuity import Chain
from schemas.edxml import EdxmlAttachment, EdxmlBusiness, EdxmlDetails, EdxmlOrgan, EdxmlStaff
from schemas.envelope import Envelope
from schemas.errors import ContractError
from schemas.reasons import Reason
from schemas.receipt import Receipt, is_receipt
from schemas.route_proof import RouteProof
from tests.schemas.samples import sample_envelope

HERE = Path(__file__).parent / "avro"
for _name in ("sample.v1", "sample.v2", "sample.v3-broken"):
    register_schema(_name, json.loads((HERE / f"{_name}.avsc").read_text()))


class SampleV1(AvroModel):
    avro_schema = "sample.v1"
    id: str
    title: str
    count: int


class SampleV2(AvroModel):
    avro_schema = "sample.v2"
    id: str
    subject: str
    count: int
    tags: list[str] = Field(default_factory=list)
    note: str | None = None


class SampleV3Broken(AvroModel):
    avro_schema = "sample.v3-broken"
    id: str
    subject: str
    count: int
    owner: str


def test_versions_have_distinct_fingerprints() -> None:
    assert fingerprint("sample.v1") != fingerprint("sample.v2")


def test_newer_reader_reads_older_writer_with_defaults_and_alias() -> None:
    old = encode(SampleV1(id="a", title="V/v tuyển sinh", count=7))
    assert old[2:10] == fingerprint("sample.v1")  # written with v1's fingerprint
    assert decode(old, SampleV2) == SampleV2(id="a", subject="V/v tuyển sinh", count=7, tags=[], note=None)


def test_older_reader_cannot_undo_a_type_promotion() -> None:
    # only BACKWARD is promised: v1 (int) cannot read v2's long, and says so as a contract error
    new = encode(SampleV2(id="b", subject="s", count=2**40, tags=["x"], note="n"))
    with pytest.raises(ContractError) as err:
        decode(new, SampleV1)
    assert err.value.reason is Reason.UNKNOWN_SCHEMA


def test_same_version_round_trip() -> None:
    value = SampleV2(id="c", subject="s", count=1, tags=["t1", "t2"])
    assert decode(encode(value), SampleV2) == value


def test_field_without_default_breaks_backward_compatibility() -> None:
    old = encode(SampleV1(id="a", title="t", count=1))
    with pytest.raises(ContractError) as err:
        decode(old, SampleV3Broken)
    assert err.value.reason is Reason.UNKNOWN_SCHEMA
    assert "cannot be read as" in err.value.detail


# --- envelope.v1 -> envelope.v2 (optional edxml details) ------------------------------------------

V1_VECTOR = Path(__file__).parents[1] / "vectors" / "data" / "valid-ed25519.bin"
V1_INPUT = Path(__file__).parents[1] / "vectors" / "data" / "valid-ed25519.input.bin"


def _details() -> EdxmlDetails:
    return EdxmlDetails(
        sender_fax="024 1",
        content="Nội dung",
        type_code="1",
        type_name="Công văn",
        competence_text="KT. BỘ TRƯỞNG",
        page_amount=2,
        direction=False,
        appendixes=["Phụ lục"],
        business=EdxmlBusiness(reason="mới", paper=0, staff=EdxmlStaff(staff="Văn thư")),
        to=[EdxmlOrgan(code="000.00.00.H29", name="Sở GD&ĐT", fax="1")],
        attachments=[
            EdxmlAttachment(content_id="cid:1", description="văn bản"),
            EdxmlAttachment(content_id="2"),
        ],
    )


def test_a_v1_envelope_reads_as_v2_with_no_details_and_the_same_signing_input() -> None:
    raw = V1_VECTOR.read_bytes()
    assert raw[2:10] == fingerprint("envelope.v1")
    env = decode(raw, Envelope)
    assert env.edxml is None
    assert envelope_signing_input(env) == V1_INPUT.read_bytes()


def test_v2_details_round_trip_and_are_signed_under_their_own_context() -> None:
    plain = sample_envelope()
    env = plain.model_copy(update={"edxml": _details()})
    raw = encode(env)
    assert raw[2:10] == fingerprint("envelope.v6")
    assert decode(raw, Envelope) == env
    signed = envelope_signing_input(env)
    assert signed.startswith(ENVELOPE_V2_CONTEXT)
    assert signed[len(ENVELOPE_V2_CONTEXT) :].startswith(
        envelope_signing_input(plain)[len(ENVELOPE_CONTEXT) :]
    )
    changed = env.model_copy(update={"edxml": _details().model_copy(update={"content": "khác"})})
    assert envelope_signing_input(changed) != signed  # every detail is covered


def test_v2_without_details_signs_the_v1_input() -> None:
    plain = sample_envelope()
    assert encode(plain)[2:10] == fingerprint("envelope.v6")
    assert envelope_signing_input(decode(encode(plain), Envelope)).startswith(ENVELOPE_CONTEXT)


def test_details_must_describe_this_envelope() -> None:
    with pytest.raises(ValidationError, match="not a recipient"):
        sample_envelope(edxml=EdxmlDetails(to=[EdxmlOrgan(code="H63")]))
    two = [EdxmlAttachment(content_id="cid:1"), EdxmlAttachment(content_id="cid:2")]
    with pytest.raises(ValidationError, match="payload and every attachment"):
        sample_envelope(attachments=[], edxml=EdxmlDetails(attachments=two))


def test_a_v3_envelope_reads_as_v4_with_no_staples_and_the_same_signing_input() -> None:
    import io

    import fastavro

    from schemas.codec import MARKER, schema_entries

    v3 = next(e for e in schema_entries() if e.name == "envelope.v3")
    env = sample_envelope()
    body = io.BytesIO()
    record = env.model_dump()
    for sig in record["signatures"]:
        del sig["ocsp"]  # what a v3 writer had
    fastavro.schemaless_writer(body, v3.parsed, record)
    back = decode(MARKER + v3.fingerprint + body.getvalue(), Envelope)
    assert all(s.ocsp == [] for s in back.signatures)
    assert envelope_signing_input(back) == envelope_signing_input(env)
    assert encode(back)[2:10] == fingerprint("envelope.v6")


def test_a_v4_envelope_reads_as_v5_in_the_default_channel_with_the_same_signing_input() -> None:
    v4 = _parsed("envelope.v4")
    env = sample_envelope()
    body = io.BytesIO()
    record = env.model_dump()
    del record["channel"]  # what a v4 writer had
    fastavro.schemaless_writer(body, v4, record)
    back = decode(MARKER + fingerprint("envelope.v4") + body.getvalue(), Envelope)
    assert back.channel == "" and envelope_signing_input(back) == envelope_signing_input(env)
    assert envelope_signing_input(back).startswith(ENVELOPE_CONTEXT)


def test_a_named_channel_is_signed_and_stripping_or_changing_it_changes_the_input() -> None:
    env = sample_envelope()
    named = env.model_copy(update={"channel": "eoffice"})
    signed = envelope_signing_input(named)
    assert signed == CHANNEL_CONTEXT + b"\x00\x00\x00\x07eoffice" + envelope_signing_input(env)
    other = env.model_copy(update={"channel": "cli"})
    assert envelope_signing_input(other) != signed != envelope_signing_input(env)
    assert decode(encode(named), Envelope).channel == "eoffice"
    for bad in ("EOffice", "-x", "a" * 33, "e office", "\u202e"):
        with pytest.raises(ValidationError):
            Envelope.model_validate({**env.model_dump(), "channel": bad})


def test_a_v2_receipt_reads_as_v3_without_a_chain_and_a_chain_is_signed_under_its_own_context() -> None:
    old = (VECTORS / "receipt-rsa-pss.bin").read_bytes()
    receipt = decode(old, Receipt)
    body = io.BytesIO()
    record = receipt.model_dump()
    del record["chain"]
    fastavro.schemaless_writer(body, _parsed("receipt.v2"), record)
    back = decode(MARKER + fingerprint("receipt.v2") + body.getvalue(), Receipt)
    assert back.chain is None and receipt_signing_input(back) == receipt_signing_input(receipt)
    seven = Chain(channel="cli", sequence=7, signing_hash=b"\x07" * 32)
    chained = receipt.model_copy(update={"chain": seven})
    assert decode(encode(chained), Receipt).chain == chained.chain
    signed = receipt_signing_input(chained)
    assert signed.startswith(RECEIPT_V2_CONTEXT)
    assert signed.endswith(b"\x00\x00\x00\x03cli" + (7).to_bytes(8, "big") + b"\x00\x00\x00 " + b"\x07" * 32)
    moved = chained.model_copy(update={"chain": Chain(channel="cli", sequence=8, signing_hash=b"\x07" * 32)})
    assert receipt_signing_input(moved) != signed


VECTORS = Path(__file__).parents[1] / "vectors" / "data"


def test_a_v1_receipt_reads_as_v2_with_its_hash_as_signing_hash_and_the_same_signing_input() -> None:
    old = (VECTORS / "receipt-rsa-pss.bin").read_bytes()
    assert old[2:10] == fingerprint("receipt.v1") and is_receipt(old)
    receipt = decode(old, Receipt)  # v1's envelope_hash arrives through the alias
    v1_body = fastavro.schemaless_reader(io.BytesIO(old[10:]), _parsed("receipt.v1"), None)
    assert isinstance(v1_body, dict) and receipt.signing_hash == v1_body["envelope_hash"]
    assert receipt_signing_input(receipt) == (VECTORS / "receipt-rsa-pss.input.bin").read_bytes()
    again = encode(receipt)
    assert again[2:10] == fingerprint("receipt.v3") and is_receipt(again)
    assert decode(again, Receipt) == receipt


def _parsed(name: str) -> dict[str, Any]:
    return next(e.parsed for e in schema_entries() if e.name == name)


def _v1_audit_record(stored_hash: bytes) -> bytes:
    body = io.BytesIO()
    fields = {
        "prev_hash": ZERO_HASH, "index": (0).to_bytes(8, "big"), "event": "SUBMITTED",
        "at": datetime(2026, 3, 1, tzinfo=UTC), "message_id": "m-1", "document_id": None, "sender": "G03",
        "recipient": None, "reason": None, "status": None, "detail": "", "envelope_hash": stored_hash,
        "receipt_hash": None, "source": None, "trust_hashes": [],
    }  # fmt: skip
    fastavro.schemaless_writer(body, _parsed("audit_record.v1"), fields)
    return MARKER + fingerprint("audit_record.v1") + body.getvalue()


def test_an_audit_log_begun_in_v1_verifies_and_continues_in_v2() -> None:
    digest = bytes(range(32))
    old = _v1_audit_record(digest)
    assert decode(old, AuditRecord).stored_hash == digest  # v1's envelope_hash, through the alias
    log = AuditLog.replay([old])
    new = log.append(AuditEvent.ROUTED, at=datetime(2026, 3, 1, 0, 1, tzinfo=UTC), message_id="m-1",
                     sender="G03", recipient="H01", stored_hash=digest).stored  # fmt: skip
    assert new[:10] == HEADER != old[:10] and read_link(new) == (record_hash(old), 1)
    assert verify_log([old, new], [], {}).ok
    assert AuditLog.replay([old, new]).size == 2
    routed = list(LogView([old, new], []).matching(event="ROUTED", recipient="H01"))
    assert [r.index for r in routed] == [1] and routed[0].stored_hash == digest


def test_a_v1_route_proof_reads_as_v2_with_its_hash_as_signing_hash() -> None:
    signature = {"role": "organization", "algorithm": "ed25519", "chain": [b"\x30"], "value": b"\x01" * 64,
                 "signing_time": datetime(2026, 3, 1, tzinfo=UTC)}  # fmt: skip
    fields = {"message_id": "0b5d7d3e-6f7a-4c1e-9a47-3a7a2f6d9c10", "envelope_hash": bytes(range(32)),
              "recipient": "H01", "snapshot": bytes(32), "signature": signature}  # fmt: skip
    body = io.BytesIO()
    fastavro.schemaless_writer(body, _parsed("route_proof.v1"), fields)
    proof = decode(MARKER + fingerprint("route_proof.v1") + body.getvalue(), RouteProof)
    assert proof.signing_hash == bytes(range(32)) and proof.recipient == "H01"
    assert encode(proof)[2:10] == fingerprint("route_proof.v2")

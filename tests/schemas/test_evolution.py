"""Schema evolution (docs/SCHEMA-EVOLUTION.md): a newer reader reads what an older writer wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import Field, ValidationError

from schemas.canonical import ENVELOPE_CONTEXT, ENVELOPE_V2_CONTEXT, envelope_signing_input
from schemas.codec import AvroModel, decode, encode, fingerprint, register_schema
from schemas.edxml import EdxmlAttachment, EdxmlBusiness, EdxmlDetails, EdxmlOrgan, EdxmlStaff
from schemas.envelope import Envelope
from schemas.errors import ContractError
from schemas.reasons import Reason
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
    assert raw[2:10] == fingerprint("envelope.v4")
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
    assert encode(plain)[2:10] == fingerprint("envelope.v4")
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
    assert encode(back)[2:10] == fingerprint("envelope.v4")

"""The codec: single-object framing, fingerprints, and 'only ContractError ever escapes'."""

from __future__ import annotations

import contextlib
import json
import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import MARKER, decode, encode, fingerprint, schema_entries
from schemas.envelope import Envelope, parse_envelope
from schemas.errors import ContractError
from schemas.quarantine import QuarantineRecord
from schemas.reasons import Reason
from schemas.receipt import Receipt
from tests.schemas.samples import sample_envelope, sample_receipt

AVRO_DIR = Path(__file__).parents[2] / "schemas" / "avro"
ENVELOPE_RAW = encode(sample_envelope())


def _crc64_avro(data: bytes) -> bytes:
    """The Avro spec's reference fingerprint algorithm (Rabin, EMPTY = 0xc15d213aa4d7a795)."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp.to_bytes(8, "little")


def test_fingerprint_is_crc64_avro_of_the_parsing_canonical_form() -> None:
    import fastavro.schema

    for entry in schema_entries():
        canonical = fastavro.schema.to_parsing_canonical_form(entry.parsed)
        assert entry.fingerprint == _crc64_avro(canonical.encode())
    # the spec's own example: fingerprint64("int") == 0x7275d51a3f395c8f
    assert _crc64_avro(b'"int"') == (0x7275D51A3F395C8F).to_bytes(8, "little")


def test_every_shipped_schema_loads_under_its_file_stem() -> None:
    names = {e.name for e in schema_entries()}
    stems = {p.name.removesuffix(".avsc") for p in AVRO_DIR.glob("*.avsc")}
    assert stems <= names
    assert {"envelope.v1", "envelope.v2", "receipt.v1", "quarantine.v1"} <= names


def test_frame_is_marker_fingerprint_body() -> None:
    assert ENVELOPE_RAW[:2] == MARKER == b"\xc3\x01"
    assert ENVELOPE_RAW[2:10] == fingerprint("envelope.v6")


def test_every_truncation_fails_with_contract_error() -> None:
    for cut in range(len(ENVELOPE_RAW)):
        with pytest.raises(ContractError) as err:
            decode(ENVELOPE_RAW[:cut], Envelope)
        assert err.value.reason in {Reason.MALFORMED, Reason.INVALID_FIELD}, cut


def test_trailing_bytes_are_malformed() -> None:
    with pytest.raises(ContractError) as err:
        decode(ENVELOPE_RAW + b"\x00", Envelope)
    assert err.value.reason is Reason.MALFORMED


def test_unknown_fingerprint() -> None:
    with pytest.raises(ContractError) as err:
        decode(MARKER + b"\x01" * 8 + ENVELOPE_RAW[10:], Envelope)
    assert err.value.reason is Reason.UNKNOWN_SCHEMA


def test_other_record_type_is_unknown_schema_for_this_reader() -> None:
    with pytest.raises(ContractError) as err:
        decode(encode(sample_receipt()), Envelope)
    assert err.value.reason is Reason.UNKNOWN_SCHEMA
    assert "vn.docbus.Receipt" in err.value.detail


def test_decoded_field_breaking_a_rule_is_invalid_field() -> None:
    # Avro accepts any string; the model refuses a malformed org code
    record = sample_receipt().model_dump()
    record["from_org"] = "g03"
    raw = encode(Receipt.model_construct(**record))
    with pytest.raises(ContractError) as err:
        decode(raw, Receipt)
    assert err.value.reason is Reason.INVALID_FIELD
    assert "from_org" in err.value.detail


def test_encoding_a_value_avro_cannot_carry_is_a_contract_error() -> None:
    good = QuarantineRecord(
        raw=b"x",
        reason=Reason.MALFORMED,
        detail="d",
        topic="t",
        partition=0,
        offset=0,
        at=sample_receipt().at,
    )
    bad = good.model_copy(update={"raw": "not bytes"})  # model_copy skips validation
    with pytest.raises(ContractError) as err:
        encode(bad)
    assert err.value.reason is Reason.INVALID_FIELD


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bodies_never_escape_as_other_errors(body: bytes) -> None:
    with contextlib.suppress(ContractError):
        decode(ENVELOPE_RAW[:10] + body, Envelope)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=10, max_value=len(ENVELOPE_RAW) - 1), st.integers(min_value=1, max_value=255))
def test_flipped_bytes_decode_or_fail_as_contract_errors(position: int, xor: int) -> None:
    mutated = bytearray(ENVELOPE_RAW)
    mutated[position] ^= xor
    with contextlib.suppress(ContractError):
        parse_envelope(bytes(mutated))


def test_contract_error_carries_reason_and_pickles() -> None:
    err = ContractError(Reason.TOO_LARGE, "2 MiB")
    again = pickle.loads(pickle.dumps(err))
    assert (again.reason, again.detail, str(again)) == (Reason.TOO_LARGE, "2 MiB", "TOO_LARGE: 2 MiB")


def test_schema_files_are_named_records_in_the_docbus_namespace() -> None:
    for path in AVRO_DIR.glob("*.avsc"):
        schema = json.loads(path.read_text())
        assert schema["type"] == "record"
        assert schema.get("namespace", "").startswith("vn.docbus") or schema["name"].startswith("vn.docbus")

"""Schema evolution (docs/SCHEMA-EVOLUTION.md): a newer reader reads what an older writer wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import Field

from schemas.codec import AvroModel, decode, encode, fingerprint, register_schema
from schemas.errors import ContractError
from schemas.reasons import Reason

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

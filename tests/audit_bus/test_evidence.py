"""`docbus evidence`: one self-contained bundle, verified offline; any alteration refused.
Also `docbus audit timeline` over the same story."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from consumers.audit.kafka.service import AuditWriterService
from schemas.audit import Evidence
from schemas.codec import decode, encode
from tests.audit_bus.conftest import AuditPki, AuditTestSettings
from tests.audit_bus.scenario import cli, request_checkpoint, send_document

pytestmark = pytest.mark.broker

OFFLINE = {"DOCBUS_BOOTSTRAP": "127.0.0.1:9"}  # nothing listens there: no broker is used


async def test_evidence_verifies_offline_and_refuses_alterations(
    audit_settings: AuditTestSettings,
    running_writer: Callable[[], AuditWriterService],
    audit_pki: AuditPki,
    tmp_path: Path,
) -> None:
    s = audit_settings
    running_writer()
    sent = await send_document(
        s, audit_pki, number="7", deliver_to=["G03.U002", "H01"], receipt_from="G03.U002"
    )
    await send_document(s, audit_pki, number="8")  # another message: not in the bundle
    await request_checkpoint(s, 5 + 4)

    timeline = cli(s, "audit", "timeline", sent.envelope.document.document_id)
    assert timeline.returncode == 0, timeline.stdout + timeline.stderr
    lines = timeline.stdout
    for event in ("SUBMITTED", "ACCEPTED", "ROUTED", "RECEIPT"):
        assert event in lines
    assert "G03.U002" in lines and "H01" in lines and " 03 " in lines
    traced = cli(s, "audit", "timeline", sent.message_id, "--json")
    assert traced.returncode == 0, traced.stdout + traced.stderr
    story = json.loads(traced.stdout)
    assert story["query"] == sent.message_id
    assert [r["event"] for r in story["records"]].count("ROUTED") == 2
    assert {r["recipient"] for r in story["records"] if r["event"] == "ROUTED"} == {"G03.U002", "H01"}

    out = tmp_path / "evidence.bin"
    built = cli(s, "evidence", sent.message_id, "--out", str(out))
    assert built.returncode == 0, built.stdout + built.stderr
    bundle = decode(out.read_bytes(), Evidence)
    assert bundle.envelope == sent.raw and len(bundle.receipts) == 1 and bundle.crls
    assert len(bundle.records) == 5  # submitted, accepted, routed x2, receipt

    ok = cli(s, "evidence", "verify", str(out), **OFFLINE)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"message {sent.message_id}" in ok.stdout and "RECEIPT" in ok.stdout
    # the bundle yields the header and the document back, once verified; one JSON document says so
    shown = cli(s, "evidence", "verify", str(out), "--extract", str(tmp_path / "doc"), "--json", **OFFLINE)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    report = json.loads(shown.stdout)
    assert report["ok"] and report["message_id"] == sent.message_id and report["accepted"]
    assert [r["event"] for r in report["records"]][:2] == ["SUBMITTED", "ACCEPTED"]
    assert report["checkpoint"]["tree_size"] >= len(report["records"])
    header = json.loads((tmp_path / "doc" / "header.json").read_text("utf-8"))
    assert header["message_id"] == sent.message_id
    assert header["document"]["subject"] == sent.envelope.document.subject
    assert {sig["role"] for sig in header["signatures"]} == {"official", "organization"}
    payload = sent.envelope.payload
    assert (tmp_path / "doc" / "files" / payload.file_name).read_bytes() == payload.data
    assert (tmp_path / "doc" / "envelope.bin").read_bytes() == sent.raw

    def altered(name: str, **update: object) -> Path:
        path = tmp_path / f"{name}.bin"
        path.write_bytes(encode(bundle.model_copy(update=update)))
        return path

    flipped = bytearray(sent.raw)
    at = flipped.index(b"V/v")
    flipped[at] ^= 0x20  # the subject's first letter: the envelope still decodes
    first = bundle.records[0]
    bent = first.model_copy(update={"proof": [bytes(32), *first.proof[1:]]})
    cases = {
        "envelope": (altered("envelope", envelope=bytes(flipped)), "DIGEST_MISMATCH"),
        "receipt": (altered("receipt", receipts=[bundle.receipts[0] + b"\x00"]), "DIGEST_MISMATCH"),
        "proof": (altered("proof", records=[bent, *bundle.records[1:]]), "DIGEST_MISMATCH"),
        "crl": (altered("crl", crls=[]), "CRL_UNAVAILABLE"),
    }
    for name, (path, reason) in cases.items():
        bad = cli(s, "evidence", "verify", str(path), **OFFLINE)
        assert bad.returncode == 1, (name, bad.stdout, bad.stderr)
        assert "does NOT verify" in bad.stdout and reason in bad.stdout, (name, bad.stdout)

    raw = bytearray(out.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (tmp_path / "raw.bin").write_bytes(bytes(raw))
    bad = cli(s, "evidence", "verify", str(tmp_path / "raw.bin"), **OFFLINE)
    assert bad.returncode == 1 and "does NOT verify" in bad.stdout

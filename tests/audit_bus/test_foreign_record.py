"""A forged, correctly chained record appended to the audit topic by someone who can write it
(docs/AUDIT.md §2a): the writer keeps its own chain, a restarted writer starts, verify names the
record (FOREIGN_RECORD, exit 1), evidence still builds, and the timeline marks what it is."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consumers.audit.core.chain import AuditChain, read_link, record_hash
from consumers.audit.core.seal import SEAL_HEADER
from consumers.audit.kafka.kafka_io import produce_all, read_topic
from consumers.audit.kafka.service import AuditWriterService
from schemas.audit import AuditEvent
from tests.audit_bus.conftest import AuditPki, AuditTestSettings, wait_values
from tests.audit_bus.scenario import cli, request_checkpoint, send_document

pytestmark = pytest.mark.broker


async def _forge(s: AuditTestSettings, message_id: str) -> int:
    """Append a RECEIPT that never happened, chained onto the topic's last record, with a bogus
    seal header; returns its topic position."""
    last = [m async for m in read_topic(s.kafka, s.audit_topic)][-1]
    _, index = read_link(last.value)
    forged = AuditChain(index + 1, record_hash(last.value)).append(
        AuditEvent.RECEIPT, at=datetime.now(UTC), message_id=message_id, sender="G03.U001",
        recipient="G03.U002", status="03", detail="accepted (forged)",
    )  # fmt: skip
    bogus = b"\x0fECDSA-P256-SHA256" + bytes(32) + b"\x30\x06\x02\x01\x01\x02\x01\x01"
    await produce_all(s.kafka, [(s.audit_topic, None, forged.stored, [(SEAL_HEADER, bogus)])])
    return last.offset + 1


async def test_a_forged_record_never_halts_auditing(
    audit_settings: AuditTestSettings, audit_pki: AuditPki, tmp_path: Path
) -> None:
    s = audit_settings
    stop = asyncio.Event()
    writer = AuditWriterService.from_settings(s, s.kafka)
    task = asyncio.create_task(writer.run(stop))
    try:
        a = await send_document(s, audit_pki, number="101")
        await request_checkpoint(s, 4)
        position = await _forge(s, a.message_id)  # = 4, claiming index 4

        b = await send_document(s, audit_pki, number="102")  # the writer goes on: indices 4..7
        await request_checkpoint(s, 9)
    finally:
        stop.set()
        await task
    assert writer.writer is not None and writer.writer.size == 8

    verify = await asyncio.to_thread(cli, s, "audit", "verify")
    assert verify.returncode == 1, verify.stdout + verify.stderr
    assert f"FAULT FOREIGN_RECORD at topic position {position}" in verify.stdout, verify.stdout
    assert "the writer's chain verifies: 8 records, 2 checkpoints" in verify.stdout, verify.stdout

    bundle = tmp_path / "b.evidence"
    built = await asyncio.to_thread(cli, s, "evidence", b.message_id, "--out", str(bundle))
    assert built.returncode == 0, built.stdout + built.stderr
    checked = await asyncio.to_thread(cli, s, "evidence", "verify", str(bundle))
    assert checked.returncode == 0 and "OK" in checked.stdout, checked.stdout + checked.stderr

    # a restarted writer rebuilds around the foreign record and keeps extending its own chain
    stop = asyncio.Event()
    again = AuditWriterService.from_settings(s, s.kafka)
    task = asyncio.create_task(again.run(stop))
    try:
        c = await send_document(s, audit_pki, number="103")
        await wait_values(s.kafka, s.audit_topic, lambda v: len(v) == 13)  # 12 + the forgery
    finally:
        stop.set()
        await task
    assert again.writer is not None and again.writer.size == 12
    assert [f.position for f in again.writer.foreign] == [position]

    forged_view = await asyncio.to_thread(cli, s, "audit", "timeline", a.message_id)
    assert forged_view.returncode == 0, forged_view.stdout + forged_view.stderr
    lines = forged_view.stdout.splitlines()
    receipt = [ln for ln in lines if "RECEIPT" in ln]
    assert len(receipt) == 1 and "FOREIGN" in receipt[0] and f"@{position}" in receipt[0], forged_view.stdout
    assert all("unverified" not in ln for ln in lines if "ROUTED" in ln), forged_view.stdout

    tail = await asyncio.to_thread(cli, s, "audit", "timeline", c.message_id)  # no checkpoint yet
    assert tail.returncode == 0, tail.stdout + tail.stderr
    rows = [ln for ln in tail.stdout.splitlines() if "SUBMITTED" in ln or "ROUTED" in ln]
    assert len(rows) == 3 and all("unverified" in ln for ln in rows), tail.stdout
    assert "4 record(s) not covered by a signed checkpoint" in tail.stdout, tail.stdout

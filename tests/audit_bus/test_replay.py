"""`docbus audit replay`: only what the org was routed, nothing its inbox already holds, audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from consumers.audit.kafka.kafka_io import read_topic
from consumers.audit.kafka.replay import REPLAY_HEADER
from consumers.audit.kafka.service import AuditWriterService
from schemas.audit import AuditEvent, AuditRecord
from schemas.codec import decode
from schemas.receipt import StatusCode, parse_receipt
from tests.audit_bus.conftest import AuditPki, AuditTestSettings, wait_values
from tests.audit_bus.scenario import cli, send_document, send_receipt

pytestmark = pytest.mark.broker


async def test_replay_sends_what_the_org_lacks_and_is_entitled_to(
    audit_settings: AuditTestSettings, running_writer: Callable[[], AuditWriterService], audit_pki: AuditPki
) -> None:
    s = audit_settings
    running_writer()
    held = await send_document(s, audit_pki, number="1", deliver_to=["H01", "G03.U002"])
    lost = await send_document(s, audit_pki, number="2", deliver_to=["G03.U002"])  # H01's copy lost
    other = await send_document(s, audit_pki, number="3", recipients=["G03.U002"])  # not for H01
    await wait_values(s.kafka, s.audit_topic, lambda v: len(v) == 3 + 4 + 4)
    window = [
        "--since",
        (held.at - timedelta(minutes=1)).isoformat(),
        "--until",
        datetime.now(UTC).isoformat(),
    ]

    dry = cli(s, "audit", "replay", "--org", "H01", *window, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert lost.message_id in dry.stdout and "would send" in dry.stdout
    assert held.message_id in dry.stdout and "in inbox: skip" in dry.stdout
    assert other.message_id not in dry.stdout
    inbox = [m async for m in read_topic(s.kafka, s.inbox("H01"))]
    assert [m.key for m in inbox] == [held.message_id.encode()]  # a dry run sends nothing

    done = cli(s, "audit", "replay", "--org", "H01", *window)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 sent, 1 already held" in done.stdout
    inbox = [m async for m in read_topic(s.kafka, s.inbox("H01"))]
    assert [m.key for m in inbox] == [held.message_id.encode(), lost.message_id.encode()]
    copy = inbox[1]
    assert copy.value == lost.raw  # the exact ingress bytes
    assert copy.header("ce_id") == lost.message_id.encode()
    assert copy.header("docbus_recipient") == b"H01" and copy.header(REPLAY_HEADER) is not None

    stored = await wait_values(
        s.kafka,
        s.audit_topic,
        lambda v: any(decode(x, AuditRecord).event is AuditEvent.REPLAYED for x in v),
    )
    replayed = [r for r in (decode(x, AuditRecord) for x in stored) if r.event is AuditEvent.REPLAYED]
    assert [(r.message_id, r.recipient, r.source) for r in replayed] == [
        (lost.message_id, "H01", lost.source)
    ]

    again = cli(s, "audit", "replay", "--org", "H01", *window)
    assert again.returncode == 0 and "0 sent, 2 already held" in again.stdout
    # the ministry was never a recipient: it gets nothing, whatever its inbox lacks
    none = cli(s, "audit", "replay", "--org", "G03", *window)
    assert none.returncode == 0 and "0 sent, 0 already held" in none.stdout
    assert [m async for m in read_topic(s.kafka, s.inbox("G03"))] == []
    # outside the window nothing is selected
    early = ["--since", "2020-01-01T00:00:00", "--until", "2020-01-02T00:00:00"]
    assert "0 sent, 0 already held" in cli(s, "audit", "replay", "--org", "G03.U002", *early).stdout


async def test_replay_restores_the_receipts_and_recalls_an_inbox_had(
    audit_settings: AuditTestSettings, running_writer: Callable[[], AuditWriterService], audit_pki: AuditPki
) -> None:
    """A lost inbox gets back a recalled directive with its recall after it, and a sender's inbox the
    receipts about what it sent; once, however often replay runs."""
    s = audit_settings
    running_writer()
    recalled = await send_document(s, audit_pki, number="9", recipients=["H01"])  # H01's inbox lost
    recall = await send_receipt(s, audit_pki, recalled, "G03.U001", StatusCode.RECALL_REQUESTED,
                                to_org="H01", reason="ban hành nhầm")  # fmt: skip
    answered = await send_document(s, audit_pki, number="10", recipients=["H01"], receipt_from="H01")
    await wait_values(s.kafka, s.audit_topic, lambda v: len(v) == 3 + 1 + 3 + 1)
    window = [
        "--since",
        (recalled.at - timedelta(minutes=1)).isoformat(),
        "--until",
        datetime.now(UTC).isoformat(),
    ]

    dry = cli(s, "audit", "replay", "--org", "H01", *window, "--dry-run")
    assert dry.returncode == 0 and "13" in dry.stdout and "would send" in dry.stdout, dry.stdout + dry.stderr
    done = cli(s, "audit", "replay", "--org", "H01", *window)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 sent, 0 already held" in done.stdout and "receipts: 1 sent, 0 already held" in done.stdout
    inbox = [m async for m in read_topic(s.kafka, s.inbox("H01"))]
    # in the log's order: the directive, its recall, the other document (H01's own 03 is not for H01)
    assert [m.key for m in inbox] == [recalled.message_id.encode(), recall.message_id.encode(),
                                      answered.message_id.encode()]  # fmt: skip
    back = parse_receipt(inbox[1].value)
    assert back.status is StatusCode.RECALL_REQUESTED and back.envelope_id == recalled.message_id
    assert inbox[1].header("docbus_recipient") == b"H01" and inbox[1].header(REPLAY_HEADER) is not None
    assert inbox[1].header("ce_source") == b"docbus://G03.U001"

    again = cli(s, "audit", "replay", "--org", "H01", *window)
    assert "0 sent, 2 already held" in again.stdout and "receipts: 0 sent, 1 already held" in again.stdout
    # the sender's inbox: H01's 03 about the document it sent, not the recall it sent itself
    sender = cli(s, "audit", "replay", "--org", "G03.U001", *window)
    assert sender.returncode == 0 and "receipts: 1 sent, 0 already held" in sender.stdout, sender.stdout
    got = [parse_receipt(m.value) async for m in read_topic(s.kafka, s.inbox("G03.U001"))]
    assert [(r.envelope_id, r.from_org, r.status) for r in got] == [
        (answered.message_id, "H01", StatusCode.ACCEPTED)
    ]
    stored = await wait_values(s.kafka, s.audit_topic, lambda v: sum(
        decode(x, AuditRecord).event is AuditEvent.REPLAYED for x in v) == 4)  # fmt: skip
    replayed = [r for r in (decode(x, AuditRecord) for x in stored) if r.event is AuditEvent.REPLAYED]
    assert sorted((r.message_id, r.recipient, r.status or "") for r in replayed) == sorted([
        (recalled.message_id, "H01", ""), (recalled.message_id, "H01", "13"),
        (answered.message_id, "H01", ""),
        (answered.message_id, "G03.U001", StatusCode.ACCEPTED.value),
    ])  # fmt: skip

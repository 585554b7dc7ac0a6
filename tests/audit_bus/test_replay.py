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
from tests.audit_bus.conftest import AuditPki, AuditTestSettings, wait_values
from tests.audit_bus.scenario import cli, send_document

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

"""`docbus audit writer` killed with SIGKILL mid-stream and started again: every draft chained
exactly once (records stored but offsets not committed are re-delivered and dropped)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from consumers.audit.core.events import draft, event_id
from consumers.audit.core.trusted import verify_trusted
from consumers.audit.kafka.kafka_io import produce_all
from schemas.audit import AuditEvent, AuditRecord, Checkpoint
from schemas.codec import decode
from tests.audit_bus.conftest import AuditPki, AuditTestSettings, wait_values
from tests.audit_bus.scenario import cli, settings_env
from tests.conftest import REPO

pytestmark = pytest.mark.broker

T0 = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
N = 3000
M = 200  # sent after the restart


def start_writer(settings: AuditTestSettings) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "docbus.cli", "audit", "writer"], cwd=REPO, env=settings_env(settings),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def test_killed_writer_resumes_without_duplicates_or_gaps(
    audit_settings: AuditTestSettings, audit_pki: AuditPki
) -> None:
    # small batches: many commits, so the kill lands between a produce and its commit
    s = audit_settings.model_copy(update={"checkpoint_every": 400, "audit_batch": 50})
    items = [
        draft(AuditEvent.ROUTED, message_id=f"m-{i}", sender="G03.U001", recipient="H01",
              at=T0 + timedelta(milliseconds=i))
        for i in range(N + M)
    ]  # fmt: skip
    await produce_all(s.kafka, [(s.audit_events_topic, k, v, []) for k, v in items[:N]])
    first = start_writer(s)
    try:
        await wait_values(s.kafka, s.audit_topic, lambda v: len(v) >= N // 10, timeout=45)
    finally:
        first.send_signal(signal.SIGKILL)  # no shutdown, no commit
        first.wait(10)
    assert first.returncode == -signal.SIGKILL
    second = start_writer(s)
    # sent again (the first M) and new ones: the second writer must be up and working to chain them
    again = items[:M] + items[N:]
    await produce_all(s.kafka, [(s.audit_events_topic, k, v, []) for k, v in again])
    total = N + M
    try:
        stored = await wait_values(s.kafka, s.audit_topic, lambda v: len(v) >= total, timeout=60)
        # the kill may land after a batch's records are stored and before the checkpoint due in it
        # is published: the second writer signs that one at the size it finds, and later ones every
        # 400 records from there, so the whole log's checkpoint is asked for, as an operator would
        asked = await asyncio.to_thread(cli, s, "audit", "checkpoint", "--timeout", "30")
        assert asked.returncode == 0, asked.stdout + asked.stderr
        checkpoints = await wait_values(
            s.kafka,
            s.checkpoint_topic,
            lambda v: any(decode(c, Checkpoint).tree_size == total for c in v),
        )
        # the checkpoint at N is signed after the batch holding record N-1 was acknowledged and
        # before its offsets are committed; a duplicate would have been chained before that
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.to_thread(second.wait, 20)
    assert second.returncode == 0
    assert len(stored) == total
    assert sorted(decode(x, AuditRecord).message_id for x in stored) == sorted(f"m-{i}" for i in range(total))
    assert len({event_id(x) for x in stored}) == total
    report = verify_trusted(stored, checkpoints, audit_pki.policy(), org="G03", now=datetime.now(UTC))
    assert report.ok, report.fault

    asked = cli(s, "audit", "checkpoint", "--timeout", "5")  # no writer running now
    assert asked.returncode == 2 and "is the audit writer running" in asked.stdout

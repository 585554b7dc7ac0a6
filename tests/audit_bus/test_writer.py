"""The single writer chains each draft from the events topic into the audit topic exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from consumers.audit.core.events import CHECKPOINT_REQUEST, CONTROL_HEADER, draft, event_id
from consumers.audit.core.trusted import verify_trusted
from consumers.audit.kafka.kafka_io import produce_all
from consumers.audit.kafka.logview import read_log
from consumers.audit.kafka.service import AuditWriterService
from schemas.audit import AuditEvent, AuditRecord, Checkpoint
from schemas.codec import decode
from tests.audit_bus.conftest import AuditPki, AuditTestSettings, wait_values

pytestmark = pytest.mark.broker

T0 = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def drafts(n: int, tag: str = "m") -> list[tuple[bytes, bytes]]:
    return [
        draft(AuditEvent.ROUTED, message_id=f"{tag}-{i}", sender="G03.U001", recipient="G03.U002",
              at=T0 + timedelta(seconds=i))
        for i in range(n)
    ]  # fmt: skip


async def send(
    settings: AuditTestSettings, items: list[tuple[bytes, bytes]], *, checkpoint: bool = False
) -> None:
    # one partition on purpose: the writer sees them in this order, so a later sentinel proves
    # that everything before it was handled
    records = [(settings.audit_events_topic, k, v, []) for k, v in items]
    if checkpoint:
        records.append((settings.audit_events_topic, b"ctl", b"", [(CONTROL_HEADER, CHECKPOINT_REQUEST)]))
    await produce_all(settings.kafka, records, partition=0)


def ids_of(stored: list[bytes]) -> list[str]:
    return [decode(s, AuditRecord).message_id for s in stored]


async def test_each_event_chained_once_across_resends_and_restarts(
    audit_settings: AuditTestSettings,
    running_writer: Callable[[], AuditWriterService],
    audit_pki: AuditPki,
) -> None:
    s = audit_settings
    first = drafts(8)
    running_writer()
    await send(s, first + first + drafts(1, "sentinel-a"), checkpoint=True)
    stored = await wait_values(s.kafka, s.audit_topic, lambda v: "sentinel-a-0" in ids_of(v))
    assert ids_of(stored) == [f"m-{i}" for i in range(8)] + ["sentinel-a-0"]
    cps = await wait_values(s.kafka, s.checkpoint_topic, lambda v: len(v) >= 1)
    assert decode(cps[-1], Checkpoint).tree_size == 9

    # a restarted writer in a NEW group re-reads every draft ever sent: the worst re-delivery
    restarted = s.model_copy(update={"audit_group": s.audit_group + ".2"})
    service = AuditWriterService.from_settings(restarted, restarted.kafka)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        await send(s, first + drafts(2, "late") + drafts(1, "sentinel-b"), checkpoint=True)
        stored = await wait_values(s.kafka, s.audit_topic, lambda v: "sentinel-b-0" in ids_of(v))
        cps = await wait_values(s.kafka, s.checkpoint_topic, lambda v: len(v) >= 3)
    finally:
        stop.set()
        await task
    assert ids_of(stored)[9:] == ["late-0", "late-1", "sentinel-b-0"]
    assert len({event_id(r) for r in stored}) == len(stored) == 12
    assert service.writer is not None and service.writer.dropped >= 9

    report = verify_trusted(stored, cps, audit_pki.policy(), org="G03", now=datetime.now(UTC))
    assert report.ok, report.fault
    assert (report.records, report.checkpoints) == (12, len(cps))
    assert max(decode(c, Checkpoint).tree_size for c in cps) == 12


async def test_checkpoint_every_n_records(
    audit_settings: AuditTestSettings, audit_pki: AuditPki, unique: Callable[[str], str]
) -> None:
    s = audit_settings.model_copy(update={"checkpoint_every": 4})
    stop = asyncio.Event()
    task = asyncio.create_task(AuditWriterService.from_settings(s, s.kafka).run(stop))
    try:
        await send(s, drafts(10))
        cps = await wait_values(s.kafka, s.checkpoint_topic, lambda v: len(v) >= 2)
    finally:
        stop.set()
        await task
    assert [decode(c, Checkpoint).tree_size for c in cps] == [4, 8]
    await wait_values(s.kafka, s.audit_topic, lambda v: len(v) == 10)
    topic, _ = await read_log(s, s.kafka)  # with the seals: records 8 and 9 no checkpoint covers yet
    assert verify_trusted(topic, cps, audit_pki.policy(), org="G03", now=datetime.now(UTC)).ok

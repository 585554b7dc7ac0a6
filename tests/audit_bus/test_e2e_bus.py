"""End to end with the real processor (`docbus bus run` as a subprocess): its drafts are chained by
the writer, and the document's timeline and evidence come out of the log it built."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from consumers.audit.kafka.kafka_io import produce_all
from consumers.audit.kafka.service import AuditWriterService
from infra.pki import Authority
from infra.topics import TopicSpec, apply
from producers.receipts import receipt_for
from schemas.audit import AuditEvent, AuditRecord, Checkpoint
from schemas.codec import decode, encode
from schemas.connection import KafkaConnection
from schemas.receipt import StatusCode
from schemas.topics import AUDIT_EVENTS_TOPIC
from tests.audit_bus.conftest import AuditTestSettings, wait_values
from tests.audit_bus.scenario import cli
from tests.bus import conftest as bus_fixtures
from tests.bus.kafka import BusProcess, start_group_at_end
from tests.bus.world import PASSPHRASE, Sender, World

pytestmark = pytest.mark.broker

# the bus tests' fixtures: their PKI and directory, and a `docbus bus run` worker per module
world, published, bus_process, senders = (
    bus_fixtures.world, bus_fixtures.published, bus_fixtures.bus_process, bus_fixtures.senders,
)  # fmt: skip


@pytest.fixture
async def bus_audit(
    kafka_conn: KafkaConnection,
    published: World,
    unique: Callable[[str], str],
) -> AsyncIterator[AuditTestSettings]:
    """The writer on the processors' real events topic, chaining into this test's own log."""
    if not (published.pki / "audit" / "audit.pem").exists():
        Authority(published.pki, PASSPHRASE.encode()).issue_audit()  # `docbus pki issue-audit`
    s = AuditTestSettings(
        kafka=kafka_conn, pki_dir=published.pki, pki_passphrase=PASSPHRASE,
        audit_topic=unique("audit"), checkpoint_topic=unique("checkpoints"), audit_group=unique("writer"),
        checkpoint_seconds=1,  # signs by itself: no control message on the shared events topic
    )  # fmt: skip
    await apply(
        kafka_conn, [TopicSpec(t, 1, 1, retention_ms=-1) for t in (s.audit_topic, s.checkpoint_topic)]
    )
    await start_group_at_end(kafka_conn, s.audit_group, [AUDIT_EVENTS_TOPIC])  # drafts from now on
    stop = asyncio.Event()
    task = asyncio.create_task(AuditWriterService.from_settings(s, s.kafka).run(stop))
    yield s
    stop.set()
    await task


def about(stored: list[bytes], message_id: str) -> list[AuditRecord]:
    return [r for r in (decode(x, AuditRecord) for x in stored) if r.message_id == message_id]


async def test_processor_drafts_become_a_verifiable_story(
    bus_audit: AuditTestSettings,
    bus_process: BusProcess,
    senders: Callable[[str], Sender],
    published: World,
    tmp_path: Path,
) -> None:
    s = bus_audit
    env, raw = senders("G03").envelope(recipients=("H01", "H02"))
    await produce_all(s.kafka, [(s.ingress_topic, b"G03", raw, [])])

    def routed(stored: list[bytes]) -> bool:
        return sum(r.event is AuditEvent.ROUTED for r in about(stored, env.message_id)) == 2

    await wait_values(s.kafka, s.audit_topic, routed, timeout=60)
    # H01 answers in the lifecycle's order: 01 (arrived), then 03 (accepted)
    h01 = published.identities["H01"]
    answers = [receipt_for(h01, env, code) for code in (StatusCode.ARRIVED, StatusCode.ACCEPTED)]
    await produce_all(s.kafka, [(s.receipts_topic, b"G03", encode(r), []) for r in answers])

    def receipted(stored: list[bytes]) -> bool:
        return sum(r.event is AuditEvent.RECEIPT for r in about(stored, env.message_id)) == 2

    stored = await wait_values(s.kafka, s.audit_topic, receipted, timeout=45)
    await wait_values(
        s.kafka,
        s.checkpoint_topic,
        lambda v: any(decode(c, Checkpoint).tree_size >= len(stored) for c in v),
    )
    # the test broker is shared: a bus of another test session (another PKI) may decide too, and
    # its drafts are chained like ours; ours must be there, each once
    events = Counter(r.event.value for r in about(stored, env.message_id))
    assert events["ACCEPTED"] == 1 and events["RECEIPT"] == 2 and "SUBMITTED" not in events, events
    assert events["ROUTED"] == 2, events

    assert cli(s, "audit", "verify").returncode == 0
    timeline = cli(s, "audit", "timeline", env.message_id)
    assert timeline.returncode == 0 and "RECEIPT" in timeline.stdout and "H02" in timeline.stdout

    out = tmp_path / "evidence.bin"
    built = cli(s, "evidence", env.message_id, "--out", str(out))
    assert built.returncode == 0, built.stdout + built.stderr
    checked = cli(s, "evidence", "verify", str(out), DOCBUS_BOOTSTRAP="127.0.0.1:9")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"message {env.message_id}" in checked.stdout

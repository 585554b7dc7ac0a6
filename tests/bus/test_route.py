"""Accepted envelopes on the real broker: fan-out to every addressed inbox exactly once, with the
ADR's CloudEvents headers, a sealed 01 notice to the sender, and the audit drafts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from aiokafka import ConsumerRecord

from consumers.audit.core.events import decode_draft
from schemas.audit import AuditRecord
from schemas.connection import KafkaConnection
from schemas.receipt import StatusCode, parse_receipt
from schemas.topics import AUDIT_EVENTS_TOPIC, STATUS_TOPIC, inbox_topic
from tests.bus.kafka import BusProcess, bus_notices, end_offsets, from_processor, header, produce, read_until
from tests.bus.world import DEPARTMENTS, Sender, World

pytestmark = pytest.mark.broker


async def test_directive_to_all_departments_arrives_once_in_every_inbox(
    kafka_conn: KafkaConnection, published: World, bus_process: BusProcess, senders: Callable[[str], Sender]
) -> None:
    sender = senders("G03")
    inboxes = [inbox_topic(code) for code in DEPARTMENTS]
    start = await end_offsets(kafka_conn, [*inboxes, inbox_topic("G03"), AUDIT_EVENTS_TOPIC, STATUS_TOPIC])
    directive, raw = sender.envelope(groups=("all-departments",))
    marker, marker_raw = sender.envelope(groups=("all-departments",))  # same sender: routed after it
    await produce(kafka_conn, "docbus.ingress", [(b"G03", raw), (b"G03", marker_raw)])

    def arrived(records: list[ConsumerRecord[bytes, bytes]]) -> bool:
        seen = {(r.topic, r.key) for r in records}
        return (
            all((t, marker.message_id.encode()) in seen for t in inboxes)
            and any(n.envelope_id == directive.message_id for n in bus_notices(records, published))
            and len(drafts_about(records, directive.message_id)) == 1 + len(DEPARTMENTS)
            and len(routing_facts(records)) == len(DEPARTMENTS)
        )

    def routing_facts(records: list[ConsumerRecord[bytes, bytes]]) -> dict[str, bytes]:
        prefix = f"{directive.message_id}/".encode()
        return {
            r.key.decode(): r.value
            for r in records
            if r.topic == STATUS_TOPIC and r.key is not None and r.key.startswith(prefix)
        }

    def drafts_about(records: list[ConsumerRecord[bytes, bytes]], message_id: str) -> list[AuditRecord]:
        mine = from_processor(records, bus_process.app_id)
        drafts = [decode_draft(r.value) for r in mine if r.topic == AUDIT_EVENTS_TOPIC]
        return [d for d in drafts if d.message_id == message_id]

    records = await read_until(kafka_conn, start, arrived, bus=bus_process)
    assert arrived(records), f"bus log: {bus_process.log.read_text()[-3000:]}"
    ours = [r for r in records if r.topic in inboxes and r.key == directive.message_id.encode()]
    copies = Counter(r.topic for r in ours)
    assert copies == dict.fromkeys(inboxes, 1)
    for r in ours:
        assert r.value == raw  # the exact bytes
        assert header(r, "ce_id") == directive.message_id
        assert header(r, "ce_source") == "docbus://G03"
        assert header(r, "ce_type") == "vn.docbus.envelope.v1"
        assert header(r, "docbus_recipient") == r.topic.removeprefix("docbus.inbox.")
        assert header(r, "docbus_snapshot") == published.snapshot.hex()

    answer = [n for n in bus_notices(records, published) if n.envelope_id == directive.message_id]
    assert [n.status for n in answer] == [StatusCode.ARRIVED] and answer[0].to_org == "G03"
    facts = routing_facts(records)
    assert sorted(facts) == [f"{directive.message_id}/{code}/routed" for code in DEPARTMENTS]
    assert {parse_receipt(v).message_id for v in facts.values()} == {answer[0].message_id}

    drafts = drafts_about(records, directive.message_id)
    events = Counter(d.event.value for d in drafts)
    assert events == {"ACCEPTED": 1, "ROUTED": len(DEPARTMENTS)}
    accepted = next(d for d in drafts if d.event.value == "ACCEPTED")
    assert len(accepted.trust_hashes) >= 4  # two leaves, the issuing CA, its CRL, the root


async def test_a_closed_code_is_redirected_audited_and_stated_in_the_01(
    kafka_conn: KafkaConnection, published: World, bus_process: BusProcess, senders: Callable[[str], Sender]
) -> None:
    """H64 (closed, successor H01) addressed: H01 gets the copy, its ROUTED record names H64 and H01,
    and the sender's 01 says so (before, the redirect was neither audited nor told)."""
    sender = senders("G03")
    start = await end_offsets(kafka_conn, [inbox_topic("H01"), inbox_topic("G03"), AUDIT_EVENTS_TOPIC])
    env, raw = sender.envelope(("H64",))
    await produce(kafka_conn, "docbus.ingress", [(b"G03", raw)])

    def routed(records: list[ConsumerRecord[bytes, bytes]]) -> list[AuditRecord]:
        mine = from_processor(records, bus_process.app_id)
        drafts = [decode_draft(r.value) for r in mine if r.topic == AUDIT_EVENTS_TOPIC]
        return [d for d in drafts if d.message_id == env.message_id and d.event.value == "ROUTED"]

    def arrived(records: list[ConsumerRecord[bytes, bytes]]) -> bool:
        notices = [n for n in bus_notices(records, published) if n.envelope_id == env.message_id]
        return bool(notices) and bool(routed(records))

    records = await read_until(kafka_conn, start, arrived, bus=bus_process)
    assert arrived(records), f"bus log: {bus_process.log.read_text()[-3000:]}"
    [notice] = [n for n in bus_notices(records, published) if n.envelope_id == env.message_id]
    assert notice.status is StatusCode.ARRIVED and notice.reason == "redirected: H64 -> H01"
    [record] = routed(records)
    assert record.recipient == "H01" and "H64" in record.detail and "H01" in record.detail
    assert any(r.topic == inbox_topic("H01") and r.key == env.message_id.encode() for r in records)

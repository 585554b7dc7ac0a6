"""Receipts on the real broker: a recipient's 01 reaches the sender and docbus.status; a stranger's
receipt is quarantined; a recall from the sender reaches every recipient and their answer returns."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from aiokafka import ConsumerRecord

from consumers.audit.core.events import decode_draft
from producers.receipts import build_receipt
from schemas.canonical import signing_hash
from schemas.connection import KafkaConnection
from schemas.envelope import Envelope
from schemas.receipt import StatusCode
from schemas.topics import AUDIT_EVENTS_TOPIC, QUARANTINE_TOPIC, RECEIPTS_TOPIC, STATUS_TOPIC, inbox_topic
from tests.bus.kafka import BusProcess, end_offsets, from_processor, produce, quarantined, read_until
from tests.bus.world import Sender, World

pytestmark = pytest.mark.broker

Records = list[ConsumerRecord[bytes, bytes]]


def answer(world: World, org: str, env: Envelope, status: StatusCode, to: str = "G03") -> bytes:
    return build_receipt(
        world.identities[org], envelope_message_id=env.message_id, document_id=env.document.document_id,
        signing_hash=signing_hash(env), to_org=to, status=status,
        reason="không đồng ý" if status.needs_reason else None,
    )  # fmt: skip


def values(records: Records, topic: str, key: bytes | None = None) -> list[bytes]:
    return [r.value for r in records if r.topic == topic and (key is None or r.key == key)]


async def test_receipts_status_and_recall(
    kafka_conn: KafkaConnection, published: World, bus_process: BusProcess, senders: Callable[[str], Sender]
) -> None:
    topics = [inbox_topic(c) for c in ("G03", "H01", "H02")] + [
        STATUS_TOPIC,
        QUARANTINE_TOPIC,
        AUDIT_EVENTS_TOPIC,
    ]
    start = await end_offsets(kafka_conn, topics)
    env, raw = senders("G03").envelope(("H01", "H02"))
    await produce(kafka_conn, "docbus.ingress", [(b"G03", raw)])
    key = env.message_id.encode()
    delivered = await read_until(
        kafka_conn, start, lambda rs: raw in values(rs, inbox_topic("H01"), key), bus=bus_process
    )
    assert raw in values(delivered, inbox_topic("H01"), key), bus_process.log.read_text()[-3000:]

    arrived = answer(published, "H01", env, StatusCode.ARRIVED)
    stranger = answer(published, "H04", env, StatusCode.ARRIVED)
    recall = answer(published, "G03", env, StatusCode.RECALL_REQUESTED, to="H01")
    refusal = answer(published, "H02", env, StatusCode.RECALL_REFUSED)
    await produce(kafka_conn, RECEIPTS_TOPIC, [(b"G03", r) for r in (arrived, stranger, recall, refusal)])

    def events(rs: Records) -> Counter[tuple[str, str | None, str | None]]:
        mine = [
            decode_draft(r.value)
            for r in from_processor(rs, bus_process.app_id)
            if r.topic == AUDIT_EVENTS_TOPIC
        ]
        return Counter((d.event.value, d.status, d.recipient) for d in mine if d.message_id == env.message_id)

    wanted = {
        ("RECEIPT", "01", "H01"),
        ("DELIVERED", None, "H01"),
        ("RECEIPT", "13", "G03"),
        ("RECEIPT", "16", "H02"),
    }

    def done(rs: Records) -> bool:
        return (
            refusal in values(rs, inbox_topic("G03"))
            and recall in values(rs, inbox_topic("H02"))
            and any(q.raw == stranger for q in quarantined(rs, bus_process.app_id))
            and recall in values(rs, STATUS_TOPIC, f"{env.message_id}/H01".encode())
            and refusal in values(rs, STATUS_TOPIC, f"{env.message_id}/H02".encode())
            and wanted <= set(events(rs))
        )

    records = await read_until(kafka_conn, start, done, bus=bus_process)
    assert done(records), bus_process.log.read_text()[-3000:]
    assert arrived in values(records, inbox_topic("G03"))
    assert recall in values(records, inbox_topic("H01"))
    assert values(records, STATUS_TOPIC, f"{env.message_id}/H01".encode()) == [arrived, recall]
    assert values(records, STATUS_TOPIC, f"{env.message_id}/H02".encode()) == [recall, refusal]
    assert stranger not in values(records, inbox_topic("G03"))
    [q] = [q for q in quarantined(records, bus_process.app_id) if q.raw == stranger]
    assert q.reason.value == "POLICY" and q.topic == RECEIPTS_TOPIC
    assert all(events(records)[w] == 1 for w in wanted)

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
            and recall in values(rs, STATUS_TOPIC, f"{env.message_id}/H01/13".encode())
            and refusal in values(rs, STATUS_TOPIC, f"{env.message_id}/H02/16".encode())
            and wanted <= set(events(rs))
        )

    records = await read_until(kafka_conn, start, done, bus=bus_process)
    assert done(records), bus_process.log.read_text()[-3000:]
    assert arrived in values(records, inbox_topic("G03"))
    assert recall in values(records, inbox_topic("H01"))
    # each recipient's history is kept beside the recall: one key per recipient and status
    assert values(records, STATUS_TOPIC, f"{env.message_id}/H01/01".encode()) == [arrived]
    assert values(records, STATUS_TOPIC, f"{env.message_id}/H01/13".encode()) == [recall]
    assert values(records, STATUS_TOPIC, f"{env.message_id}/H02/13".encode()) == [recall]
    assert values(records, STATUS_TOPIC, f"{env.message_id}/H02/16".encode()) == [refusal]
    assert stranger not in values(records, inbox_topic("G03"))
    [q] = [q for q in quarantined(records, bus_process.app_id) if q.raw == stranger]
    assert q.reason.value == "POLICY" and q.topic == RECEIPTS_TOPIC
    assert all(events(records)[w] == 1 for w in wanted)


async def test_a_receipt_out_of_order_is_refused_with_its_reason(
    kafka_conn: KafkaConnection, published: World, bus_process: BusProcess, senders: Callable[[str], Sender]
) -> None:
    """01 straight to 06 and 02 then 03 are quarantined RECEIPT_ORDER (both were accepted); 01, 03
    in order go through, and docbus.status holds exactly the receipts that followed."""
    topics = [inbox_topic("H01"), inbox_topic("G03"), STATUS_TOPIC, QUARANTINE_TOPIC]
    start = await end_offsets(kafka_conn, topics)
    env, raw = senders("G03").envelope(("H01", "H02"))
    await produce(kafka_conn, "docbus.ingress", [(b"G03", raw)])
    key = env.message_id.encode()
    await read_until(kafka_conn, start, lambda rs: raw in values(rs, inbox_topic("H01"), key),
                     bus=bus_process)  # fmt: skip
    S = StatusCode
    h01 = [answer(published, "H01", env, s) for s in (S.ARRIVED, S.DONE, S.ACCEPTED)]
    h02 = [answer(published, "H02", env, s) for s in (S.REJECTED, S.ACCEPTED)]
    out_of_order = {h01[1], h02[1]}
    await produce(kafka_conn, RECEIPTS_TOPIC, [(b"G03", r) for r in (*h01, *h02)])

    def done(rs: Records) -> bool:
        kept = {q.raw for q in quarantined(rs, bus_process.app_id)}
        return out_of_order <= kept and h01[2] in values(rs, inbox_topic("G03"))

    records = await read_until(kafka_conn, start, done, bus=bus_process)
    assert done(records), bus_process.log.read_text()[-3000:]
    refused = [q for q in quarantined(records, bus_process.app_id) if q.raw in out_of_order]
    assert sorted(q.reason.value for q in refused) == ["RECEIPT_ORDER", "RECEIPT_ORDER"]
    assert any("06 after 01" in q.detail for q in refused) and any("03 after 02" in q.detail for q in refused)
    mine = {r.key.decode() for r in records if r.topic == STATUS_TOPIC and r.key and r.key.startswith(key)}
    mid = env.message_id
    assert mine == {f"{mid}/{k}" for k in ("H01/routed", "H02/routed", "H01/01", "H01/03", "H02/02")}
    to_sender = values(records, inbox_topic("G03"))
    assert h01[1] not in to_sender and h02[1] not in to_sender

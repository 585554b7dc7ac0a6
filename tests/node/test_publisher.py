"""The publisher on the real broker: acknowledged records, keyed by sender, with CloudEvents headers;
and a send that waits for the bus's notice, answered here by a stand-in for the bus."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from producers.builder import build_envelope, sign_envelope
from producers.publisher import Publisher, PublishError
from producers.receipts import build_receipt
from producers.send import Sender
from schemas.canonical import signing_hash
from schemas.connection import KafkaConnection
from schemas.envelope import parse_envelope
from schemas.reasons import Reason
from schemas.receipt import StatusCode
from schemas.topics import DIRECTORY_TOPIC
from tests.node.conftest import NodePki
from tests.node.drafts import draft
from tests.node.kafka_util import collect, make_topics

pytestmark = pytest.mark.broker
SNAPSHOT = b"\x07" * 32
Unique = Callable[[str], str]


async def test_publish_round_trip(kafka_conn: KafkaConnection, unique: Unique, node_pki: NodePki) -> None:
    ingress = unique("ingress")
    await make_topics(kafka_conn, ingress, partitions=3)
    me = node_pki.identity("G03.U001")
    sent = []
    async with Publisher(kafka_conn, ingress=ingress) as pub:
        producer = pub._producer
        assert producer._sender._acks == -1  # "all"
        for n in range(3):
            env, raw = sign_envelope(me, build_envelope(me, draft(str(n + 1)), sequence=n + 1))
            meta = await pub.publish_envelope(env, raw)
            sent.append((env, raw, meta))
        # idempotent: the broker gave this producer an id, and records carry its sequence numbers
        assert producer._txn_manager is not None and producer._txn_manager.producer_id >= 0
    records = await collect(kafka_conn, ingress, lambda got: len(got) >= 3)
    assert [r.value for r in records] == [raw for _, raw, _ in sent]  # one partition: the key
    assert {r.key for r in records} == {b"G03.U001"} and len({m.partition for *_, m in sent}) == 1
    assert [r.offset for r in records] == [m.offset for *_, m in sent]
    headers = dict(records[0].headers)
    assert headers["ce_id"].decode() == sent[0][0].message_id
    assert headers["ce_source"] == b"docbus://G03.U001" and headers["ce_type"] == b"vn.docbus.envelope.v1"
    assert parse_envelope(records[2].value).sequence == 3


async def test_publish_to_a_missing_topic_fails_as_one_error(
    kafka_conn: KafkaConnection, unique: Unique
) -> None:
    async with Publisher(kafka_conn, ingress=unique("absent"), request_timeout_ms=3000) as pub:
        with pytest.raises(PublishError):
            await pub.send(unique("absent"), "G03", b"x", [])


async def _stand_in_bus(kafka: KafkaConnection, ingress: str, node_pki: NodePki, reject_second: bool) -> None:
    """Answers every envelope on ``ingress`` with a sealed notice in the sender's inbox (like the bus)."""
    bus = node_pki.identity("G03.BUS")
    consumer = AIOKafkaConsumer(ingress, **kafka.client_kwargs(), auto_offset_reset="earliest")
    try:
        await consumer.start()
        async with Publisher(kafka) as pub:
            async for record in consumer:
                env = parse_envelope(record.value)
                refuse = reject_second and env.sequence == 2
                raw = build_receipt(
                    bus, envelope_message_id=env.message_id, document_id=env.document.document_id,
                    signing_hash=signing_hash(env), to_org=env.sender.code,
                    status=StatusCode.REJECTED if refuse else StatusCode.ARRIVED,
                    reason=f"{Reason.UNKNOWN_RECIPIENT.value}: no such group" if refuse else None,
                )  # fmt: skip
                await pub.send(_inbox(ingress, env.sender.code), env.message_id, raw, [])
    finally:
        await consumer.stop()


def _inbox(ingress: str, code: str) -> str:
    return f"{ingress}.inbox.{code}"


async def test_send_waits_for_the_bus_notice(
    kafka_conn: KafkaConnection, unique: Callable[[str], str], node_pki: NodePki, tmp_path: Path
) -> None:
    ingress = unique("ingress")
    await make_topics(kafka_conn, ingress, _inbox(ingress, "G03.U001"), DIRECTORY_TOPIC)  # a sender reads it
    bus = asyncio.create_task(_stand_in_bus(kafka_conn, ingress, node_pki, reject_second=True))
    try:
        async with Sender(
            node_pki.identity("G03.U001"), kafka_conn, tmp_path, policy=node_pki.policy(),
            ingress=ingress, inbox=_inbox(ingress, "G03.U001"),
        ) as sender:  # fmt: skip
            first = await sender.send(draft("1"), wait=30, directory_snapshot=SNAPSHOT)
            second = await sender.send(draft("2"), wait=30, directory_snapshot=SNAPSHOT)
    finally:
        bus.cancel()
        await asyncio.gather(bus, return_exceptions=True)
    assert first.outcome is not None and first.outcome.accepted and first.sequence == 1
    assert second.outcome is not None and not second.outcome.accepted
    assert second.outcome.reason.startswith("UNKNOWN_RECIPIENT")
    assert sender.state.pending() == [] and sender.state.read().last_hash == second.signing_hash


async def test_envelope_numbered_before_a_crash_is_published_first(
    kafka_conn: KafkaConnection, unique: Unique, node_pki: NodePki, tmp_path: Path
) -> None:
    ingress = unique("ingress")
    await make_topics(kafka_conn, ingress, DIRECTORY_TOPIC)
    me = node_pki.identity("G03.U001")
    sender = Sender(me, kafka_conn, tmp_path, policy=node_pki.policy(), ingress=ingress, watch=False)
    async with sender.state.reserve() as slot:  # numbered and kept, then the node died unpublished
        lost, lost_raw = sign_envelope(me, build_envelope(me, draft("1"), sequence=slot.sequence))
        slot.commit(signing_hash(lost), lost_raw)
    async with sender:
        result = await sender.send(draft("2"), directory_snapshot=SNAPSHOT)
    records = await collect(kafka_conn, ingress, lambda got: len(got) >= 2)
    chain = [parse_envelope(r.value) for r in records]
    assert [e.sequence for e in chain] == [1, 2] and records[0].value == lost_raw
    assert chain[1].previous_hash == signing_hash(lost) and result.sequence == 2
    assert sender.state.pending() == [] and sender.state.sent_envelope(lost.message_id) == lost_raw

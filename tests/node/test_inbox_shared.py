"""Several codes' inboxes on one consumer and one receipt producer (consumers/inbox/shared.py), on
the real broker: every copy is verified and answered by its own code's seal, a forgery is still
refused with a 02, and each code's position lives in its own group, so a code moves between the
shared process and one of its own without reading anything twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError

from consumers.inbox.client import InboxClient, InboxEvent
from consumers.inbox.host import run_inboxes
from consumers.inbox.offsets import GroupOffsets
from producers.builder import build_envelope, sign_envelope
from producers.failover import CLIENT_OPTIONS
from producers.identity import NodeIdentity
from producers.publisher import Publisher
from schemas.canonical import receipt_signing_input
from schemas.codec import encode
from schemas.connection import KafkaConnection
from schemas.envelope import parse_envelope
from schemas.receipt import StatusCode, parse_receipt
from tests.node.conftest import NodePki
from tests.node.drafts import draft
from tests.node.kafka_util import collect, make_topics
from tests.node.test_inbox import StaticDirectory, _produce, routed

pytestmark = pytest.mark.broker
Unique = Callable[[str], str]
U1, U2 = "G03.U001", "G03.U002"


async def test_codes_of_one_login_share_a_consumer_and_keep_their_own_groups(
    kafka_conn: KafkaConnection, unique: Unique, node_pki: NodePki, tmp_path: Path
) -> None:
    inbox1, inbox2, receipts = unique("inbox1"), unique("inbox2"), unique("receipts")
    await make_topics(kafka_conn, inbox2, receipts)
    await make_topics(kafka_conn, inbox1, partitions=2)
    directory = StaticDirectory()
    bus = node_pki.identity("G03.BUS")
    u1, u2 = node_pki.identity(U1), node_pki.identity(U2)

    def letter(sender: NodeIdentity, number: str, to: str) -> bytes:
        env = build_envelope(sender, draft(number, recipients=(to,)), directory_snapshot=directory.snapshot)
        return sign_envelope(sender, env)[1]

    to_u1 = [letter(u2, "1", U1), letter(u2, "2", U1)]
    to_u2 = letter(u1, "3", U2)
    ids = [parse_envelope(raw).message_id for raw in (*to_u1, to_u2)]
    other_id = "0199a0b2-7c3e-7d41-8a2b-3c4d5e6f7a8c"
    forged = parse_envelope(to_u1[0]).model_copy(update={"message_id": other_id})
    await _produce(kafka_conn, inbox1, [("a", raw, routed(bus, raw, U1)) for raw in to_u1])
    await _produce(kafka_conn, inbox1, [("b", encode(forged))])
    await _produce(kafka_conn, inbox2, [("a", to_u2, routed(bus, to_u2, U2))])
    groups = {U1: unique("group1"), U2: unique("group2")}

    def clients(publisher: Publisher | None) -> list[InboxClient]:
        return [
            InboxClient(ident, kafka_conn, tmp_path / ident.org_code, node_pki.policy(),
                        directory=directory, topic=topic, receipts_topic=receipts,
                        group=groups[ident.org_code], publisher=publisher)
            for ident, topic in ((u1, inbox1), (u2, inbox2))
        ]  # fmt: skip

    def shared() -> Publisher:
        return Publisher(kafka_conn, receipts=receipts, long_running=True)

    events: list[tuple[str, InboxEvent]] = []
    counts = await run_inboxes(clients(shared()), once=True, on_event=lambda o, e: events.append((o, e)))
    assert counts == {U1: 3, U2: 1}
    kinds = sorted((org, e.kind, e.message_id) for org, e in events)
    expected = [(U1, "document", ids[0]), (U1, "document", ids[1]), (U1, "rejected", forged.message_id),
                (U2, "document", ids[2])]  # fmt: skip
    assert kinds == sorted(expected)

    # each code answered with its own seal: two 01 and a 02 by U001, one 01 by U002
    got = await collect(kafka_conn, receipts, lambda rs: len(rs) >= 4)
    answers = [parse_receipt(r.value) for r in got]
    arrived, refused = StatusCode.ARRIVED, StatusCode.REJECTED
    assert sorted((a.from_org, a.status) for a in answers) == sorted(
        [(U1, arrived), (U1, arrived), (U1, refused), (U2, arrived)]
    )
    for a in answers:
        node_pki.policy().verify_seal(receipt_signing_input(a), a.signatures, a.from_org, datetime.now(UTC))

    # each code's position is in its own group: U001's two partitions, U002's one
    offsets = GroupOffsets(kafka_conn, client_id="test", options=CLIENT_OPTIONS)
    await offsets.start()
    try:
        parts = [TopicPartition(inbox1, 0), TopicPartition(inbox1, 1), TopicPartition(inbox2, 0)]
        committed = {org: await offsets.fetch(g, parts) for org, g in groups.items()}
    finally:
        await offsets.stop()
    assert sum(committed[U1].values()) == 3 and {tp.topic for tp in committed[U1]} == {inbox1}
    assert list(committed[U2].values()) == [1] and {tp.topic for tp in committed[U2]} == {inbox2}

    # a process of its own for U001 finds its position: nothing again; a new copy it handles alone
    alone = clients(None)[0]
    assert await alone.run(once=True) == 0
    late = letter(u2, "4", U1)
    await _produce(kafka_conn, inbox1, [("a", late, routed(bus, late, U1))])
    assert await alone.run(once=True) == 1
    # and the shared process after it reads nothing twice
    assert await run_inboxes(clients(shared()), once=True) == {U1: 0, U2: 0}
    assert len(alone.store.documents()) == 3



async def test_a_code_served_by_another_process_right_now_stops_the_commit(
    kafka_conn: KafkaConnection, unique: Unique
) -> None:
    """Positions are committed without joining the group: a group with a live member (a process of
    that code running now) refuses them, and the shared process stops instead of sharing an inbox."""
    topic, group = unique("inbox"), unique("group")
    await make_topics(kafka_conn, topic)
    member = AIOKafkaConsumer(topic, **kafka_conn.client_kwargs(), group_id=group, enable_auto_commit=False)
    await member.start()
    offsets = GroupOffsets(kafka_conn, client_id="test", options=CLIENT_OPTIONS)
    await offsets.start()
    try:
        while not member.assignment():
            await member.getmany(timeout_ms=200)  # joined: the group has a live member
        with pytest.raises(CommitFailedError):
            await offsets.commit(group, {TopicPartition(topic, 0): 0})
    finally:
        await offsets.stop()
        await member.stop()
    # once the member left, the group takes the commit
    await offsets.start()
    try:
        await offsets.commit(group, {TopicPartition(topic, 0): 0})
        assert await offsets.fetch(group, [TopicPartition(topic, 0)]) == {TopicPartition(topic, 0): 0}
    finally:
        await offsets.stop()

"""The inbox client on the real broker: stores each document once, refuses forgeries with a 02,
answers with a sealed 01, checks group addressing against the named snapshot, logs notices."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from cryptography import x509

from consumers.bus.notices import BusNotices
from consumers.inbox.client import InboxClient, InboxEvent
from docbus.directory_load import seal_entries
from docbus.pki_folder import TrustFiles
from docbus.sector import build_sector
from infra.pki import Authority
from producers.builder import build_envelope, sign_envelope
from producers.directory_view import DirectoryView
from producers.identity import NodeIdentity
from producers.receipts import build_receipt
from schemas.canonical import receipt_signing_input, signing_hash
from schemas.codec import encode
from schemas.connection import KafkaConnection
from schemas.directory_store import DirectorySnapshot, DirectoryStore
from schemas.envelope import parse_envelope
from schemas.receipt import StatusCode, parse_receipt
from schemas.route_proof import ROUTE_PROOF_HEADER
from tests.node.conftest import PASS, NodePki
from tests.node.drafts import draft
from tests.node.kafka_util import collect, make_topics

pytestmark = pytest.mark.broker
Unique = Callable[[str], str]


Record = tuple[str, bytes] | tuple[str, bytes, list[tuple[str, bytes]]]


def routed(bus: NodeIdentity, raw: bytes, recipient: str) -> list[tuple[str, bytes]]:
    """The headers the bus gives its copy of ``raw`` for ``recipient``: its routing proof."""
    env = parse_envelope(raw)
    proof = BusNotices(bus).route_proof(
        env, signing_hash(env), recipient=recipient, snapshot=env.directory_snapshot, at=datetime.now(UTC)
    )
    return [(ROUTE_PROOF_HEADER, proof)]


class StaticDirectory:
    """A directory source holding one snapshot of the small sector (the recipient's policy resolves
    every envelope's addresses against the snapshot it names, as the bus does)."""

    def __init__(self) -> None:
        self.store = DirectoryStore()
        self.snapshot = self.store.apply(build_sector(3, 3)).hash

    async def catch_up(self, timeout: float = 30.0) -> int:
        return 0


async def _produce(kafka: KafkaConnection, topic: str, records: list[Record]) -> None:
    producer = AIOKafkaProducer(**kafka.client_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value, *headers in records:
            await producer.send_and_wait(
                topic, value, key=key.encode(), headers=headers[0] if headers else None
            )
    finally:
        await producer.stop()


async def test_store_once_refuse_forgery_and_acknowledge(
    kafka_conn: KafkaConnection, unique: Unique, node_pki: NodePki, tmp_path: Path
) -> None:
    inbox, receipts = unique("inbox"), unique("receipts")
    await make_topics(kafka_conn, inbox, receipts)
    sender, bus = node_pki.identity("G03.U001"), node_pki.identity("G03.BUS")
    directory = StaticDirectory()
    good, good_raw = sign_envelope(
        sender, build_envelope(sender, draft("1"), directory_snapshot=directory.snapshot)
    )
    forged = good.model_copy(
        update={"message_id": "0199a0b2-7c3e-7d41-8a2b-3c4d5e6f7a8b"}
    )  # signed id changed
    notice = build_receipt(
        bus,
        envelope_message_id=good.message_id,
        document_id=good.document.document_id,
        signing_hash=signing_hash(good),
        to_org="G03.U002",
        status=StatusCode.ARRIVED,
    )  # fmt: skip  (a notice the bus would send; its content does not matter to the log)
    proof = routed(bus, good_raw, "G03.U002")
    await _produce(
        kafka_conn,
        inbox,
        [("a", good_raw, proof), ("a", good_raw, proof), ("b", encode(forged)), ("c", notice)],
    )

    client = InboxClient(
        node_pki.identity("G03.U002"), kafka_conn, tmp_path / "store", node_pki.policy(),
        directory=directory, topic=inbox, receipts_topic=receipts, group=unique("group"),
    )  # fmt: skip
    events: list[InboxEvent] = []
    assert await client.run(once=True, on_event=events.append) == 4
    assert [e.kind for e in events] == ["document", "duplicate", "rejected", "notice"]

    folder = tmp_path / "store" / good.message_id
    assert (folder / "envelope.bin").read_bytes() == good_raw
    assert (folder / "files" / "cong-van.pdf").read_bytes() == good.payload.data
    meta = json.loads((folder / "meta.json").read_text())
    assert (
        meta["sender"]["code"] == "G03.U001" and meta["verification"]["official"]["name"] == "Trần Thị Bình"
    )
    assert [d["message_id"] for d in client.store.documents()] == [good.message_id]
    assert client.store.rejected()[0]["reason"] == "SIGNATURE_INVALID"
    assert client.store.receipts()[0]["seal"] == "valid" and client.store.receipts()[0]["kind"] == "notice"

    got = await collect(kafka_conn, receipts, lambda rs: len(rs) >= 2)
    answers = [parse_receipt(r.value) for r in got]
    assert [(a.envelope_id, a.status) for a in answers] == [
        (good.message_id, StatusCode.ARRIVED),
        (forged.message_id, StatusCode.REJECTED),
    ]  # fmt: skip  (one 01 although the document came twice)
    assert answers[0].signing_hash == signing_hash(good) and answers[1].reason.startswith(
        "SIGNATURE_INVALID"
    )
    assert {r.key for r in got} == {b"G03.U001"}
    for a in answers:
        node_pki.policy().verify_seal(receipt_signing_input(a), a.signatures, "G03.U002", datetime.now(UTC))

    # a restarted client with the same group reads nothing again, and a replayed copy is dropped
    assert await client.run(once=True) == 0
    await _produce(kafka_conn, inbox, [("a", good_raw, proof)])
    assert await client.run(once=True, on_event=events.append) == 1 and events[-1].kind == "duplicate"
    assert len(client.store.documents()) == 1


async def test_group_addressing_checked_against_the_named_snapshot(
    kafka_conn: KafkaConnection, unique: Unique, node_pki: NodePki, tmp_path: Path
) -> None:
    inbox, receipts, directory = unique("inbox"), unique("receipts"), unique("directory")
    await make_topics(kafka_conn, inbox, receipts, directory)
    entries = seal_entries(build_sector(3, 3), node_pki.identity("G03").seal)
    await _produce(kafka_conn, directory, [(e.code, encode(e)) for e in entries])
    snapshot = DirectorySnapshot.build(entries).hash
    sender = node_pki.identity("G03")
    to_all, raw_all = sign_envelope(
        sender,
        build_envelope(
            sender, draft("5", recipients=[], groups=["all-universities"]), directory_snapshot=snapshot
        ),
    )
    to_depts, raw_depts = sign_envelope(
        sender,
        build_envelope(
            sender, draft("6", recipients=[], groups=["all-departments"]), directory_snapshot=snapshot
        ),
    )
    bus = node_pki.identity("G03.BUS")
    await _produce(
        kafka_conn, inbox,
        [(k, raw, routed(bus, raw, "G03.U002")) for k, raw in (("x", raw_all), ("y", raw_depts))],
    )  # fmt: skip
    feed = DirectoryView(kafka_conn, topic=directory, policy=node_pki.policy())
    client = InboxClient(
        node_pki.identity("G03.U002"), kafka_conn, tmp_path, node_pki.policy(), directory=feed,
        topic=inbox, receipts_topic=receipts, group=unique("group"),
    )  # fmt: skip
    events: list[InboxEvent] = []
    try:
        await client.run(once=True, on_event=events.append)
    finally:
        await feed.stop()
    assert [e.kind for e in events] == ["document", "rejected"]
    assert events[1].detail.startswith("UNKNOWN_RECIPIENT")
    assert client.store.has(to_all.message_id) and not client.store.has(to_depts.message_id)


async def test_revocation_published_while_running_is_honoured(
    kafka_conn: KafkaConnection, unique: Unique, tmp_path: Path
) -> None:
    ca = Authority.init(tmp_path / "pki", PASS.encode())
    names = {entry.code: entry.name for entry in build_sector(3, 3)}  # seals named as in the directory
    for code in ("G03.U001", "G03.U002"):
        ca.issue_org(code, names[code])
    ca.issue_org("G03.BUS", "docbus")
    ca.issue_official("G03.U001", "Trần Thị Bình", "Hiệu trưởng")
    ca.publish_crl()
    sender = NodeIdentity.from_pki(tmp_path / "pki", "G03.U001", PASS, "*")
    inbox, receipts = unique("inbox"), unique("receipts")
    await make_topics(kafka_conn, inbox, receipts)
    directory = StaticDirectory()
    _, before_raw = sign_envelope(
        sender, build_envelope(sender, draft("1"), directory_snapshot=directory.snapshot)
    )
    trust = TrustFiles(tmp_path / "pki")
    client = InboxClient(
        NodeIdentity.from_pki(tmp_path / "pki", "G03.U002", PASS), kafka_conn, tmp_path / "store",
        trust.policy, directory=directory, topic=inbox, receipts_topic=receipts, group=unique("group"),
    )  # fmt: skip
    bus = NodeIdentity.from_pki(tmp_path / "pki", "G03.BUS", PASS)
    await _produce(kafka_conn, inbox, [("a", before_raw, routed(bus, before_raw, "G03.U002"))])
    events: list[InboxEvent] = []
    await client.run(once=True, on_event=events.append, refresh=trust.refresh)
    ca.revoke("G03.U001", x509.ReasonFlags.key_compromise)  # writes fresh CRL files
    _, after_raw = sign_envelope(
        sender, build_envelope(sender, draft("2"), directory_snapshot=directory.snapshot)
    )
    await _produce(kafka_conn, inbox, [("b", after_raw, routed(bus, after_raw, "G03.U002"))])
    await client.run(once=True, on_event=events.append, refresh=trust.refresh)
    assert [e.kind for e in events] == ["document", "rejected"]
    assert events[1].detail.startswith("CERT_REVOKED")
    got = await collect(kafka_conn, receipts, lambda rs: len(rs) >= 2)
    assert [parse_receipt(r.value).status for r in got] == [StatusCode.ARRIVED, StatusCode.REJECTED]


async def test_a_validly_signed_copy_written_around_the_bus_is_refused(
    kafka_conn: KafkaConnection, unique: Unique, node_pki: NodePki, tmp_path: Path
) -> None:
    """A plain client with the sender's valid signatures writes straight into the inbox: no proof,
    a proof for another recipient, a proof sealed by someone other than the bus. All refused as
    NOT_ROUTED, none stored, none answered; the bus's own copy is taken."""
    inbox, receipts = unique("inbox"), unique("receipts")
    await make_topics(kafka_conn, inbox, receipts)
    sender, bus = node_pki.identity("G03.U001"), node_pki.identity("G03.BUS")
    directory = StaticDirectory()
    raws = [
        sign_envelope(sender, build_envelope(sender, draft(str(i)), directory_snapshot=directory.snapshot))[1]
        for i in range(4)
    ]
    forged_seal = routed(sender, raws[2], "G03.U002")  # sealed, but by the sender, not the bus
    await _produce(kafka_conn, inbox, [
        ("a", raws[0]),
        ("b", raws[1], routed(bus, raws[1], "G03.U003")),
        ("c", raws[2], forged_seal),
        ("d", raws[3], routed(bus, raws[3], "G03.U002")),
    ])  # fmt: skip
    client = InboxClient(
        node_pki.identity("G03.U002"), kafka_conn, tmp_path / "store", node_pki.policy(),
        directory=directory, topic=inbox, receipts_topic=receipts, group=unique("group"),
    )  # fmt: skip
    events: list[InboxEvent] = []
    assert await client.run(once=True, on_event=events.append) == 4
    assert [e.kind for e in events] == ["rejected", "rejected", "rejected", "document"]
    assert [e.detail.split(":")[0] for e in events[:3]] == ["NOT_ROUTED"] * 3
    assert "another recipient" in events[1].detail and "seal" in events[2].detail
    assert [r["reason"] for r in client.store.rejected()] == ["NOT_ROUTED"] * 3
    got = await collect(kafka_conn, receipts, lambda rs: len(rs) >= 1)
    assert [parse_receipt(r.value).status for r in got] == [StatusCode.ARRIVED]  # only the routed copy

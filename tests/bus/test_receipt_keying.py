"""Every receipt about one document on one partition (schemas.receipt.receipt_record_key): a
receipt keyed otherwise is refused RECORD_KEY before any table is read; and a bus upgraded in place
whose lifecycle table is empty rebuilds it from docbus.status instead of refusing every later
receipt RECEIPT_ORDER."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient

from producers.reader import partitions
from schemas.connection import KafkaConnection
from schemas.receipt import StatusCode
from schemas.topics import INGRESS_TOPIC, QUARANTINE_TOPIC, RECEIPTS_TOPIC, inbox_topic
from tests.bus.conftest import bus_env
from tests.bus.kafka import BusProcess, end_offsets, produce, quarantined, read_until, start_group_at_end
from tests.bus.test_receipts import answer, values
from tests.bus.world import World

pytestmark = pytest.mark.broker

Records = list[ConsumerRecord[bytes, bytes]]


def _workers(kafka: KafkaConnection, world: World, root: Path, app_id: str, n: int) -> list[BusProcess]:
    workers = []
    for i in range(n):
        home = root / f"worker-{i}"
        home.mkdir(exist_ok=True)
        workers.append(BusProcess(bus_env(kafka, world, home, app_id), home / "bus.log"))
    return workers


async def test_a_receipt_keyed_otherwise_is_refused_record_key(
    kafka_conn: KafkaConnection, published: World, tmp_path: Path
) -> None:
    """A 13 keyed by its first recipient (what nodes did before): refused RECORD_KEY, quarantined,
    not forwarded; the same bytes keyed by the document's sender go through."""
    app_id = f"docbus-test-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(kafka_conn, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC])
    (bus,) = _workers(kafka_conn, published, tmp_path, app_id, 1)
    bus.start()
    try:
        env, raw = published.sender("G03").envelope(("G03.U002",))
        start = await end_offsets(kafka_conn, [inbox_topic("G03.U002"), QUARANTINE_TOPIC])
        await produce(kafka_conn, INGRESS_TOPIC, [(b"G03", raw)])
        await read_until(kafka_conn, start, lambda rs: raw in values(rs, inbox_topic("G03.U002")), bus=bus)
        recall = answer(published, "G03", env, StatusCode.RECALL_REQUESTED, to="G03.U002")
        await produce(kafka_conn, RECEIPTS_TOPIC, [(b"G03.U002", recall)])

        def kept(rs: Records) -> list[str]:
            return [q.reason.value for q in quarantined(rs, app_id) if q.raw == recall]

        records = await read_until(kafka_conn, start, lambda rs: bool(kept(rs)), bus=bus)
        assert kept(records) == ["RECORD_KEY"], bus.log.read_text()[-3000:]
        assert recall not in values(records, inbox_topic("G03.U002"))
        await produce(kafka_conn, RECEIPTS_TOPIC, [(b"G03", recall)])
        records = await read_until(
            kafka_conn, start, lambda rs: recall in values(rs, inbox_topic("G03.U002")), bus=bus
        )
        assert recall in values(records, inbox_topic("G03.U002")), bus.log.read_text()[-3000:]
    finally:
        bus.stop()


async def _delete_topic(kafka: KafkaConnection, topic: str) -> None:
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()
    for _ in range(300):  # gone from the metadata before the bus declares it again
        if not (await partitions(kafka, [topic]))[topic]:
            return
        await asyncio.sleep(0.1)  # polling an observable condition, under a bound
    raise AssertionError(f"{topic} still listed after deletion")


async def test_a_bus_upgraded_in_place_rebuilds_an_empty_lifecycle_from_the_status_topic(
    kafka_conn: KafkaConnection, published: World, tmp_path: Path
) -> None:
    """A document routed and answered 01 by a bus whose lifecycle changelog is then gone (a bus
    from before the table, or the topic lost): restarted in place, the bus rebuilds the table from
    docbus.status, so the recipient's 03 is accepted — with an empty table it was refused
    RECEIPT_ORDER ("03 after nothing")."""
    app_id = f"docbus-test-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(kafka_conn, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC])
    (bus,) = _workers(kafka_conn, published, tmp_path, app_id, 1)
    bus.start()
    env, raw = published.sender("G03").envelope(("G03.U002",))
    arrived = answer(published, "G03.U002", env, StatusCode.ARRIVED)
    accepted = answer(published, "G03.U002", env, StatusCode.ACCEPTED)
    start = await end_offsets(kafka_conn, [inbox_topic("G03"), inbox_topic("G03.U002"), QUARANTINE_TOPIC])
    try:
        await produce(kafka_conn, INGRESS_TOPIC, [(b"G03", raw)])
        await read_until(kafka_conn, start, lambda rs: raw in values(rs, inbox_topic("G03.U002")), bus=bus)
        await produce(kafka_conn, RECEIPTS_TOPIC, [(b"G03", arrived)])
        records = await read_until(
            kafka_conn, start, lambda rs: arrived in values(rs, inbox_topic("G03")), bus=bus
        )
        assert arrived in values(records, inbox_topic("G03")), bus.log.read_text()[-3000:]
    finally:
        bus.stop()
    await _delete_topic(kafka_conn, f"{app_id}-lifecycle-changelog")
    bus.start()  # the same processor group and tables: an upgrade in place
    try:
        await produce(kafka_conn, RECEIPTS_TOPIC, [(b"G03", accepted)])

        def decided(rs: Records) -> bool:
            told = any(q.raw == accepted for q in quarantined(rs, app_id))
            return told or accepted in values(rs, inbox_topic("G03"))

        records = await read_until(kafka_conn, start, decided, bus=bus)
        refused = [(q.reason.value, q.detail) for q in quarantined(records, app_id) if q.raw == accepted]
        assert refused == [] and accepted in values(records, inbox_topic("G03")), bus.log.read_text()[-3000:]
        # (the shared test broker's docbus.status holds other tests' documents too: all rebuilt)
        assert re.search(r"lifecycle rebuilt: [1-9]\d* recipient states", bus.log.read_text())
    finally:
        bus.stop()

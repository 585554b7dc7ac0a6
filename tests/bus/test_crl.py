"""A certificate revoked while the bus runs: the bus reloads the CRL files of its PKI folder and
refuses the next envelope signed with it (CERT_REVOKED), without a restart."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from aiokafka import ConsumerRecord

from infra.pki import Authority
from schemas.connection import KafkaConnection
from schemas.topics import QUARANTINE_TOPIC, inbox_topic
from tests.bus.kafka import BusProcess, end_offsets, produce, quarantined, read_until
from tests.bus.world import PASSPHRASE, REVOKED_LATER, Sender, World

pytestmark = pytest.mark.broker

Records = list[ConsumerRecord[bytes, bytes]]


async def test_revocation_during_the_run_takes_effect(
    kafka_conn: KafkaConnection, published: World, bus_process: BusProcess, senders: Callable[[str], Sender]
) -> None:
    sender = senders(REVOKED_LATER)
    start = await end_offsets(kafka_conn, [QUARANTINE_TOPIC, inbox_topic("H01")])

    async def outcome(message_id: str) -> str:
        """'delivered' or the quarantine reason of one envelope."""

        def decided(rs: Records) -> bool:
            return any(r.topic == inbox_topic("H01") and r.key == message_id.encode() for r in rs) or any(
                q.message_id == message_id for q in quarantined(rs, bus_process.app_id)
            )

        records = await read_until(kafka_conn, start, decided, timeout=30, bus=bus_process)
        for q in quarantined(records, bus_process.app_id):
            if q.message_id == message_id:
                return q.reason.value
        assert decided(records), bus_process.log.read_text()[-3000:]
        return "delivered"

    env, raw = sender.envelope(("H01",))
    await produce(kafka_conn, "docbus.ingress", [(REVOKED_LATER.encode(), raw)])
    assert await outcome(env.message_id) == "delivered"

    Authority(published.pki, PASSPHRASE.encode()).revoke(REVOKED_LATER)  # writes fresh CRL files
    deadline = time.monotonic() + 30
    results: list[str] = []
    while time.monotonic() < deadline and "CERT_REVOKED" not in results:  # the bus looks every second
        env, raw = sender.envelope(("H01",))
        await produce(kafka_conn, "docbus.ingress", [(REVOKED_LATER.encode(), raw)])
        results.append(await outcome(env.message_id))
    assert results[-1] == "CERT_REVOKED", results
    assert set(results[:-1]) <= {"delivered"}

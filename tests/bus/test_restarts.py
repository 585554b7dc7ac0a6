"""Offsets never freeze: the processor killed (SIGKILL) and restarted three times under traffic
delivers every envelope, re-processes at most one batch per partition at each kill, and once drained
its group's committed offsets reach the end of every ingress partition (the lag is truthful)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord

from schemas.connection import KafkaConnection
from schemas.topics import INGRESS_TOPIC, RECEIPTS_TOPIC, inbox_topic
from tests.bus.conftest import bus_env
from tests.bus.kafka import BusProcess, end_offsets, lag, read_until, start_group_at_end
from tests.bus.world import World

pytestmark = pytest.mark.broker

Records = list[ConsumerRecord[bytes, bytes]]
BATCH = 20
SENDERS = ("G03", "H01", "H02", "H04")  # four ingress keys, spread over the partitions
PER_SENDER = 150
TARGET = "H05"


async def _traffic(kafka: KafkaConnection, batch: list[tuple[bytes, bytes]]) -> None:
    """Load, not synchronisation: about 150 envelopes a second while the processor is killed."""
    producer = AIOKafkaProducer(**kafka.client_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = []
        for i, (key, raw) in enumerate(batch):
            futures.append(await producer.send(INGRESS_TOPIC, raw, key=key))
            if i % 15 == 14:
                await asyncio.sleep(0.1)
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _lag(kafka: KafkaConnection, group: str) -> dict[int, int]:
    return {tp.partition: n for tp, n in (await lag(kafka, group, [INGRESS_TOPIC])).items()}


async def test_three_sigkill_restarts_under_traffic_keep_offsets_moving(
    kafka_conn: KafkaConnection, published: World, tmp_path: Path
) -> None:
    batch: list[tuple[bytes, bytes]] = []
    ids: set[bytes] = set()
    for code in SENDERS:
        sender = published.sender(code)
        for _ in range(PER_SENDER):
            env, raw = sender.envelope((TARGET,))
            batch.append((code.encode(), raw))
            ids.add(env.message_id.encode())
    batch = [batch[i + j * PER_SENDER] for i in range(PER_SENDER) for j in range(len(SENDERS))]
    app_id = f"docbus-test-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(kafka_conn, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC])
    start = await end_offsets(kafka_conn, [inbox_topic(TARGET)])
    env = {**bus_env(kafka_conn, published, tmp_path, app_id), "DOCBUS_BATCH_SIZE": str(BATCH)}
    bus = BusProcess(env, tmp_path / "bus.log")

    def copies(records: Records) -> Counter[bytes]:
        return Counter(r.key for r in records if r.key in ids)

    bus.start()
    traffic = asyncio.ensure_future(_traffic(kafka_conn, batch))
    try:
        for kill in range(1, 4):  # each kill lands after more has been delivered, traffic still flowing
            got = await read_until(kafka_conn, start, lambda rs, k=kill: len(copies(rs)) >= k * len(ids) // 5)
            assert len(copies(got)) >= kill * len(ids) // 5, f"bus log: {bus.log.read_text()[-3000:]}"
            bus.kill()
            bus.start()
        await traffic
        records = await read_until(kafka_conn, start, lambda rs: len(copies(rs)) == len(ids), bus=bus)
        seen = copies(records)
        missing = len(ids - set(seen))
        assert missing == 0, f"{missing} missing; bus log: {bus.log.read_text()[-3000:]}"
        # the last batch's commit follows its outputs: poll the group until it catches up
        behind = await _lag(kafka_conn, app_id)
        for _ in range(50):
            if not any(behind.values()):
                break
            await asyncio.sleep(0.2)
            behind = await _lag(kafka_conn, app_id)
    finally:
        traffic.cancel()
        bus.stop()
    assert behind == dict.fromkeys(behind, 0), f"committed offsets behind the end after draining: {behind}"
    redone = sum(seen.values()) - len(seen)
    partitions = len(await end_offsets(kafka_conn, [INGRESS_TOPIC]))
    assert redone <= 3 * partitions * BATCH, (
        f"{redone} copies re-routed by 3 restarts (at most one batch per partition each)"
    )

"""A processor killed with SIGKILL in the middle of a batch and restarted still delivers every
envelope; an inbox that keeps each message id once sees each exactly once, and nothing the
first run accepted is refused as a replay when the restarted run reads it again."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord

from schemas.connection import KafkaConnection
from schemas.topics import QUARANTINE_TOPIC, inbox_topic
from tests.bus.conftest import start_bus
from tests.bus.kafka import end_offsets, produce, quarantined, read_until
from tests.bus.world import DEPARTMENTS, UNIVERSITIES, World

pytestmark = pytest.mark.broker

Records = list[ConsumerRecord[bytes, bytes]]
PER_SENDER = 100


async def test_sigkill_mid_batch_then_restart_delivers_everything_once(
    kafka_conn: KafkaConnection, published: World, tmp_path: Path
) -> None:
    plan = {"G03": ("all-departments",), "H01": ("all-universities",), "H02": ()}
    expected: dict[str, set[bytes]] = defaultdict(set)  # inbox topic -> message ids
    batch: list[tuple[bytes, bytes]] = []
    for code, groups in plan.items():
        sender = published.sender(code)
        for _ in range(PER_SENDER):
            env, raw = sender.envelope(() if groups else ("H04",), groups)
            batch.append((code.encode(), raw))
            targets = DEPARTMENTS if groups == ("all-departments",) else UNIVERSITIES if groups else ("H04",)
            for target in targets:
                if target != code:
                    expected[inbox_topic(target)].add(env.message_id.encode())
    total = sum(len(ids) for ids in expected.values())
    topics = sorted({*expected, inbox_topic("G03"), inbox_topic("H01"), inbox_topic("H02"), QUARANTINE_TOPIC})
    start = await end_offsets(kafka_conn, topics)

    def delivered(records: Records) -> int:
        return sum(1 for r in records if r.key in expected.get(r.topic, ()) and _envelope(r))

    bus = await start_bus(kafka_conn, published, tmp_path)
    try:
        await produce(kafka_conn, "docbus.ingress", batch)
        early = await read_until(kafka_conn, start, lambda rs: delivered(rs) >= total // 10, bus=bus)
        bus.kill()
        assert 0 < delivered(early) < total, "the kill should land in the middle of the batch"
        bus.start()
        records = await read_until(
            kafka_conn,
            start,
            lambda rs: all(_seen(rs, t) >= ids for t, ids in expected.items()),
            90,
            bus=bus,
        )
    finally:
        bus.stop()
    ours = {mid for ids in expected.values() for mid in ids}
    for topic, ids in expected.items():
        assert _seen(records, topic) & ours == ids, f"{topic}: bus log {bus.log.read_text()[-2000:]}"
    refused = quarantined(records, bus.app_id)
    assert [q for q in refused if q.message_id and q.message_id.encode() in ours] == []


def _seen(records: Records, topic: str) -> set[bytes]:
    """What an inbox that stores each message id once holds."""
    return {r.key for r in records if r.topic == topic and r.key is not None and _envelope(r)}


def _envelope(record: ConsumerRecord[bytes, bytes]) -> bool:
    return ("ce_type", b"vn.docbus.envelope.v1") in (record.headers or ())

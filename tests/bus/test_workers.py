"""N workers: two `docbus bus run` processes of one group share the ingress partitions. A second
worker added under traffic, then the first killed (SIGKILL): every envelope is delivered, an inbox
that keeps each message id once holds each once, nothing is refused as a replay or a gap (each
sender's state followed its partition through both rebalances), and the group's committed offsets
reach the end of every ingress partition once drained."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient

from schemas.connection import KafkaConnection
from schemas.topics import INGRESS_TOPIC, QUARANTINE_TOPIC, RECEIPTS_TOPIC, inbox_topic
from tests.bus.conftest import bus_env
from tests.bus.kafka import BusProcess, end_offsets, produce, quarantined, read_until, start_group_at_end
from tests.bus.test_restarts import _lag, _traffic
from tests.bus.world import World

pytestmark = pytest.mark.broker

Records = list[ConsumerRecord[bytes, bytes]]
BATCH = 20
SENDERS = ("G03", "H01", "H02", "H04")  # four ingress keys, spread over the partitions
PER_SENDER = 120
TARGET = "H05"


async def _members(kafka: KafkaConnection, group: str) -> int:
    """Members of the group in a stable generation (0 while it rebalances)."""
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        (described,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    (found,) = described.groups
    _error, _group, state, _protocol_type, _protocol, members = found[:6]
    return len(members) if state == "Stable" else 0


async def test_second_worker_added_then_first_killed_loses_and_duplicates_nothing(
    kafka_conn: KafkaConnection, published: World, tmp_path: Path
) -> None:
    chains = {code: published.sender(code) for code in SENDERS}
    batch: list[tuple[bytes, bytes]] = []
    ids: set[bytes] = set()
    for code, sender in chains.items():
        for _ in range(PER_SENDER):
            env, raw = sender.envelope((TARGET,))
            batch.append((code.encode(), raw))
            ids.add(env.message_id.encode())
    batch = [batch[i + j * PER_SENDER] for i in range(PER_SENDER) for j in range(len(SENDERS))]
    app_id = f"docbus-test-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(kafka_conn, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC])
    start = await end_offsets(kafka_conn, [inbox_topic(TARGET), QUARANTINE_TOPIC])
    workers = []
    for name in ("a", "b"):
        home = tmp_path / name
        home.mkdir()
        env = {**bus_env(kafka_conn, published, home, app_id), "DOCBUS_BATCH_SIZE": str(BATCH)}
        workers.append(BusProcess(env, home / "bus.log"))
    first, second = workers

    def copies(records: Records) -> Counter[bytes]:
        return Counter(r.key for r in records if r.topic == inbox_topic(TARGET) and r.key in ids)

    def logs() -> str:
        return "\n".join(f"--- {w.log}\n{w.log.read_text()[-2000:]}" for w in workers)

    first.start()
    traffic = asyncio.ensure_future(_traffic(kafka_conn, batch))
    try:
        got = await read_until(kafka_conn, start, lambda rs: len(copies(rs)) >= len(ids) // 5)
        assert len(copies(got)) >= len(ids) // 5, logs()
        second.start()  # add one: the group rebalances and the two share the partitions
        for _ in range(600):
            if await _members(kafka_conn, app_id) == 2:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"the second worker never joined the group\n{logs()}")
        got = await read_until(kafka_conn, start, lambda rs: len(copies(rs)) >= len(ids) // 2)
        assert len(copies(got)) >= len(ids) // 2, logs()
        first.kill()  # kill one: its partitions (and their sender states) move to the survivor
        await traffic
        records = await read_until(kafka_conn, start, lambda rs: len(copies(rs)) == len(ids), bus=second)
        seen = copies(records)
        assert ids - set(seen) == set(), f"{len(ids - set(seen))} missing\n{logs()}"
        # each sender's next envelope continues its chain on whichever worker holds it now
        more = {code: chains[code].envelope((TARGET,)) for code in SENDERS}
        more_ids = {env.message_id.encode() for env, _ in more.values()}
        await produce(kafka_conn, INGRESS_TOPIC, [(code.encode(), raw) for code, (_, raw) in more.items()])
        records = await read_until(kafka_conn, start, lambda rs: more_ids <= {r.key for r in rs}, bus=second)
        assert more_ids <= {r.key for r in records}, logs()
        lag = await _lag(kafka_conn, app_id)
        for _ in range(50):  # the last batch's commit follows its outputs
            if not any(lag.values()):
                break
            await asyncio.sleep(0.2)
            lag = await _lag(kafka_conn, app_id)
    finally:
        traffic.cancel()
        for worker in workers:
            worker.stop()
    refused = [q for q in quarantined(records, app_id) if q.message_id and q.message_id.encode() in ids]
    assert refused == [], [(q.reason, q.detail) for q in refused]
    assert lag == dict.fromkeys(lag, 0), f"committed offsets behind the end after draining: {lag}"
    redone = sum(seen.values()) - len(seen)
    partitions = len(await end_offsets(kafka_conn, [INGRESS_TOPIC]))
    # the kill redoes at most the batch in flight per partition; a rebalance at most the same
    assert redone <= 2 * partitions * BATCH, f"{redone} copies routed twice"

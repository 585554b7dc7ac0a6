"""A junk flood on one ingress partition does not hold the mail of another behind it
(consumers/bus/fetch.py: at most ``FETCH_PER_PARTITION`` records of each partition per poll).

The flood and the mail are on the broker before the bus starts. The mail's partition first holds
three large refused records, so its first fetch (2 MiB a partition at most) brings those alone and
the good envelope comes in a later fetch, as mail sent during a flood does. faust delivers a whole
poll before it polls again: without the per-partition bound its first poll is the flood's first
fetch, about 9,000 records, all decided before the good envelope is even delivered.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from schemas.connection import KafkaConnection
from schemas.topics import INGRESS_TOPIC, QUARANTINE_TOPIC, RECEIPTS_TOPIC, inbox_topic
from tests.bus.conftest import bus_env
from tests.bus.kafka import BusProcess, end_offsets, from_processor, read_until, start_group_at_end
from tests.bus.world import World

pytestmark = pytest.mark.broker

Records = list[ConsumerRecord[bytes, bytes]]

FLOOD = 12_000  # more than one 2 MiB fetch of 206-byte records
_JUNK = b"\xc3\x01junk"  # the single-object marker, then bytes no schema fingerprint matches
_LARGE = 800 * 1024  # three of them fill more than one fetch of the mail's partition


async def _preload(kafka: KafkaConnection, flooded: int, mail: int, good: bytes, sender: bytes) -> None:
    producer = AIOKafkaProducer(
        **kafka.client_kwargs(), acks="all", enable_idempotence=True, max_request_size=3 * 1024 * 1024
    )
    await producer.start()
    try:
        sent = [
            await producer.send(INGRESS_TOPIC, _JUNK + os.urandom(200), key=b"H09", partition=flooded)
            for _ in range(FLOOD)
        ]
        sent += [
            await producer.send(INGRESS_TOPIC, _JUNK + os.urandom(_LARGE), key=sender, partition=mail)
            for _ in range(3)
        ]
        await asyncio.gather(*sent)  # the large ones first: the good envelope follows them
        await (await producer.send(INGRESS_TOPIC, good, key=sender, partition=mail))
    finally:
        await producer.stop()


async def test_mail_is_decided_before_most_of_a_flood_on_another_partition(
    kafka_conn: KafkaConnection, published: World, tmp_path: Path
) -> None:
    sender, recipient = "G03", "H05"
    env, good = published.sender(sender).envelope((recipient,))
    partitions = list(range(len(await end_offsets(kafka_conn, [INGRESS_TOPIC]))))
    mail = DefaultPartitioner()(sender.encode(), partitions, partitions)  # where the bus expects it
    flooded = (mail + 1) % len(partitions)
    app_id = f"docbus-test-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(kafka_conn, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC])
    inbox = TopicPartition(inbox_topic(recipient), 0)
    quarantine = TopicPartition(QUARANTINE_TOPIC, 0)
    start = await end_offsets(kafka_conn, [inbox.topic, QUARANTINE_TOPIC])
    await _preload(kafka_conn, flooded, mail, good, sender.encode())

    bus = BusProcess(bus_env(kafka_conn, published, tmp_path, app_id), tmp_path / "bus.log")
    bus.start()
    try:
        copies = await read_until(
            kafka_conn, {inbox: start[inbox]}, lambda rs: any(r.key == env.message_id.encode() for r in rs),
            bus=bus,
        )  # fmt: skip
        assert any(r.key == env.message_id.encode() for r in copies), bus.log.read_text()[-3000:]
        # at most this many refusals were decided before the good envelope: the quarantine records
        # present once its copy was read (the reader's own delay only adds to them)
        decided = (await end_offsets(kafka_conn, [QUARANTINE_TOPIC]))[quarantine] - start[quarantine]
        assert decided < FLOOD // 2, f"{decided} of {FLOOD} junk records decided before the mail"

        # and the flood is still decided in full afterwards: nothing of it was skipped
        def all_refused(records: Records) -> bool:
            return len(from_processor(records, app_id)) >= FLOOD + 3

        refused = await read_until(kafka_conn, {quarantine: start[quarantine]}, all_refused, bus=bus)
        assert len(from_processor(refused, app_id)) == FLOOD + 3
    finally:
        bus.stop()


def test_the_consumer_s_fetch_wait_and_in_place_delivery() -> None:
    # in a process of its own: building faust's Consumer inside pytest's process left CPython
    # 3.11.7's AST recursion counter off, and pytest crashed at session finish ("AST constructor
    # recursion depth mismatch") when a plugin module was rewritten afterwards
    done = subprocess.run(
        [sys.executable, "-m", "tests.bus.fair_consumer_checks"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split() == ["fetch_wait", "in_place", "under_pressure", "flow_stopped"]

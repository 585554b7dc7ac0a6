"""A junk flood on one ingress partition does not hold the mail of another behind it.

Two parts of the bus keep it fair: a poll takes at most ``FETCH_PER_PARTITION`` records of each
partition (consumers/bus/fetch.py), and the agents' batches take their records round robin across
the partitions' lanes, read ahead of deciding (consumers/bus/agents/lanes.py). The first test
checks the whole bus as deployed; the second the poll alone, on a topic of its own.

In the first, the flood and the mail are on the broker before the bus starts. The mail's partition
first holds three large refused records, so its first fetch (2 MiB a partition at most) brings
those alone and the good envelope comes in a later fetch, as mail sent during a flood does. What
was decided before the good envelope is read from the bus's own writes: the refusals it wrote
before the good envelope's copy (the record timestamps the bus's producer gives a batch when it
builds it), so the test reader's own delay does not count (counted once the copy was read, as
before, it was 2,900 to 6,300). The count can fall short: a refusal decided before the mail whose
batch was built after the copy's (the quarantine partition's batch before it still on its way)
counts as after, at most one broker round trip of decisions, a few hundred. With neither part (a
poll unbounded and lanes of 500 records) about 9,100 of the 12,000 were decided before the mail;
with both, 300 to 500 (700 with two busy loops on the two cores).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner

from consumers.bus.fetch import FairConsumerThread, RecordMap
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
        [copy] = [r for r in copies if r.key == env.message_id.encode()]

        # the flood is decided in full: nothing of it was skipped
        def all_refused(records: Records) -> bool:
            return len(from_processor(records, app_id)) >= FLOOD + 3

        refused = from_processor(
            await read_until(kafka_conn, {quarantine: start[quarantine]}, all_refused, bus=bus), app_id
        )
        assert len(refused) == FLOOD + 3
        # and most of it after the mail: the refusals the bus wrote before it wrote the copy (its
        # batches are stamped when built; one built in the same millisecond counts as after)
        decided = sum(1 for r in refused if r.timestamp < copy.timestamp)
        assert decided < FLOOD // 4, f"{decided} of {FLOOD} junk records decided before the mail"
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


async def test_a_poll_takes_at_most_its_bound_of_each_partition_and_every_record_once(
    kafka_conn: KafkaConnection, unique: Callable[[str], str]
) -> None:
    topic, bound = unique("fair-poll"), 50
    admin = AIOKafkaAdminClient(**kafka_conn.client_kwargs())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        await admin.close()
    flooded, mail = TopicPartition(topic, 0), TopicPartition(topic, 1)
    producer = AIOKafkaProducer(**kafka_conn.client_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:  # one fetch of the flooded partition (1 MiB) holds about 5,000 of these
        sent = [await producer.send(topic, os.urandom(200), partition=0) for _ in range(6_000)]
        sent += [await producer.send(topic, os.urandom(200), partition=1) for _ in range(20)]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()

    # the thread's fetch, as faust's poll calls it, with what it reads of its thread and consumer
    thread = SimpleNamespace(per_partition=bound, _deferred=None, consumer=SimpleNamespace(flow_active=True))
    consumer = AIOKafkaConsumer(**kafka_conn.client_kwargs(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([flooded, mail])
        consumer.seek(flooded, 0)
        consumer.seek(mail, 0)  # both positions known: the first fetch asks for both partitions
        polls: list[RecordMap] = []
        while sum(len(p.get(tp, ())) for p in polls for tp in (flooded, mail)) < 6_020:
            polls.append(await FairConsumerThread._fetch_records(thread, consumer, None, timeout=10.0))
            assert polls[-1], "nothing came in 10 s"
    finally:
        await consumer.stop()

    assert all(len(got) <= bound for poll in polls for got in poll.values())
    # a plain bounded poll fills from the partition fetched first: the mail would wait 100 polls
    first_mail = next(i for i, poll in enumerate(polls) if mail in poll)
    assert first_mail <= 1, f"the mail came in poll {first_mail}"
    for tp, count in ((flooded, 6_000), (mail, 20)):
        offsets = [r.offset for poll in polls for r in poll.get(tp, ())]
        assert offsets == list(range(count))  # in order, each once

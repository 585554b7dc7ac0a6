"""An agent's positions (consumers/bus/gaps.py) on the real broker: a record below its partition's
next offset — the group's committed offset before an assignment's first record, then one past
each record decided — was decided already and is not decided again (faust hands records again
after a rebalance); a record past it has the ones in between re-read first."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from consumers.bus.gaps import GapFiller
from schemas.connection import KafkaConnection
from schemas.topics import INGRESS_TOPIC, RECEIPTS_TOPIC
from tests.bus.kafka import end_offsets, start_group_at_end
from tests.bus.world import World

pytestmark = pytest.mark.broker

PARTITION = 0


async def _write(kafka: KafkaConnection, values: list[bytes]) -> list[int]:
    """``values`` into ingress partition PARTITION; their offsets."""
    producer = AIOKafkaProducer(**kafka.client_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = [
            await producer.send(INGRESS_TOPIC, value, key=b"G03", partition=PARTITION) for value in values
        ]
        return [(await future).offset for future in sent]
    finally:
        await producer.stop()


async def test_a_record_handed_again_is_decided_already_and_a_skipped_one_is_read_again(
    kafka_conn: KafkaConnection, published: World
) -> None:
    await _write(kafka_conn, [b"decided by whoever committed"])
    group = f"docbus-test-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(kafka_conn, group, [INGRESS_TOPIC])
    committed = (await end_offsets(kafka_conn, [INGRESS_TOPIC]))[TopicPartition(INGRESS_TOPIC, PARTITION)]
    first, skipped, after = await _write(kafka_conn, [b"first", b"skipped", b"after"])
    assert first == committed
    gaps = GapFiller(kafka_conn, group, INGRESS_TOPIC)
    try:
        assert await gaps.decided(PARTITION, committed - 1)  # below the group's committed offset
        assert not await gaps.decided(PARTITION, first)
        assert await gaps.missing(PARTITION, first) == []
        assert await gaps.decided(PARTITION, first)  # handed again: not decided twice
        # the consumer jumped over one: it is read again before the one after it is decided
        assert not await gaps.decided(PARTITION, after)
        assert [(r.offset, r.value) for r in await gaps.missing(PARTITION, after)] == [(skipped, b"skipped")]
        assert await gaps.decided(PARTITION, skipped) and await gaps.decided(PARTITION, after)
        gaps.reset()  # partitions reassigned: the group's committed offset again (nothing committed since)
        assert not await gaps.decided(PARTITION, first)
    finally:
        await gaps.stop()


async def test_an_assignments_committed_offsets_are_asked_for_with_it_not_at_its_first_record(
    kafka_conn: KafkaConnection, published: World
) -> None:
    """The committed offsets of every partition assigned are asked for when the assignment is made
    (the coordinator has just answered the join): a partition's first record that comes once the
    broker is out of reach is placed without waiting for it. (Asked for at the first record, a
    coordinator paused by SIGSTOP held the agent 21 s.)"""
    await _write(kafka_conn, [b"decided by whoever committed"])
    group = f"docbus-test-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(kafka_conn, group, [INGRESS_TOPIC])
    ends = await end_offsets(kafka_conn, [INGRESS_TOPIC])
    committed = ends[TopicPartition(INGRESS_TOPIC, PARTITION)]
    (first,) = await _write(kafka_conn, [b"first"])
    other = next(tp.partition for tp in ends if tp.partition != PARTITION)
    gaps = GapFiller(kafka_conn, group, INGRESS_TOPIC)
    try:
        # another topic's partitions in the assignment are not this filler's
        gaps.reset([(INGRESS_TOPIC, PARTITION), (INGRESS_TOPIC, other), (RECEIPTS_TOPIC, PARTITION)])
        assert not await gaps.decided(other, ends[TopicPartition(INGRESS_TOPIC, other)])
        gaps.kafka = KafkaConnection(bootstrap="127.0.0.1:1")  # the broker out of reach from here on
        placed = asyncio.gather(gaps.decided(PARTITION, committed - 1), gaps.decided(PARTITION, first))
        assert await asyncio.wait_for(placed, timeout=30) == [True, False]
        gaps.kafka = kafka_conn
        gaps.reset([(RECEIPTS_TOPIC, PARTITION)])  # none of this topic's: a partition is asked alone
        assert await gaps.decided(PARTITION, committed - 1) and not await gaps.decided(PARTITION, first)
    finally:
        await gaps.stop()

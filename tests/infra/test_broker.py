"""The real broker: round-trip with acks=all + idempotence, restart durability, topics apply."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from infra import topics
from infra.broker import BrokerError, Cluster, _require_free
from schemas.connection import KafkaConnection
from tests.conftest import harness_connection

pytestmark = pytest.mark.broker


async def _produce(kafka: KafkaConnection, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(**kafka.client_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for v in values:
            await producer.send_and_wait(topic, v, key=b"k")
    finally:
        await producer.stop()


async def _read_all(kafka: KafkaConnection, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        got: list[bytes] = []
        while len(got) < end:
            batch = await consumer.getmany(tp, timeout_ms=5000)
            if not batch:
                raise AssertionError(f"stalled at {len(got)}/{end}")
            got.extend(m.value for m in batch.get(tp, []))
        return got
    finally:
        await consumer.stop()


def _spec(name: str) -> topics.TopicSpec:
    return topics.TopicSpec(name, partitions=1, replication=1, retention_ms=-1)


def test_round_trip_acks_all_idempotent(kafka_conn: KafkaConnection, unique) -> None:  # type: ignore[no-untyped-def]
    name = unique("roundtrip")
    asyncio.run(topics.apply(kafka_conn, [_spec(name)]))
    values = [uuid.uuid4().bytes for _ in range(50)]
    asyncio.run(_produce(kafka_conn, name, values))
    assert asyncio.run(_read_all(kafka_conn, name)) == values


def test_topics_apply_is_idempotent_and_reports_drift(kafka_conn: KafkaConnection, unique) -> None:  # type: ignore[no-untyped-def]
    name = unique("apply")
    first = asyncio.run(topics.apply(kafka_conn, [_spec(name)]))
    assert [s.name for s in first.create] == [name]
    second = asyncio.run(topics.apply(kafka_conn, [_spec(name)]))
    assert second.create == [] and second.ok == [name] and second.drift == []
    changed = topics.TopicSpec(name, partitions=2, replication=1, retention_ms=-1, cleanup="compact")
    third = asyncio.run(topics.apply(kafka_conn, [changed]))
    assert third.create == []
    assert {d.what for d in third.drift} == {"partitions", "cleanup.policy"}


def test_data_survives_a_broker_restart(kafka: Cluster, unique) -> None:  # type: ignore[no-untyped-def]
    name = unique("durable")
    asyncio.run(topics.apply(harness_connection(kafka), [_spec(name)]))
    values = [b"before-restart-%d" % i for i in range(20)]
    asyncio.run(_produce(harness_connection(kafka), name, values))
    assert kafka.stop() and kafka.running() == []
    kafka.start()
    assert asyncio.run(_read_all(harness_connection(kafka), name)) == values


def test_second_start_is_a_no_op(kafka: Cluster) -> None:
    pid = kafka.nodes[0].pid()
    assert kafka.start() == []
    assert kafka.nodes[0].pid() == pid


def test_a_taken_port_is_a_clear_error(kafka: Cluster) -> None:
    with pytest.raises(BrokerError, match="already taken"):
        _require_free(kafka.nodes[0].port)

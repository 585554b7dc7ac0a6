"""The 3-node local KRaft cluster: RF 3 with min ISR 2 survives one node down, refuses writes at two."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from infra import topics
from infra.broker import Cluster
from schemas.connection import KafkaConnection
from tests.conftest import harness_connection

pytestmark = pytest.mark.cluster


async def _write(kafka: KafkaConnection, topic: str, n: int, *, timeout: float) -> int:
    """acks=all writes; returns how many were acknowledged before the first failure."""
    producer = AIOKafkaProducer(
        **kafka.client_kwargs(), acks="all", enable_idempotence=True, request_timeout_ms=5000
    )
    await producer.start()
    done = 0
    try:
        for i in range(n):
            await asyncio.wait_for(producer.send_and_wait(topic, b"m%d" % i), timeout)
            done += 1
    except (KafkaError, TimeoutError):
        pass
    finally:
        # with the partition below min ISR the pending batch cannot be flushed: do not wait forever
        with contextlib.suppress(KafkaError, TimeoutError):
            await asyncio.wait_for(producer.stop(), 20)
    return done


def test_rf3_topic_tolerates_one_node_down_not_two(kafka_cluster: Cluster, unique) -> None:  # type: ignore[no-untyped-def]
    name = unique("rf3")
    spec = topics.TopicSpec(name, partitions=1, replication=3, min_insync=2)
    plan = asyncio.run(topics.apply(harness_connection(kafka_cluster), [spec]))
    assert plan.warnings == [] and plan.create[0].replication == 3
    assert asyncio.run(_write(harness_connection(kafka_cluster), name, 10, timeout=30)) == 10
    try:
        kafka_cluster.stop(only=[3], kill=True)
        assert asyncio.run(_write(harness_connection(kafka_cluster), name, 10, timeout=60)) == 10
        kafka_cluster.stop(only=[2], kill=True)
        # one replica left < min.insync.replicas=2: acks=all must not be acknowledged
        assert asyncio.run(_write(harness_connection(kafka_cluster), name, 1, timeout=15)) == 0
    finally:
        kafka_cluster.start()
    assert asyncio.run(_write(harness_connection(kafka_cluster), name, 5, timeout=60)) == 5

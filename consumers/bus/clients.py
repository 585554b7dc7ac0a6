"""Every Kafka client the bus opens outside faust, built in one place: long-running clients
(producers/failover.py: the connection, the retry options, metadata from brokers that answer) with
the bus's own limits."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner

from consumers.outage import stop_quietly
from producers.failover import long_running_admin, long_running_consumer, long_running_producer
from schemas.connection import KafkaConnection

__all__ = ["MAX_BATCH", "MAX_REQUEST", "admin", "consumer", "partition_of", "producer", "reachable"]

MAX_BATCH = 512 * 1024  # well under the topics' and the broker's record-batch limits
MAX_REQUEST = 3 * 1024 * 1024  # a 1 MiB envelope (the contract's limit) plus headers fits one request
# what one fetch may bring into memory at most (compressed); decompressed sizes: consumers/bus/bombs.py
MAX_FETCH = 4 * 1024 * 1024
MAX_PARTITION_FETCH = 2 * 1024 * 1024


_HASHED = DefaultPartitioner()


def partition_of(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka's murmur2 partitioner (the Java client's), skipped for a one-partition topic: an
    inbox or a sender's status topic, most of an accepted envelope's records (the hash in pure
    Python was 3% of the processor, py-spy)."""
    if len(all_partitions) == 1:
        return all_partitions[0]
    chosen: int = _HASHED(key, all_partitions, available)
    return chosen


#: a produce request of the bus writer waits this long for its answer (the other clients: 10 s). A
#: batch sent to a leader that hangs after the controller fenced it — the writer's metadata not yet
#: refreshed — cost a whole request timeout: delivery stalled 18.2–18.5 s in a 30 s pause where the
#: fence came after 6 s (docs/PERFORMANCE.md, Recovery). The request's broker-side wait for the
#: in-sync replicas is bounded by it too: a batch that times out there is sent again (idempotent).
WRITER_REQUEST_TIMEOUT_MS = 5_000


def producer(kafka: KafkaConnection) -> AIOKafkaProducer:
    """acks=all and idempotence (aiokafka's defaults are acks=1, none); a short linger batches the
    records of one decision without costing the latency budget."""
    return long_running_producer(
        kafka,
        request_timeout_ms=WRITER_REQUEST_TIMEOUT_MS,
        acks="all",
        enable_idempotence=True,
        linger_ms=1,
        max_batch_size=MAX_BATCH,
        max_request_size=MAX_REQUEST,
        partitioner=partition_of,
    )


def consumer(kafka: KafkaConnection, **extra: Any) -> AIOKafkaConsumer:
    """A group-less reader (the gap filler, the directory feed)."""
    options: dict[str, Any] = {
        "group_id": None,
        "enable_auto_commit": False,
        "fetch_max_bytes": MAX_FETCH,
        "max_partition_fetch_bytes": MAX_PARTITION_FETCH,
        **extra,
    }
    return long_running_consumer(kafka, **options)


def admin(kafka: KafkaConnection) -> AIOKafkaAdminClient:
    return long_running_admin(kafka)


async def reachable(kafka: KafkaConnection) -> None:
    """Return once a client bootstraps from ``kafka``; raises a transient error while it does not."""
    client = admin(kafka)
    try:
        await client.start()
    finally:
        await stop_quietly(client.close, "broker probe")

"""`docbus demo`: the main job a newcomer runs first, on a local broker it starts itself."""

from __future__ import annotations

import asyncio
import uuid

import typer
from rich.console import Console

from infra import topics
from infra.broker import cluster_for

__all__ = ["demo"]

out = Console()


async def _round_trip(bootstrap: str) -> bytes:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    name = "docbus.smoke"
    await topics.apply(
        bootstrap, [topics.TopicSpec(name, partitions=1, replication=1, retention_ms=3_600_000)]
    )
    token = f"xin chào {uuid.uuid4()}".encode()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        md = await producer.send_and_wait(name, token)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(name, 0)
        consumer.assign([tp])
        consumer.seek(tp, md.offset)
        msg = await asyncio.wait_for(consumer.getone(), 30)
        return bytes(msg.value or b"")
    finally:
        await consumer.stop()


def demo(
    keep_running: bool = typer.Option(False, "--keep-running", help="leave the broker up afterwards"),
) -> None:
    """Start the broker, apply the topics, send and receive a message, stop the broker."""
    cluster = cluster_for(1)
    was_running = bool(cluster.running())
    with out.status("starting Apache Kafka (KRaft) on loopback..."):
        cluster.start()
    out.print(f"[green]✓[/] broker up at {cluster.bootstrap}")
    try:
        plan = asyncio.run(topics.apply(cluster.bootstrap, topics.load_specs()))
        out.print(f"[green]✓[/] topics: {len(plan.create)} created, {len(plan.ok)} unchanged")
        echoed = asyncio.run(_round_trip(cluster.bootstrap))
        out.print(f"[green]✓[/] round trip (acks=all, idempotent): {echoed.decode()}")
    finally:
        if keep_running or was_running:
            out.print("broker left running; stop it with: docbus broker stop")
        else:
            cluster.stop()
            out.print("broker stopped")

"""The fault suite on the 3-node cluster: one PKI + directory per module, and per test a fresh
processor group (`docbus bus run`) and audit writer (`docbus audit writer`, own audit topics),
both real subprocesses so they can be SIGKILLed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from docbus.directory_load import ensure_topics, publish_entries
from infra.broker import Cluster
from infra.pki import Authority
from infra.topics import TopicSpec, apply
from schemas.connection import KafkaConnection
from schemas.topics import AUDIT_EVENTS_TOPIC, INGRESS_TOPIC, RECEIPTS_TOPIC
from tests.audit_bus.conftest import AuditTestSettings
from tests.bus.conftest import bus_env
from tests.bus.kafka import CliProcess as Proc
from tests.bus.kafka import start_group_at_end
from tests.bus.world import PASSPHRASE, World, build_world
from tests.conftest import harness_connection


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: broker/processor/cluster faults while a producer runs")


@dataclass
class Stack:
    cluster: Cluster
    world: World
    bus: Proc
    writer: Proc
    audit: AuditTestSettings
    home: Path
    app_id: str

    @property
    def kafka(self) -> KafkaConnection:
        return harness_connection(self.cluster)

    def logs(self) -> str:
        return "\n".join(p.log.read_text(errors="replace")[-3000:] for p in (self.bus, self.writer))


@pytest.fixture(scope="module")
def fault_world(kafka_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> World:
    world = build_world(tmp_path_factory.mktemp("faults") / "pki")
    ca = Authority(world.pki, PASSPHRASE.encode())
    ca.issue_audit()
    ca.publish_crl()
    asyncio.run(ensure_topics(harness_connection(kafka_cluster), world.entries))
    asyncio.run(publish_entries(harness_connection(kafka_cluster), world.entries))
    return world


@pytest.fixture
async def stack(
    kafka_cluster: Cluster, fault_world: World, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """A new processor group and audit writer reading from now on, with its own audit topics."""
    kafka_cluster.start()  # a previous test may have left a node down
    kafka, tag = harness_connection(kafka_cluster), uuid.uuid4().hex[:8]
    home = tmp_path_factory.mktemp(f"fault-{tag}")
    app_id = f"docbus-fault-{tag}"
    audit = AuditTestSettings(
        kafka=kafka, pki_dir=fault_world.pki, pki_passphrase=PASSPHRASE,
        audit_topic=f"t.audit.{tag}", checkpoint_topic=f"t.checkpoints.{tag}",
        audit_group=f"t.writer.{tag}", checkpoint_every=100, checkpoint_seconds=5,
    )  # fmt: skip
    specs = [
        TopicSpec(n, 1, 3, min_insync=2, retention_ms=-1) for n in (audit.audit_topic, audit.checkpoint_topic)
    ]
    await apply(kafka, specs)
    await start_group_at_end(kafka, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC])
    await start_group_at_end(kafka, audit.audit_group, [AUDIT_EVENTS_TOPIC])
    env = {**bus_env(kafka, fault_world, home, app_id), "DOCBUS_CHANGELOG_REPLICATION": "3"}
    writer_env = {
        **env, "DOCBUS_AUDIT_TOPIC": audit.audit_topic, "DOCBUS_CHECKPOINT_TOPIC": audit.checkpoint_topic,
        "DOCBUS_AUDIT_GROUP": audit.audit_group, "DOCBUS_CHECKPOINT_EVERY": "100",
        "DOCBUS_CHECKPOINT_SECONDS": "5",
    }  # fmt: skip
    bus = Proc(["bus", "run"], env, home / "bus.log")
    writer = Proc(["audit", "writer"], writer_env, home / "writer.log")
    bus.start()
    writer.start()
    yield Stack(kafka_cluster, fault_world, bus, writer, audit, home, app_id)
    bus.stop()
    writer.stop()
    # each test's changelogs and audit topics would otherwise pile up and slow every cluster start
    mine = [*await topics_named(kafka, app_id), audit.audit_topic, audit.checkpoint_topic]
    await delete_topics(kafka, mine)


async def topics_named(kafka: KafkaConnection, prefix: str) -> dict[str, set[int]]:
    """Topics whose name starts with ``prefix`` -> the replica counts of their partitions."""
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        described = await admin.describe_topics(names) if names else []
        return {d["topic"]: {len(p["replicas"]) for p in d["partitions"]} for d in described}
    finally:
        await admin.close()


async def delete_topics(kafka: KafkaConnection, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


@pytest.fixture
def cluster_up(kafka_cluster: Cluster) -> Iterator[Cluster]:
    yield kafka_cluster
    kafka_cluster.start()

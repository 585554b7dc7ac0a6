"""Audit on the real broker: a PKI with an audit key, per-test topics, and waiting with deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from consumers.audit.config import AuditConfig
from consumers.audit.kafka.kafka_io import read_values
from consumers.audit.kafka.service import AuditWriterService
from consumers.trust import TrustPolicy
from docbus.pki_folder import trust_policy_from_pki
from infra.pki import Authority
from infra.topics import TopicSpec, apply
from producers.identity import NodeIdentity
from schemas.connection import KafkaConnection

PASS = "audit-bus-passphrase"
ORGS = {
    "G03": ("Bộ Giáo dục và Đào tạo", "Nguyễn Văn An", "Chánh Văn phòng"),
    "G03.U001": ("Trường Đại học Sư phạm Hà Nội", "Trần Thị Bình", "Hiệu trưởng"),
    "G03.U002": ("Trường Đại học Kinh tế Hà Nội", "Lê Văn Cường", "Hiệu trưởng"),
    "H01": ("Sở GD&ĐT Hà Nội", "Phạm Thị Dung", "Giám đốc"),
}


@dataclass(frozen=True)
class AuditPki:
    folder: Path

    def identity(self, code: str) -> NodeIdentity:
        return NodeIdentity.from_pki(self.folder, code, PASS, "*")

    def policy(self) -> TrustPolicy:
        return trust_policy_from_pki(self.folder)


class AuditTestSettings(AuditConfig):
    """One test's audit configuration and the connection its Kafka clients use."""

    kafka: KafkaConnection


@pytest.fixture(scope="session")
def audit_pki(tmp_path_factory: pytest.TempPathFactory) -> AuditPki:
    folder = tmp_path_factory.mktemp("auditpki") / "pki"
    a = Authority.init(folder, PASS.encode())
    with a.batch():
        for code, (name, person, position) in ORGS.items():
            a.issue_org(code, name)
            a.issue_official(code, person, position)
        a.issue_audit()
    a.publish_crl()
    return AuditPki(folder)


@pytest.fixture
async def audit_settings(
    kafka_conn: KafkaConnection, unique: Callable[[str], str], audit_pki: AuditPki
) -> AuditTestSettings:
    """Settings naming this test's own topics (and inbox prefix), all created empty."""
    return await audit_topics(kafka_conn, unique, audit_pki)


async def audit_topics(
    kafka_conn: KafkaConnection, unique: Callable[[str], str], audit_pki: AuditPki
) -> AuditTestSettings:
    """Settings naming topics (and an inbox prefix) of ``unique``'s names, all created empty."""
    settings = AuditTestSettings(
        kafka=kafka_conn,
        pki_dir=audit_pki.folder,
        pki_passphrase=PASS,
        audit_topic=unique("audit"),
        audit_events_topic=unique("audit.events"),
        checkpoint_topic=unique("checkpoints"),
        ingress_topic=unique("ingress"),
        receipts_topic=unique("receipts"),
        inbox_prefix=unique("inbox") + ".",
        audit_group=unique("writer"),
        checkpoint_every=1000,
        checkpoint_seconds=3600,
    )
    one = [settings.audit_topic, settings.checkpoint_topic, settings.receipts_topic]
    specs = [TopicSpec(n, 1, 1, retention_ms=-1) for n in one]
    specs += [
        TopicSpec(n, 3, 1, retention_ms=-1) for n in (settings.audit_events_topic, settings.ingress_topic)
    ]
    specs += [TopicSpec(settings.inbox(code), 1, 1, retention_ms=-1) for code in ORGS]
    await apply(kafka_conn, specs)
    return settings


async def wait_values(
    kafka: KafkaConnection, topic: str, until: Callable[[list[bytes]], bool], timeout: float = 30.0
) -> list[bytes]:
    """Read ``topic`` again and again until ``until(values)``; TimeoutError after ``timeout``."""
    async with asyncio.timeout(timeout):
        while True:
            values = await read_values(kafka, topic)
            if until(values):
                return values
            await asyncio.sleep(0.2)  # polling interval, not a stand-in for synchronisation


class Writers:
    """Audit writers of ``settings`` run in the current event loop: start() one, stop() them all."""

    def __init__(self, settings: AuditTestSettings) -> None:
        self.settings = settings
        self._tasks: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    def start(self) -> AuditWriterService:
        service = AuditWriterService.from_settings(self.settings, self.settings.kafka)
        stop = asyncio.Event()
        self._tasks.append((stop, asyncio.create_task(service.run(stop))))
        return service

    async def stop(self) -> None:
        for stop, _ in self._tasks:
            stop.set()
        await asyncio.gather(*(t for _, t in self._tasks))


@pytest.fixture
async def running_writer(
    audit_settings: AuditTestSettings,
) -> AsyncIterator[Callable[[], AuditWriterService]]:
    """start() runs a writer in this event loop; every one started is stopped at the end."""
    writers = Writers(audit_settings)
    yield writers.start
    await writers.stop()

"""A small exchange of its own for the operators' command tests: its own PKI (so its directory
entries never mix with other tests' — their seals fail each other's anchors), a sector of
3 departments and 2 universities sealed by its G03, published on the test broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from docbus.directory_load import ensure_topics, publish_entries, seal_entries
from docbus.sector import build_sector
from docbus.settings import connection_env
from infra.pki import Authority
from producers.identity import NodeIdentity
from schemas.connection import KafkaConnection
from schemas.directory import DirectoryEntry
from schemas.topics import INGRESS_TOPIC, RECEIPTS_TOPIC, inbox_topic
from tests.bus.kafka import REPO, BusProcess, start_group_at_end

PASSPHRASE = "ops-test-passphrase"
ORGS = ("G03", "G03.BUS", "H01", "H02", "H03", "G03.U001", "G03.U002")


@dataclass(frozen=True)
class Exchange:
    pki: Path
    home: Path
    kafka: KafkaConnection
    entries: list[DirectoryEntry]

    def env(self, **override: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCBUS_")}
        env.update(
            **connection_env(self.kafka), DOCBUS_HOME=str(self.home), DOCBUS_PKI_DIR=str(self.pki),
            DOCBUS_PKI_PASSPHRASE=PASSPHRASE, DOCBUS_DIRECTORY_TIMEOUT="20", COLUMNS="250",
        )  # fmt: skip
        env.update(override)
        return env

    def start_bus(self, folder: Path, **env: str) -> BusProcess:
        """A started `docbus bus run` of a fresh processor group that reads from the current end,
        logging to ``folder``/bus.log."""
        app_id = f"docbus-ops-{uuid.uuid4().hex[:8]}"
        asyncio.run(start_group_at_end(self.kafka, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC]))
        env = {"DOCBUS_APP_ID": app_id, "DOCBUS_SESSION_TIMEOUT": "6", **env}
        bus = BusProcess(self.env(**env), folder / "bus.log")
        bus.start()
        return bus

    def run(self, *args: str, timeout: float = 90, **env: str) -> subprocess.CompletedProcess[str]:
        """`docbus ...` as a user runs it, in this exchange's environment."""
        return subprocess.run(
            [sys.executable, "-m", "docbus.cli", *args], cwd=REPO, env=self.env(**env),
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip


@pytest.fixture(scope="session")
def exchange(kafka_conn: KafkaConnection, tmp_path_factory: pytest.TempPathFactory) -> Exchange:
    root = tmp_path_factory.mktemp("ops")
    ca = Authority.init(root / "pki", PASSPHRASE.encode())
    sector = build_sector(3, 2, with_bus=True)
    names = {entry.code: entry.name for entry in sector}  # a seal is named as its directory entry
    with ca.batch():
        for code in ORGS:
            ca.issue_org(code, names[code])
        ca.issue_official("G03", "Cán bộ Bộ", "Chánh Văn phòng")
        ca.issue_official("H01", "Cán bộ Sở Một", "Giám đốc")
        ca.issue_official("H03", "Cán bộ Cũ", "Giám đốc", days=0)  # expired at once
    g03 = NodeIdentity.from_pki(root / "pki", "G03", PASSPHRASE)
    entries = seal_entries(sector, g03.seal)
    asyncio.run(ensure_topics(kafka_conn, entries))
    asyncio.run(publish_entries(kafka_conn, entries))
    # the exchange's inbox clients read the mail of these tests, not every earlier test's copies to
    # the same codes: sealed under other PKIs, each is refused, stored and answered with a signed 02
    for entry in entries:
        if entry.active:
            group, topic = f"docbus-inbox-{entry.code}", inbox_topic(entry.code)
            asyncio.run(start_group_at_end(kafka_conn, group, [topic]))
    (root / "home").mkdir()
    return Exchange(root / "pki", root / "home", kafka_conn, entries)

"""`docbus edxml import` sends the sample công văn through the running bus; the recipient receives it
with `docbus inbox` and `docbus edxml export` gives back the same package, signed by its seal."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from docbus.directory_load import ensure_topics, publish_entries
from infra.pki import Authority
from producers.edxml import SignatureVerdict, parse_package
from schemas.connection import KafkaConnection
from schemas.topics import inbox_topic
from tests.bus.conftest import bus_env, start_bus
from tests.bus.kafka import BusProcess, start_group_at_end
from tests.bus.world import PASSPHRASE, build_world
from tests.edxml.conftest import SAMPLE_PATH

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Node:
    bus: BusProcess
    env: dict[str, str]


@pytest.fixture(scope="module")
def node(kafka_conn: KafkaConnection, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    world = build_world(tmp_path_factory.mktemp("edxml") / "pki")
    ca = Authority(world.pki, PASSPHRASE.encode())
    ca.issue_org("G03.15", "Văn phòng Bộ")  # the sample's From is 000.00.15.G03
    ca.issue_official("G03.15", "Trần Văn Ví Dụ", "Phó Cục trưởng")
    asyncio.run(ensure_topics(kafka_conn, world.entries))
    asyncio.run(publish_entries(kafka_conn, world.entries))
    asyncio.run(start_group_at_end(kafka_conn, "docbus-inbox-H01", [inbox_topic("H01")]))
    home = tmp_path_factory.mktemp("edxml-home")
    bus = asyncio.run(start_bus(kafka_conn, world, home))
    yield Node(bus, {**os.environ, **bus_env(kafka_conn, world, home, "unused"), "COLUMNS": "240"})
    bus.stop()


def docbus(n: Node, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "docbus.cli", *args], cwd=cwd, env={**n.env, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_sample_package_is_imported_delivered_and_exported(node: Node, tmp_path: Path) -> None:
    sent = docbus(node, "edxml", "import", str(SAMPLE_PATH), "--org", "G03.15", "--timeout", "60")
    assert sent.returncode == 0, sent.stdout + sent.stderr + node.bus.log.read_text()[-3000:]
    assert "package signature  absent" in sent.stdout and "accepted by the bus" in sent.stdout
    match = re.search(r"message id\s+(\S+)", sent.stdout)
    assert match is not None
    mid = match[1]

    received = docbus(node, "inbox", "--org", "H01")
    assert received.returncode == 0, received.stderr
    assert re.search(rf"document\s+{mid} from 000.00.15.G03", received.stdout), received.stdout

    exported = docbus(
        node, "edxml", "export", mid, "--org", "H01", "--sign", "-o", str(tmp_path / "back.edxml")
    )
    assert exported.returncode == 0, exported.stderr
    back = parse_package((tmp_path / "back.edxml").read_bytes())
    sample = parse_package(SAMPLE_PATH.read_bytes()).content
    # the node signs its name as the signed directory states it (the bus refuses another, SENDER_NAME),
    # not the package's own spelling; every other field survived the bus
    assert sample.sender.name != "Văn phòng"
    named = dataclasses.replace(sample, sender=sample.sender.model_copy(update={"name": "Văn phòng"}))
    assert back.content == named
    assert back.signature.verdict is SignatureVerdict.VALID and "H01" in back.signature.subject

    again = docbus(node, "edxml", "import", str(SAMPLE_PATH), "--org", "H01", "--no-wait")
    assert again.returncode == 1 and "ORG_MISMATCH" in again.stderr  # a node signs only its own documents

"""A running bus (subprocess) on the test broker for the large-payload tests, with a short blob wait."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from docbus.directory_load import ensure_topics, publish_entries
from infra.pki import Authority
from schemas.connection import KafkaConnection
from schemas.topics import INGRESS_TOPIC, RECEIPTS_TOPIC, inbox_topic
from tests.bus.conftest import bus_env
from tests.bus.kafka import BusProcess, start_group_at_end
from tests.bus.world import PASSPHRASE, World, build_world

BLOB_WAIT = "3"  # seconds the bus waits for a missing chunk before BLOB_INCOMPLETE
CHUNK = 64 * 1024  # small chunks keep the test fast while a file still spans many


@dataclass(frozen=True)
class BlobBus:
    world: World
    bus: BusProcess
    env: dict[str, str]
    home: Path


@pytest.fixture(scope="module")
def blob_bus(kafka_conn: KafkaConnection, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BlobBus]:
    world = build_world(tmp_path_factory.mktemp("blobs") / "pki")
    Authority(world.pki, PASSPHRASE.encode()).issue_official("G03.U001", "Trần Thị Bình", "Hiệu trưởng")
    asyncio.run(ensure_topics(kafka_conn, world.entries))
    asyncio.run(publish_entries(kafka_conn, world.entries))
    home = tmp_path_factory.mktemp("blobs-home")
    for code in ("G03.U001", "G03.U002", "H01"):  # the clients read what these tests send
        asyncio.run(start_group_at_end(kafka_conn, f"docbus-inbox-{code}", [inbox_topic(code)]))
    app_id = f"docbus-test-{uuid.uuid4().hex[:8]}"
    asyncio.run(start_group_at_end(kafka_conn, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC]))
    env = {
        **os.environ, **bus_env(kafka_conn, world, home, app_id), "COLUMNS": "240",
        "DOCBUS_BLOB_WAIT": BLOB_WAIT, "DOCBUS_CHUNK_BYTES": str(CHUNK),
    }  # fmt: skip
    bus = BusProcess(env, home / "bus.log")
    bus.start()
    yield BlobBus(world, bus, env, home)
    bus.stop()

"""Fixtures of the bus tests: one small PKI + sealed sector directory per session; for broker
tests, the topics, the published directory and a `docbus bus run` worker as a subprocess."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from docbus.directory_load import ensure_topics, publish_entries
from docbus.settings import connection_env
from schemas.connection import KafkaConnection
from schemas.topics import INGRESS_TOPIC, RECEIPTS_TOPIC
from tests.bus.kafka import BusProcess, start_group_at_end
from tests.bus.world import PASSPHRASE, Sender, World, build_world


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("bus") / "pki")


@pytest.fixture(scope="session")
def published(kafka_conn: KafkaConnection, world: World) -> World:
    """The world's topics (bus topics, one inbox per active org) and sealed directory on the broker."""
    asyncio.run(ensure_topics(kafka_conn, world.entries))
    asyncio.run(publish_entries(kafka_conn, world.entries))
    return world


def bus_env(kafka: KafkaConnection, world: World, home: Path, app_id: str) -> dict[str, str]:
    return {
        "DOCBUS_HOME": str(home),
        **connection_env(kafka),
        "DOCBUS_PKI_DIR": str(world.pki),
        "DOCBUS_PKI_PASSPHRASE": PASSPHRASE,
        "DOCBUS_APP_ID": app_id,
        "DOCBUS_SESSION_TIMEOUT": "6",
        "DOCBUS_CRL_CHECK_INTERVAL": "1",
        "DOCBUS_STOP_TIMEOUT": "3",  # a test's teardown does not wait out an agent that will not end
        "DOCBUS_LOG_LEVEL": "info",
    }


async def start_bus(kafka: KafkaConnection, world: World, home: Path) -> BusProcess:
    """A worker of a fresh processor group (and fresh tables) that starts reading at the current end."""
    app_id = f"docbus-test-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(kafka, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC])
    bus = BusProcess(bus_env(kafka, world, home, app_id), home / "bus.log")
    bus.start()
    return bus


@pytest.fixture(scope="module")
def bus_process(
    kafka_conn: KafkaConnection, published: World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BusProcess]:
    bus = asyncio.run(start_bus(kafka_conn, published, tmp_path_factory.mktemp("bus-home")))
    yield bus
    bus.stop()


@pytest.fixture(scope="module")
def senders(published: World) -> Callable[[str], Sender]:
    """Node chains that live as long as the module's bus (whose tables start empty)."""
    chains: dict[str, Sender] = {}

    def get(code: str) -> Sender:
        if code not in chains:
            chains[code] = published.sender(code)
        return chains[code]

    return get

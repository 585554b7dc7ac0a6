"""Two real gateways (`docbus gateway run` on loopback) over the running bus on the test broker: a
university's (G03.U001) and the ministry's (G03), each with a registered e-office client."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from docbus.directory_load import ensure_topics, publish_entries
from docbus.gateway.auth import add_client
from infra.pki import Authority
from schemas.connection import KafkaConnection
from schemas.topics import inbox_topic
from tests.bus.conftest import bus_env, start_bus
from tests.bus.kafka import BusProcess, start_group_at_end
from tests.bus.world import PASSPHRASE, World, build_world

REPO = Path(__file__).resolve().parents[2]
UNI, MOET = "G03.U001", "G03"


@dataclass
class GatewayProc:
    org: str
    url: str
    client_id: str
    secret: str
    process: subprocess.Popen[str]
    log: Path
    folder: Path

    def token(self) -> str:
        r = httpx.post(f"{self.url}/oauth/token", data={"grant_type": "client_credentials",
                       "client_id": self.client_id, "client_secret": self.secret})  # fmt: skip
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token()}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=90)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_gateway(env: dict[str, str], home: Path, org: str, client_id: str) -> GatewayProc:
    folder = home / "gateways" / org
    secret = add_client(folder / "clients.json", client_id, [org])
    log = home / f"gateway-{org}.log"
    with log.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "docbus.cli", "gateway", "run", "--org", org, "--port", "0"],
            cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=errors, text=True,
        )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()  # the first line says where it listens, once it accepts calls
    if "listening on" not in line:
        process.kill()
        raise AssertionError(f"gateway {org} did not start: {line!r}\n{log.read_text()[-3000:]}")
    return GatewayProc(org, line.split("listening on", 1)[1].strip(), client_id, secret, process, log, folder)


@dataclass(frozen=True)
class Exchange:
    world: World
    bus: BusProcess
    env: dict[str, str]
    home: Path
    uni: GatewayProc
    moet: GatewayProc


def _world(folder: Path) -> World:
    world = build_world(folder)
    ca = Authority(world.pki, PASSPHRASE.encode())
    ca.issue_official(UNI, "Trần Thị Bình", "Hiệu trưởng")
    return world


@pytest.fixture(scope="package")
def exchange(kafka_conn: KafkaConnection, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    world = _world(tmp_path_factory.mktemp("gateway") / "pki")
    asyncio.run(ensure_topics(kafka_conn, world.entries))
    asyncio.run(publish_entries(kafka_conn, world.entries))
    for org in (UNI, MOET):
        asyncio.run(start_group_at_end(kafka_conn, f"docbus-inbox-{org}", [inbox_topic(org)]))
    home = tmp_path_factory.mktemp("gateway-home")
    bus = asyncio.run(start_bus(kafka_conn, world, home))
    env = {**os.environ, **bus_env(kafka_conn, world, home, "unused")}
    uni = start_gateway(env, home, UNI, "uni-eoffice")
    moet = start_gateway(env, home, MOET, "moet-eoffice")
    yield Exchange(world, bus, env, home, uni, moet)
    uni.stop()
    moet.stop()
    bus.stop()

"""The processors' own principal is enough for a real faust worker on the secured broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from docbus.demo.kafka import start_group_at_end
from infra.security import ADMIN
from tests.conftest import REPO
from tests.security.conftest import ORG_A, Secured

pytestmark = pytest.mark.broker


async def send_and_await_delivery(world: Secured, value: bytes, timeout: float = 60.0) -> bool:
    p = AIOKafkaProducer(
        bootstrap_servers=world.bootstrap, acks="all", enable_idempotence=True, **world.security(ORG_A)
    )
    try:
        await p.start()
        await p.send_and_wait("docbus.ingress", value, key=ORG_A.encode())
    finally:
        await p.stop()
    c = AIOKafkaConsumer(
        f"docbus.inbox.{ORG_A}", bootstrap_servers=world.bootstrap, group_id=f"docbus-inbox-{ORG_A}",
        auto_offset_reset="earliest", **world.security(ORG_A),
    )  # fmt: skip
    try:
        await c.start()
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            batches = await c.getmany(timeout_ms=500)
            if any(r.value == value for recs in batches.values() for r in recs):
                return True
        return False
    finally:
        await c.stop()


def test_faust_worker_runs_as_docbus_processor(secured: Secured, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SEC_APP_ID": f"docbus-acl-{tag}",  # under the processor's "docbus" group and topic prefix
        "SEC_BOOTSTRAP": secured.bootstrap,
        "SEC_PKI": str(secured.pki),
        "SEC_OUT": f"docbus.inbox.{ORG_A}",
        "SEC_DATA": str(tmp_path / "faust"),
    }
    # the suite's broker holds other tests' ingress records (a bomb among them): start at the end
    asyncio.run(start_group_at_end(secured.connection(ADMIN), env["SEC_APP_ID"], ["docbus.ingress"]))
    log = (tmp_path / "worker.log").open("w")
    app = Path(__file__).with_name("processor_app.py")
    worker = subprocess.Popen(
        [sys.executable, str(app), "worker", "-l", "info", "--without-web"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
    )  # fmt: skip
    try:
        delivered = asyncio.run(send_and_await_delivery(secured, f"routed {tag}".encode()))
        assert delivered, (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()

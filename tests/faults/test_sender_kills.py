"""Sender kills in the fault suite (issue 13): on the 3-node cluster, with the bus and the audit
writer running, ``docbus send`` is killed (``os._exit``) at each write point of the node in turn —
build, commit, publish, flush, resync — and started again, with the state folder rolled back to an old
copy half-way. Every document reaches its recipient exactly once and every next send is accepted."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from producers.faults import CRASH_POINTS
from schemas.topics import inbox_topic
from tests.bus.conftest import bus_env
from tests.bus.kafka import end_offsets
from tests.faults.conftest import Stack
from tests.node.crash import CliSender, delivered, new_number

pytestmark = [pytest.mark.cluster, pytest.mark.faults]

SENDER, RECIPIENT = "H01", "H02"


@pytest.mark.timeout(900)  # some twenty `docbus send` processes, each a TLS client of the cluster
async def test_sender_killed_at_every_write_point(stack: Stack, tmp_path: Path) -> None:
    env = {**os.environ, **bus_env(stack.kafka, stack.world, stack.home, stack.app_id), "COLUMNS": "240"}
    node = CliSender(env, stack.home, SENDER, RECIPIENT, stack.home / "bus.log", stack.app_id)
    start = await end_offsets(stack.kafka, [inbox_topic(RECIPIENT)])
    numbers: list[str] = []

    def send(crash: str | None = None) -> str:
        number = new_number()
        numbers.append(number)
        node.send(tmp_path, number, crash=crash)
        if crash in ("send.signed", "flush.published"):
            node.send(tmp_path, number)  # killed before its own envelope was sent: the clerk sends it again
        # killed at resync.adopted: the next send signs the refused document again itself (ADR 0003)
        return number

    send()
    backup = tmp_path / "backup"
    shutil.copytree(node.state, backup)
    for point in CRASH_POINTS:
        if point == "flush.published":
            send("commit.state")  # leaves an envelope in the outbox for the next send to publish
        if point == "resync.adopted":
            shutil.rmtree(node.state)
            shutil.copytree(backup, node.state)  # restored from the old copy: behind the bus
        send(point)
        send()  # the next send after every kill is accepted
    got = await delivered(stack.kafka, start, node, set(numbers))
    assert got == dict.fromkeys(numbers, 1), stack.logs()
    assert stack.bus.alive() and stack.writer.alive(), stack.logs()

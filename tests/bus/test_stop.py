"""A stop is a normal path: on SIGTERM both agents end by themselves (faust stops their channels,
each agent returns), nothing is logged as a crash or restarted, and `docbus bus run` exits 0 well
before its safety bound (DOCBUS_STOP_TIMEOUT, here far longer than the test waits for the exit)."""

from __future__ import annotations

import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from schemas.connection import KafkaConnection
from schemas.receipt import StatusCode
from schemas.topics import INGRESS_TOPIC, RECEIPTS_TOPIC, inbox_topic
from tests.bus.conftest import bus_env
from tests.bus.kafka import BusProcess, end_offsets, produce, read_until, start_group_at_end
from tests.bus.test_receipts import answer, values
from tests.bus.world import World

pytestmark = pytest.mark.broker

BOUND = 120  # s: the bus's own bound on its stop, never reached when the agents end by themselves


async def test_a_stop_ends_both_agents_without_a_crash_or_the_bound(
    kafka_conn: KafkaConnection, published: World, tmp_path: Path
) -> None:
    app_id = f"docbus-test-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(kafka_conn, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC])
    env = {**bus_env(kafka_conn, published, tmp_path, app_id), "DOCBUS_STOP_TIMEOUT": str(BOUND)}
    bus = BusProcess(env, tmp_path / "bus.log")
    bus.start()
    try:  # both agents have decided something and wait for more
        envelope, raw = published.sender("H01").envelope(("G03.U002",))
        arrived = answer(published, "G03.U002", envelope, StatusCode.ARRIVED, to="H01")
        start = await end_offsets(kafka_conn, [inbox_topic("G03.U002"), inbox_topic("H01")])
        await produce(kafka_conn, INGRESS_TOPIC, [(b"H01", raw)])
        await read_until(kafka_conn, start, lambda rs: raw in values(rs, inbox_topic("G03.U002")), bus=bus)
        await produce(kafka_conn, RECEIPTS_TOPIC, [(b"H01", arrived)])
        answered = await read_until(
            kafka_conn, start, lambda rs: arrived in values(rs, inbox_topic("H01")), bus=bus
        )
        assert arrived in values(answered, inbox_topic("H01")), bus.log.read_text()[-3000:]
    finally:
        assert bus.proc is not None
        bus.proc.send_signal(signal.SIGTERM)
        try:
            code = bus.proc.wait(BOUND / 2)
        except subprocess.TimeoutExpired:
            bus.kill()
            raise AssertionError(f"not stopped in half its bound\n{bus.log.read_text()[-5000:]}") from None
    log = bus.log.read_text()
    assert code == 0, log[-3000:]
    assert "did not stop within" not in log, log[-3000:]
    assert "Crashed" not in log and "Restarting" not in log, log[-5000:]

"""Broker helpers of the bus tests: a `docbus bus run` subprocess, producing, and reading topics
from a remembered position until a condition holds or a deadline passes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from consumers.trust import TrustError
from docbus.demo.kafka import end_offsets as end_offsets  # re-exported for the tests
from docbus.demo.kafka import start_group_at_end as start_group_at_end
from docbus.pki_folder import TrustFiles
from schemas.canonical import receipt_signing_input
from schemas.codec import decode
from schemas.connection import KafkaConnection
from schemas.quarantine import QuarantineRecord
from schemas.receipt import Receipt, parse_receipt
from tests.bus.world import World

REPO = Path(__file__).resolve().parents[2]


async def produce(kafka: KafkaConnection, topic: str, records: Iterable[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        **kafka.client_kwargs(), acks="all", enable_idempotence=True, max_request_size=3 * 1024 * 1024
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_until(
    kafka: KafkaConnection,
    start: Mapping[TopicPartition, int],
    done: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    timeout: float = 90.0,  # an upper bound for a loaded machine; outcomes usually come in seconds
    bus: BusProcess | None = None,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Records of ``start``'s partitions from those offsets, until ``done(records)`` or the deadline
    (or ``bus`` has exited: nothing more will come)."""
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (bus is None or bus.alive()):
            batches = await consumer.getmany(timeout_ms=200)
            for batch in batches.values():
                records.extend(batch)
            if done(records):
                break
    finally:
        await consumer.stop()
    return records


async def lag(kafka: KafkaConnection, group: str, topics: list[str]) -> dict[TopicPartition, int]:
    """How many records of ``topics`` each partition holds beyond ``group``'s committed offset."""
    ends = await end_offsets(kafka, topics)
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group, partitions=list(ends))
    finally:
        await admin.close()
    return {tp: end - _offset(committed, tp) for tp, end in ends.items()}


def _offset(committed: Mapping[TopicPartition, Any], tp: TopicPartition) -> int:
    """A group's committed offset of ``tp``; 0 when it has none."""
    return committed[tp].offset if tp in committed else 0


async def caught_up(kafka: KafkaConnection, group: str, topics: list[str], timeout: float = 90.0) -> None:
    """Wait until ``group`` has committed every record ``topics`` held when called. The bus commits
    an input only after its outputs are stored, so then every output of those inputs is written."""
    ends = await end_offsets(kafka, topics)
    deadline = time.monotonic() + timeout
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        while True:
            committed = await admin.list_consumer_group_offsets(group, partitions=list(ends))
            behind = {tp: end for tp, end in ends.items() if _offset(committed, tp) < end}
            if not behind:
                return
            assert time.monotonic() < deadline, f"{group} has not committed up to {behind}"
            await asyncio.sleep(0.2)  # polling the condition, not standing in for it
    finally:
        await admin.close()


def quarantined(records: Iterable[ConsumerRecord[bytes, bytes]], app_id: str) -> list[QuarantineRecord]:
    """Quarantine records written by the processor group ``app_id`` (other buses may share the broker)."""
    return [
        decode(r.value, QuarantineRecord)
        for r in records
        if r.topic == "docbus.quarantine" and header(r, "docbus_processor") == app_id
    ]


def bus_notices(records: Iterable[ConsumerRecord[bytes, bytes]], world: World) -> list[Receipt]:
    """Notices sealed by ``world``'s bus (another bus on the broker seals under another PKI)."""
    policy, out = TrustFiles(world.pki).policy, []
    for r in records:
        if r.topic.startswith("docbus.inbox.") and header(r, "ce_type") == "vn.docbus.notice.v1":
            notice = parse_receipt(r.value)
            try:
                policy.verify_seal(
                    receipt_signing_input(notice), notice.signatures, "G03.BUS", datetime.now(UTC)
                )
            except TrustError:
                continue
            out.append(notice)
    return out


def from_processor(
    records: Iterable[ConsumerRecord[bytes, bytes]], app_id: str
) -> list[ConsumerRecord[bytes, bytes]]:
    return [r for r in records if header(r, "docbus_processor") == app_id]


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode()
    return None


class CliProcess:
    """`python -m docbus.cli <args>` with the given environment, its output appended to ``log``."""

    def __init__(self, args: list[str], env: Mapping[str, str], log: Path) -> None:
        self.args = args
        self.env = {**os.environ, **env}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "docbus.cli", *self.args], cwd=REPO, env=self.env, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL: no shutdown, no commit, no flush."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class BusProcess(CliProcess):
    """`python -m docbus.cli bus run`; ``app_id`` names the processor group in its outputs' headers."""

    def __init__(self, env: Mapping[str, str], log: Path) -> None:
        super().__init__(["bus", "run"], env, log)
        self.app_id = env["DOCBUS_APP_ID"]

"""Driving ``docbus send`` as a separate process that may be killed at a named write point
(producers/faults.py), and counting what the recipient got: shared by tests/node/test_crash_points.py
and the fault suite (tests/faults/test_sender_kills.py)."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aiokafka import ConsumerRecord, TopicPartition

from producers.faults import CRASH_EXIT
from schemas.codec import decode
from schemas.connection import KafkaConnection
from schemas.envelope import Envelope
from schemas.topics import INGRESS_TOPIC, inbox_topic
from tests.bus.kafka import caught_up, end_offsets, read_until

__all__ = ["CliSender", "delivered", "new_number"]

REPO = Path(__file__).resolve().parents[2]
Records = list[ConsumerRecord[bytes, bytes]]
_numbers = itertools.count(random.randrange(10_000, 90_000) * 100)


def new_number() -> str:
    """A số no earlier run on this broker used (documents are told apart by it)."""
    return str(next(_numbers))


@dataclass(frozen=True)
class CliSender:
    env: Mapping[str, str]  # the DOCBUS_* environment of the bus under test
    home: Path  # DOCBUS_HOME: the node state is <home>/nodes/<org>/state
    sender: str
    recipient: str
    bus_log: Path
    group: str  # the consumer group of the bus that decides its sends

    @property
    def state(self) -> Path:
        return self.home / "nodes" / self.sender / "state"

    def start(
        self, folder: Path, number: str, *, crash: str | None = None, channel: str = "", wait: bool = True
    ) -> subprocess.Popen[str]:
        letter = folder / f"{number}.pdf"
        letter.write_bytes(b"%PDF-1.7 " + number.encode())
        args = ["send", "--org", self.sender, "--to", self.recipient, "--number", number, "--notation", "KT",
                "--subject", f"Văn bản {number}", "--file", str(letter),
                *(["--timeout", "60"] if wait else ["--no-wait"])]  # fmt: skip
        if channel:
            args += ["--channel", channel]
        return subprocess.Popen(
            [sys.executable, "-m", "docbus.cli", *args], cwd=REPO, text=True,
            env={**self.env, "DOCBUS_CRASH_AT": crash or ""}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip

    def finish(self, proc: subprocess.Popen[str], expect: int = 0, *, waited: bool = True) -> str:
        out, err = proc.communicate(timeout=180)
        tail = self.bus_log.read_text()[-3000:] if self.bus_log.exists() else ""
        assert proc.returncode == expect, f"exit {proc.returncode}\n{out}\n{err}\n{tail}"
        if expect == 0 and waited:
            assert "accepted by the bus" in out, out + err
        return out + err

    def send(
        self, folder: Path, number: str, *, crash: str | None = None, channel: str = "", wait: bool = True
    ) -> str:
        """One ``docbus send``: accepted (exit 0; published, with ``wait=False``), or killed at
        ``crash`` (exit CRASH_EXIT)."""
        proc = self.start(folder, number, crash=crash, channel=channel, wait=wait)
        return self.finish(proc, CRASH_EXIT if crash else 0, waited=wait)

    def docbus(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "docbus.cli", *args], cwd=REPO, env=dict(self.env), capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip


async def delivered(
    kafka: KafkaConnection, start: Mapping[TopicPartition, int], node: CliSender, numbers: set[str]
) -> Counter[str]:
    """How many inbox copies of each document (by its số) the node's recipient got: read until every
    one is there, then until the node's bus has decided all ingress so far and the inbox to its end
    then, so a second copy from any record already sent is counted."""
    recipient = node.recipient

    def count(records: Records) -> Counter[str]:
        got: Counter[str] = Counter()
        for r in records:
            envelope = ("ce_type", b"vn.docbus.envelope.v1") in (r.headers or ())
            if r.topic == inbox_topic(recipient) and envelope:
                got[decode(r.value, Envelope).document.code_number] += 1
        return got

    await read_until(kafka, start, lambda rs: numbers <= set(count(rs)))
    await caught_up(kafka, node.group, [INGRESS_TOPIC])
    ends = await end_offsets(kafka, [inbox_topic(recipient)])
    records = await read_until(kafka, start, lambda rs: reached(rs, start, ends))
    return Counter({n: c for n, c in count(records).items() if n in numbers})


def reached(
    records: Records, start: Mapping[TopicPartition, int], ends: Mapping[TopicPartition, int]
) -> bool:
    """Whether ``records``, read from ``start``, hold every partition's last record before ``ends``."""
    last = {tp: offset - 1 for tp, offset in start.items()}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        last[tp] = max(last.get(tp, -1), r.offset)
    return all(last.get(tp, -1) >= end - 1 for tp, end in ends.items())

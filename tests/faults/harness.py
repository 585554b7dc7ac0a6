"""The fault suite's moving parts: a known mix of envelopes, a steady producer that re-sends on
failure, the processors as subprocesses (bus + audit writer), and reading every output back into
the checker's inputs."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from consumers.audit.core.trusted import verify_trusted
from consumers.audit.kafka.logview import audit_certificate, load_log
from consumers.bus.decide.routing import route
from docbus.pki_folder import trust_policy_from_pki
from producers.publisher import Publisher, PublishError
from schemas.codec import decode
from schemas.connection import KafkaConnection
from schemas.directory_store import DirectorySnapshot
from schemas.quarantine import QuarantineRecord
from schemas.topics import inbox_topic
from tests.audit_bus.conftest import AuditTestSettings
from tests.bus.world import DEPARTMENTS, UNIVERSITIES, Sender, World, forge
from tests.checker import AuditSeen, Copy, DeliveryReport, Quarantined, Submitted, check_delivery, digest

__all__ = ["Mix", "Outputs", "SteadyProducer", "build_mix"]

logger = logging.getLogger(__name__)
SENDERS = ("G03", "H01", "H02", "H04")  # H03 is revoked in the world, H05 kept clean
GROUPS = ("all-departments",)


@dataclass
class Mix:
    """What will be submitted, in order: (ingress key, bytes), and what each must become."""

    records: list[tuple[str, bytes]]
    expected: dict[bytes, Submitted]


def build_mix(world: World, count: int, seed: int) -> Mix:
    """``count`` envelopes, ~10 % invalid (forged signature, unknown recipient, random bytes)."""
    rng = random.Random(seed)
    snapshot = DirectorySnapshot.build(world.entries)
    chains: dict[str, Sender] = {code: world.sender(code) for code in SENDERS}
    targets = [*DEPARTMENTS, *UNIVERSITIES]
    mix = Mix([], {})
    for i in range(count):
        code = SENDERS[i % len(SENDERS)]
        chain = chains[code]
        kind = rng.random()
        if kind < 0.04:
            env, _ = chain.envelope((rng.choice([t for t in targets if t != code]),), advance=False)
            raw, sub = forge(env), Submitted(env.message_id, b"", reason="SIGNATURE_INVALID")
        elif kind < 0.07:
            # a refusal of an authenticated sender takes its place in the sender's chain (the node
            # used the number; docs/ENVELOPE.md §8): the next envelope follows it
            env, raw = chain.envelope(("H99",))
            sub = Submitted(env.message_id, b"", reason="UNKNOWN_RECIPIENT")
        elif kind < 0.10:
            raw = os.urandom(rng.randrange(50, 400))
            sub = Submitted(f"noise-{i}", b"", reason="MALFORMED")
        else:
            if rng.random() < 0.2:
                recipients: tuple[str, ...] = ()
                groups: tuple[str, ...] = GROUPS
            else:
                recipients = tuple(rng.sample([t for t in targets if t != code], rng.randint(1, 3)))
                groups = ()
            env, raw = chain.envelope(recipients, groups)
            plan = route(snapshot, code, recipients, groups)
            sub = Submitted(env.message_id, b"", frozenset(plan.recipients))
        h = digest(raw)
        mix.records.append((code, raw))
        mix.expected[h] = Submitted(sub.key, h, sub.recipients, sub.reason)
    return mix


@dataclass
class SteadyProducer:
    """Sends the mix in order at ``rate`` per second through the node's Publisher; a send that is
    not acknowledged is sent again (same bytes) on a fresh publisher until ``deadline`` seconds."""

    kafka: KafkaConnection
    mix: Mix
    rate: float = 12.0
    deadline: float = 150.0
    sent: int = 0
    resent: dict[bytes, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    async def wait_sent(self, n: int, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while self.sent < n:
            if time.monotonic() > end:
                raise TimeoutError(f"producer stuck at {self.sent}/{n}: {self.errors[-3:]}")
            await asyncio.sleep(0.05)

    async def run(self) -> None:
        end = time.monotonic() + self.deadline
        pub = await self._publisher(end)
        try:
            for key, raw in self.mix.records:
                while True:
                    try:
                        await pub.publish_raw(key, raw)
                        break
                    except PublishError as exc:
                        self.errors.append(str(exc))
                        if time.monotonic() > end:
                            raise
                        self.resent[digest(raw)] = self.resent.get(digest(raw), 0) + 1
                        await _quietly_stop(pub)
                        pub = await self._publisher(end)
                self.sent += 1
                await asyncio.sleep(1 / self.rate)
        finally:
            await _quietly_stop(pub)

    async def _publisher(self, end: float) -> Publisher:
        while True:
            pub = Publisher(self.kafka, client_id="docbus-fault-producer", request_timeout_ms=10_000)
            try:
                await pub.start()
                return pub
            except PublishError as exc:
                self.errors.append(str(exc))
                if time.monotonic() > end:
                    raise
                await asyncio.sleep(0.5)

    def submitted(self) -> list[Submitted]:
        return [
            Submitted(s.key, s.raw_hash, s.recipients, s.reason, self.resent.get(h, 0))
            for h, s in self.mix.expected.items()
        ]


async def _quietly_stop(pub: Publisher) -> None:
    try:
        await asyncio.wait_for(pub.stop(), 15)
    except Exception:
        logger.info("fault producer stopped uncleanly")


@dataclass
class Outputs:
    """Everything the bus wrote since ``start``: inbox copies and quarantine, plus the audit log."""

    kafka: KafkaConnection
    audit: AuditTestSettings
    orgs: list[str]
    copies: list[Copy] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)

    def topics(self) -> list[str]:
        return [inbox_topic(o) for o in self.orgs] + ["docbus.quarantine"]

    async def settle(
        self, start: dict[TopicPartition, int], submitted: list[Submitted], pki: Path, timeout: float
    ) -> DeliveryReport:
        """Read until the report is clean (then 2 s more for late duplicates) or ``timeout``."""
        consumer = AIOKafkaConsumer(**self.kafka.client_kwargs(), group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign(list(start))
            for tp, offset in start.items():
                consumer.seek(tp, offset)
            end = time.monotonic() + timeout
            report = await self.report(submitted, pki)
            clean_at: float | None = None
            while time.monotonic() < end:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    for r in batch:
                        self._take(r.topic, r.key, r.value)
                if clean_at is None or time.monotonic() >= clean_at:
                    report = await self.report(submitted, pki)
                    if report.ok and clean_at is not None:
                        break
                    clean_at = time.monotonic() + 2.0 if report.ok else None
                    if not report.ok:
                        await asyncio.sleep(0.5)
            return report
        finally:
            await consumer.stop()

    def _take(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        value = value or b""
        if topic == "docbus.quarantine":
            q = decode(value, QuarantineRecord)
            self.quarantined.append(Quarantined(digest(bytes(q.raw)), str(q.reason)))
        else:
            org = topic.removeprefix("docbus.inbox.")
            self.copies.append(Copy(org, (key or b"").decode(), digest(value)))

    async def report(self, submitted: list[Submitted], pki: Path) -> DeliveryReport:
        policy = trust_policy_from_pki(pki)
        view = await load_log(self.audit, self.kafka, policy, now=datetime.now(UTC))
        verdict = verify_trusted(
            view.topic, view.checkpoints, policy, org=self.audit.audit_org, now=datetime.now(UTC),
            certificates=audit_certificate(self.audit),
        )  # fmt: skip
        seen = [
            AuditSeen(r.event.value, r.message_id, r.stored_hash, r.recipient, r.status, r.reason)
            for r in view.records
            if r is not None
        ]
        detail = "" if verdict.fault is None else f"{verdict.fault.kind}: {verdict.fault.message}"
        return check_delivery(
            submitted, self.copies, self.quarantined, seen, audit_verified=verdict.ok, audit_detail=detail
        )

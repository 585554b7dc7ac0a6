"""The single audit writer on Kafka: docbus.audit.events -> docbus.audit (+ docbus.checkpoints).

One loop, one partition of output (ADR 0001): rebuild the writer from docbus.audit, then consume
drafts in batches; append each new one, produce the stored bytes (acks=all, idempotent), wait for
every acknowledgement, publish a checkpoint when one is due or was asked for, and only then commit
the events offsets. A crash anywhere before the commit re-delivers the batch; the rebuilt duplicate
set drops what was already chained, so each event is chained exactly once.

Run it with ``docbus audit writer`` or inside the bus worker (consumers/bus/agents/audit.py). Exactly
one writer may run: a second one would fork the chain (``docbus audit verify`` reports it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from aiokafka import TopicPartition

from consumers.audit.config import AuditConfig
from consumers.audit.core.checkpoint import CheckpointSigner
from consumers.audit.core.errors import AuditError
from consumers.audit.core.events import CHECKPOINT_REQUEST, CONTROL_HEADER
from consumers.audit.core.seal import SEAL_HEADER
from consumers.audit.core.sieve import Stored
from consumers.audit.core.writer import AuditWriter, CheckpointPolicy
from consumers.audit.kafka.kafka_io import Message, open_producer, read_topic, read_values, to_message
from consumers.outage import keep_running, stop_quietly
from producers.failover import long_running_consumer
from producers.keys import FileKeyProvider
from schemas.connection import KafkaConnection
from schemas.topics import AUDIT_EVENTS_TOPIC, AUDIT_TOPIC, CHECKPOINT_TOPIC

__all__ = ["AuditTopics", "AuditWriterService", "load_signer"]

logger = logging.getLogger(__name__)


def load_signer(pki: Path, passphrase: bytes) -> CheckpointSigner:
    """The audit key issued by ``docbus pki issue-audit``: <pki>/audit/audit.key.pem and .pem."""
    provider = FileKeyProvider.from_pem(pki / "audit/audit.key.pem", pki / "audit/audit.pem", passphrase)
    return CheckpointSigner.from_certificate(provider.sign, provider.algorithm, provider.chain)


@dataclass(frozen=True, slots=True)
class AuditTopics:
    events: str = AUDIT_EVENTS_TOPIC
    audit: str = AUDIT_TOPIC
    checkpoints: str = CHECKPOINT_TOPIC


@dataclass
class AuditWriterService:
    kafka: KafkaConnection
    signer: CheckpointSigner
    policy: CheckpointPolicy = field(default_factory=CheckpointPolicy)
    topics: AuditTopics = field(default_factory=AuditTopics)
    group: str = "docbus-audit-writer"
    batch: int = 500
    writer: AuditWriter | None = None  # the live state, for tests and status

    @classmethod
    def from_settings(cls, settings: AuditConfig, kafka: KafkaConnection) -> AuditWriterService:
        return cls(
            kafka,
            load_signer(settings.pki, settings.passphrase),
            settings.checkpoint_policy(),
            AuditTopics(settings.audit_events_topic, settings.audit_topic, settings.checkpoint_topic),
            settings.audit_group,
            settings.audit_batch,
        )

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set (or cancelled); after a Kafka error rebuild and go on."""
        stop = stop or asyncio.Event()
        # after any transport error the in-memory chain may be ahead of the topic: each round
        # rebuilds from docbus.audit; an outage of any length is waited out (consumers/outage.py)
        await keep_running(f"audit writer ({self.topics.audit})", partial(self._run_once, stop), stop, logger)

    async def _rebuild(self) -> AuditWriter:
        stored = [
            Stored(m.value, m.header(SEAL_HEADER)) async for m in read_topic(self.kafka, self.topics.audit)
        ]
        checkpoints = await read_values(self.kafka, self.topics.checkpoints)
        return AuditWriter.rebuild(stored, checkpoints, self.signer, self.policy)

    async def _run_once(self, stop: asyncio.Event, reached: Callable[[], None]) -> None:
        writer = self.writer = await self._rebuild()
        consumer = long_running_consumer(
            self.kafka,
            self.topics.events,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        async with open_producer(self.kafka) as producer:
            try:
                await consumer.start()
            except BaseException:
                await stop_quietly(consumer.stop, "audit writer consumer")
                raise
            reached()  # the log rebuilt, producer and consumer started: the broker is back
            if writer.checkpoint_due(datetime.now(UTC)):
                # a writer ended after storing the records a checkpoint was due at, before that
                # checkpoint was published: sign it now, before new records move the tree on
                await producer.send_and_wait(self.topics.checkpoints, writer.checkpoint(datetime.now(UTC)))
                logger.info("audit checkpoint at tree size %d (due before the restart)", writer.signed_size)
            try:
                while not stop.is_set():
                    got = await consumer.getmany(timeout_ms=500, max_records=self.batch)
                    messages = [to_message(r) for recs in got.values() for r in recs]
                    futures, signed, asked = [], [], False
                    for msg in messages:
                        if msg.header(CONTROL_HEADER) == CHECKPOINT_REQUEST:
                            asked = True
                            continue
                        sealed = self._accept(writer, msg)
                        if sealed is not None:
                            stored, seal = sealed
                            headers = [(SEAL_HEADER, seal)]
                            futures.append(await producer.send(self.topics.audit, stored, headers=headers))
                            if writer.checkpoint_due(datetime.now(UTC)):  # exactly every N records
                                signed.append(writer.checkpoint(datetime.now(UTC)))
                    await asyncio.gather(*futures)  # every record stored before anything is committed
                    now = datetime.now(UTC)
                    if asked or writer.checkpoint_due(now):  # asked: sign even if nothing is new
                        signed.append(writer.checkpoint(now))
                    for cp in signed:  # published only after the records they cover
                        await producer.send_and_wait(self.topics.checkpoints, cp)
                    if signed:
                        logger.info("audit checkpoint at tree size %d", writer.signed_size)
                    if messages:
                        await consumer.commit(_next_offsets(messages))
            finally:
                await stop_quietly(consumer.stop, "audit writer consumer")

    @staticmethod
    def _accept(writer: AuditWriter, msg: Message) -> tuple[bytes, bytes] | None:
        try:
            appended = writer.accept(msg.value)
        except AuditError as exc:  # cannot be chained; leave it on the events topic, say where
            logger.error("skipping audit draft at %s/%d@%d: %s", msg.topic, msg.partition, msg.offset, exc)
            return None
        return None if appended is None else (appended.stored, writer.seal_of(appended))


def _next_offsets(messages: list[Message]) -> dict[TopicPartition, int]:
    offsets: dict[TopicPartition, int] = {}
    for m in messages:
        tp = TopicPartition(m.topic, m.partition)
        offsets[tp] = max(offsets.get(tp, 0), m.offset + 1)
    return offsets

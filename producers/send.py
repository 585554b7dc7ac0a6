"""Send a document: number it, sign it, publish it, and optionally wait for the bus's notice.

The notice (a ``Receipt`` sealed by the bus org, ``G03.BUS``) arrives in the sender's own inbox
``docbus.inbox.<sender>``: status 01 = accepted and routed, 02 = rejected with the reason code in
``reason``. The watcher reads that inbox without a consumer group (it never moves the inbox
client's offsets) and starts at the end *before* the envelope is published, so it cannot miss it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata

from producers.blob_upload import DEFAULT_CHUNK_BYTES, BlobUploader
from producers.builder import (
    DocumentDraft,
    EnvelopeSource,
    content_type_of,
    payload_from_file,
    prepare_envelope,
    sign_envelope,
)
from producers.directory_view import DirectoryView
from producers.identity import NodeIdentity
from producers.node_state import NodeState
from producers.ports import SealVerifier
from producers.publisher import Publisher
from producers.reader import ReadError, topic_partitions
from schemas.canonical import receipt_signing_input, signing_hash
from schemas.codec import decode
from schemas.connection import KafkaConnection
from schemas.envelope import Envelope
from schemas.errors import ContractError, TrustError
from schemas.payload import Payload
from schemas.reasons import Reason
from schemas.receipt import StatusCode, parse_receipt
from schemas.topics import BLOBS_TOPIC, DIRECTORY_TOPIC, INGRESS_TOPIC, inbox_topic

__all__ = ["BUS_ORG", "NoticeWatcher", "Outcome", "SendResult", "Sender", "send_document"]

logger = logging.getLogger(__name__)

BUS_ORG = "G03.BUS"
INLINE_MAX_BYTES = 256 * 1024  # larger files travel as chunks on docbus.blobs (ENVELOPE.md §7)
_NOTICES = (StatusCode.ARRIVED, StatusCode.REJECTED)


@dataclass(frozen=True, slots=True)
class Outcome:
    """The bus's notice about one envelope."""

    status: StatusCode  # 01 accepted, 02 rejected
    reason: str  # the Reason code (and detail) of a rejection; a 01's routing note (a redirect)
    at: datetime
    notice_id: str

    @property
    def accepted(self) -> bool:
        return self.status is StatusCode.ARRIVED


@dataclass(frozen=True, slots=True)
class SendResult:
    message_id: str
    document_id: str
    sequence: int
    signing_hash: bytes
    topic: str
    partition: int
    offset: int
    outcome: Outcome | None = None  # None when not waited for (or not arrived in time)


class NoticeWatcher:
    """Collects the bus's notices from the sender's inbox, from the end at start-up onwards."""

    def __init__(
        self, kafka: KafkaConnection, topic: str, policy: SealVerifier | None, bus_org: str = BUS_ORG
    ) -> None:
        self.topic, self.policy, self.bus_org = topic, policy, bus_org
        self.kafka = kafka
        self._seen: dict[str, Outcome] = {}
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(**self.kafka.client_kwargs(), enable_auto_commit=False)
        self._consumer = consumer
        await consumer.start()
        parts = await topic_partitions(consumer, self.topic)  # ReadError: stop() still closes it
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        for tp in parts:  # resolve the lazy seek now, before anything is published
            await consumer.position(tp)
        self._task = asyncio.create_task(self._run(consumer))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        async for record in consumer:
            outcome = self._notice(record.value)
            if outcome is not None:
                async with self._changed:
                    self._seen[outcome[0]] = outcome[1]
                    self._changed.notify_all()

    def _notice(self, raw: bytes | None) -> tuple[str, Outcome] | None:
        if raw is None:
            return None
        try:
            receipt = parse_receipt(raw)
        except ContractError:
            return None  # an envelope or a recipient's receipt: the inbox client's business
        if receipt.from_org != self.bus_org or receipt.status not in (
            StatusCode.ARRIVED,
            StatusCode.REJECTED,
        ):
            return None
        if self.policy is not None:
            try:
                self.policy.verify_seal(
                    receipt_signing_input(receipt), receipt.signatures, self.bus_org, datetime.now(UTC)
                )
            except TrustError as exc:
                logger.warning("notice %s ignored: %s", receipt.message_id, exc)
                return None
        return receipt.envelope_id, Outcome(receipt.status, receipt.reason, receipt.at, receipt.message_id)

    async def wait_for(self, message_id: str, timeout: float) -> Outcome | None:
        """The notice for ``message_id``, or None if none came within ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: message_id in self._seen)
                return self._seen[message_id]
        except TimeoutError:
            return None


class Sender:
    """A node's sending side: ``async with Sender(identity, kafka, state_dir) as s: ...``."""

    def __init__(
        self,
        identity: NodeIdentity,
        kafka: KafkaConnection,
        state_dir: Path,
        *,
        policy: SealVerifier | None = None,
        ingress: str = INGRESS_TOPIC,
        directory_topic: str = DIRECTORY_TOPIC,
        inbox: str | None = None,
        watch: bool = True,
        blobs_topic: str = BLOBS_TOPIC,
        inline_max: int = INLINE_MAX_BYTES,
        chunk_size: int = DEFAULT_CHUNK_BYTES,
    ) -> None:
        self.identity = identity
        self.state = NodeState(state_dir, identity.org_code)
        self.publisher = Publisher(kafka, ingress=ingress, client_id=f"docbus-node-{identity.org_code}")
        self.inline_max = inline_max
        journal = state_dir / "blobs"
        self.uploader = BlobUploader(self.publisher, journal, topic=blobs_topic, chunk_size=chunk_size)
        self.directory = DirectoryView(kafka, topic=directory_topic, policy=policy)
        inbox_name = inbox or inbox_topic(identity.org_code)
        self.watcher = NoticeWatcher(kafka, inbox_name, policy) if watch else None

    async def __aenter__(self) -> Self:
        await self.publisher.start()
        try:
            if self.watcher is not None:
                await self.watcher.start()
        except (KafkaError, ReadError):
            if self.watcher is not None:
                await self.watcher.stop()
            await self.publisher.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.watcher is not None:
            await self.watcher.stop()
        await self.publisher.stop()

    async def attach(self, path: Path, content_type: str | None = None) -> Payload:
        """The file as a payload: inline up to ``inline_max`` bytes, else its chunks are produced to
        docbus.blobs first (only those not stored yet) and the payload references them."""
        path = Path(path)
        kind = content_type_of(path, content_type)
        if path.stat().st_size <= self.inline_max:
            return payload_from_file(path, kind)
        return await self.uploader.upload(path, kind)

    async def flush_pending(self) -> int:
        """Publish envelopes numbered earlier but never acknowledged (call with the lock held)."""
        pending = self.state.pending()
        for sequence, raw in pending:
            env = decode(raw, Envelope)
            await self.publisher.publish_envelope(env, raw)
            self.state.sent(sequence, env.message_id)
            logger.info("re-published pending envelope %d (%s)", sequence, env.message_id)
        return len(pending)

    async def send(
        self,
        draft: DocumentDraft | EnvelopeSource,
        *,
        wait: float | None = None,
        directory_snapshot: bytes | None = None,
        message_id: str | None = None,
    ) -> SendResult:
        """Build, sign and publish ``draft`` (or a source with its own header, such as an imported
        edXML package); with ``wait`` seconds, also wait for the bus's notice. ``message_id``: the
        envelope's id when the caller chose it beforehand (the gateway's idempotent submits).

        Raises ContractError (a draft the bus would refuse), SigningError, PublishError, and
        LookupError when no directory snapshot is known."""
        snapshot = directory_snapshot or await self.directory.current_hash()
        async with self.state.reserve() as slot:
            await self.flush_pending()
            unsigned = prepare_envelope(
                self.identity, draft, sequence=slot.sequence, previous_hash=slot.previous_hash,
                directory_snapshot=snapshot, message_id=message_id,
            )  # fmt: skip
            env, raw = sign_envelope(self.identity, unsigned)
            digest = signing_hash(env)
            slot.commit(digest, raw)
            meta = await self.publisher.publish_envelope(env, raw)
            self.state.sent(slot.sequence, env.message_id)
        return await self._result(env, digest, meta, wait)

    async def send_signed(self, env: Envelope, raw: bytes, *, wait: float | None = None) -> SendResult:
        """Publish an envelope signed elsewhere (an official's token on the clerk's machine). It must
        carry this node's next sequence and previous hash (ContractError SEQUENCE_GAP otherwise: sign
        again at the new position); the caller has checked its signatures."""
        async with self.state.reserve() as slot:
            await self.flush_pending()
            if env.sequence != slot.sequence or env.previous_hash != slot.previous_hash:
                detail = f"signed at sequence {env.sequence}; the node's next is {slot.sequence}"
                raise ContractError(Reason.SEQUENCE_GAP, detail)
            digest = signing_hash(env)
            slot.commit(digest, raw)
            meta = await self.publisher.publish_envelope(env, raw)
            self.state.sent(slot.sequence, env.message_id)
        return await self._result(env, digest, meta, wait)

    async def _result(
        self, env: Envelope, digest: bytes, meta: RecordMetadata, wait: float | None
    ) -> SendResult:
        outcome = None
        if wait is not None and self.watcher is not None:
            outcome = await self.watcher.wait_for(env.message_id, wait)
        return SendResult(
            env.message_id, env.document.document_id, env.sequence, digest,
            meta.topic, meta.partition, meta.offset, outcome,
        )  # fmt: skip


async def send_document(
    identity: NodeIdentity,
    draft: DocumentDraft | EnvelopeSource,
    *,
    kafka: KafkaConnection,
    state_dir: Path,
    wait: float | None = None,
    policy: SealVerifier | None = None,
    directory_snapshot: bytes | None = None,
) -> SendResult:
    """One document, one connection: what ``docbus send`` does."""
    async with Sender(identity, kafka, state_dir, policy=policy, watch=wait is not None) as sender:
        return await sender.send(draft, wait=wait, directory_snapshot=directory_snapshot)

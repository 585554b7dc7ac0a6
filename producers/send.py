"""Send a document: number it, sign it, publish it, and optionally wait for the bus's notice.

The notice (a ``Receipt`` sealed by the bus org, ``G03.BUS``) arrives in the sender's own inbox
``docbus.inbox.<sender>``: status 01 = accepted and routed, 02 = rejected with the reason code in
``reason``. The watcher reads that inbox without a consumer group (it never moves the inbox
client's offsets) and starts at the end *before* the envelope is published, so it cannot miss it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata

from producers.blob_keys import seal_envelope
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
from producers.faults import crash_point
from producers.identity import NodeIdentity
from producers.node_state import ChainPosition, NodeState
from producers.notices import BUS_ORG, NoticeCursor, bus_notice, current_copy, uncounted
from producers.ports import SealVerifier
from producers.publisher import Publisher
from producers.reader import ReadError, topic_partitions
from schemas.canonical import signing_hash
from schemas.codec import decode
from schemas.connection import KafkaConnection
from schemas.continuity import DEFAULT_CHANNEL, Chain
from schemas.envelope import Envelope
from schemas.errors import ContractError, DocbusError
from schemas.payload import Payload
from schemas.reasons import Reason
from schemas.receipt import Receipt, StatusCode
from schemas.topics import BLOBS_TOPIC, DIRECTORY_TOPIC, INGRESS_TOPIC, inbox_topic

__all__ = [
    "BUS_ORG", "NoticeWatcher", "Outcome", "ResignRequired", "SendResult", "Sender", "bus_notice",
    "send_document",
]

logger = logging.getLogger(__name__)

INLINE_MAX_BYTES = 256 * 1024  # larger files travel as chunks on docbus.blobs (ENVELOPE.md §7)
RESYNC_TRIES = 3


@dataclass(frozen=True, slots=True)
class Outcome:
    """The bus's notice about one envelope."""

    status: StatusCode  # 01 accepted, 02 rejected
    reason: str  # the Reason code (and detail) of a rejection; a 01's routing note (a redirect)
    at: datetime
    notice_id: str
    chain: Chain | None = None  # the channel's position as the bus holds it after this envelope
    notice: Receipt | None = None  # the sealed notice itself

    @property
    def reason_code(self) -> str:
        return self.reason.split(":", 1)[0].strip()

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
    # documents of earlier sends the bus had not counted, signed again before this one (Sender.recover)
    signed_again: tuple[str, ...] = ()


class NoticeWatcher:
    """Collects the bus's notices from the sender's inbox, from the end at start-up onwards."""

    def __init__(
        self, kafka: KafkaConnection, topic: str, policy: SealVerifier | None, bus_org: str = BUS_ORG
    ) -> None:
        self.topic, self.policy, self.bus_org = topic, policy, bus_org
        self.kafka = kafka
        # by (envelope id, its signing hash): a document signed again after a resync keeps its id
        self._seen: dict[tuple[str, bytes], Outcome] = {}
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(**self.kafka.client_kwargs(), enable_auto_commit=False)
        self._consumer = consumer
        await consumer.start()
        parts = await topic_partitions(self.kafka, self.topic)  # ReadError: stop() still closes it
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

    def _notice(self, raw: bytes | None) -> tuple[tuple[str, bytes], Outcome] | None:
        receipt = bus_notice(raw, self.policy, self.bus_org)
        if receipt is None:
            return None
        outcome = Outcome(
            receipt.status, receipt.reason, receipt.at, receipt.message_id, receipt.chain, receipt
        )
        return (receipt.envelope_id, bytes(receipt.signing_hash)), outcome

    async def wait_for(self, message_id: str, timeout: float, digest: bytes | None = None) -> Outcome | None:
        """The notice for ``message_id`` (and, given, the envelope of that signing hash), or None if
        none came within ``timeout`` seconds."""

        def found() -> Outcome | None:
            for (mid, hashed), outcome in reversed(self._seen.items()):
                if mid == message_id and digest in (None, hashed):
                    return outcome
            return None

        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: found() is not None)
                return found()
        except TimeoutError:
            return None


class ResignRequired(ContractError):
    """An envelope signed elsewhere (an official's token) does not continue the channel as the
    node and the bus hold it: sign it again at ``sequence`` chained to ``previous_hash``
    (SEQUENCE_GAP; docs/adr/0003-continuity.md, "Envelopes signed elsewhere")."""

    def __init__(self, detail: str, *, sequence: int, previous_hash: bytes) -> None:
        super().__init__(Reason.SEQUENCE_GAP, f"{detail}; sign it again at sequence {sequence}")
        self.sequence, self.previous_hash = sequence, previous_hash

    def __reduce__(self) -> tuple[type[DocbusError], tuple[object, ...]]:
        return (ContractError, (self.reason, self.detail))


@dataclass(frozen=True, slots=True)
class _Again:
    """A document the bus did not count, as an :class:`EnvelopeSource`: the same header, payload
    and message id, numbered and signed anew (``created_at`` now)."""

    refused: Envelope

    def envelope(
        self, *, message_id: str, sequence: int, previous_hash: bytes, directory_snapshot: bytes
    ) -> Envelope:
        return self.refused.model_copy(update={
            "message_id": message_id, "sequence": sequence, "previous_hash": previous_hash,
            "directory_snapshot": directory_snapshot, "created_at": datetime.now(UTC), "signatures": [],
        })  # fmt: skip


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


class Sender:
    """A node's sending side: ``async with Sender(identity, kafka, state_dir, policy=...) as s: ...``.
    ``policy`` verifies what the node relies on: the directory's seal (the recipients and their
    encryption certificates its large payloads' keys are wrapped to) and the bus's notices."""

    def __init__(
        self,
        identity: NodeIdentity,
        kafka: KafkaConnection,
        state_dir: Path,
        *,
        policy: SealVerifier,
        ingress: str = INGRESS_TOPIC,
        directory_topic: str = DIRECTORY_TOPIC,
        inbox: str | None = None,
        watch: bool = True,
        blobs_topic: str = BLOBS_TOPIC,
        inline_max: int = INLINE_MAX_BYTES,
        chunk_size: int = DEFAULT_CHUNK_BYTES,
        channel: str = DEFAULT_CHANNEL,
    ) -> None:
        self.identity = identity
        self.channel = channel
        self.state = NodeState(state_dir, identity.org_code, channel)  # ValueError: not a channel name
        self.publisher = Publisher(kafka, ingress=ingress, client_id=f"docbus-node-{identity.org_code}")
        self.inline_max = inline_max
        journal = state_dir / "blobs"
        self.uploader = BlobUploader(self.publisher, journal, topic=blobs_topic, chunk_size=chunk_size)
        self.directory = DirectoryView(kafka, topic=directory_topic, policy=policy)
        inbox_name = inbox or inbox_topic(identity.org_code)
        self.watcher = NoticeWatcher(kafka, inbox_name, policy) if watch else None
        self.cursor = NoticeCursor(kafka, inbox_name, self.state, policy)

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
            crash_point("flush.published")
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

        Raises ContractError (a draft the bus would refuse; KEY_MISSING: a recipient of an encrypted
        payload lists no encryption certificate), SigningError, PublishError, and LookupError when
        no directory snapshot is known."""
        snapshot = directory_snapshot or await self.directory.current_hash()
        name = await self._directory_name(snapshot)
        again = tuple(await self.recover(snapshot))
        env, digest, meta = await self._publish_new(draft, snapshot, message_id, name)
        result = await self._result(env, digest, meta, wait)
        for _ in range(RESYNC_TRIES):
            # a 02 stating another position than this envelope's: the bus did not count it (the
            # node's state is behind or forked from the bus's), so take the bus's sealed position
            # and sign the same document, same message id, at the next number
            chain = self._uncounted(digest, result.outcome)
            if chain is None:
                break
            async with self.state.reserve() as slot:
                self.state.adopt(chain, ChainPosition(slot.sequence - 1, slot.previous_hash))
            logger.warning(
                "envelope %s numbered %d was not counted by the bus (%s); resynced to the bus's "
                "sequence %d and signed again", env.message_id, env.sequence, result.outcome and
                result.outcome.reason_code, chain.sequence,
            )  # fmt: skip
            env, digest, meta = await self._publish_new(draft, snapshot, env.message_id, name)
            result = await self._result(env, digest, meta, wait)
        return dataclasses.replace(result, signed_again=again) if again else result

    async def recover(self, snapshot: bytes | None = None) -> list[str]:
        """Act on the bus's notices that came since the channel's last send (a send that did not
        wait for its notice: ``--no-wait``, an asynchronous gateway submit). A 02 saying the bus did
        not count an envelope this node still holds as sent takes over the bus's sealed position —
        when that envelope was numbered after the last adoption (the node's current line) — and the
        document is signed again at the next number (when this node's official signed it; an
        envelope signed elsewhere is left to its signer, docs/adr/0003-continuity.md). Returns the
        message ids signed again. An inbox that cannot be read is logged and skipped."""
        refused: list[Envelope] = []
        try:
            async with self.state.reserve() as slot:
                newest: Chain | None = None
                async for notice in self.cursor.notices():
                    chain = notice.chain
                    if chain is None or chain.channel != self.channel:
                        continue
                    if newest is None or chain.sequence > newest.sequence:
                        newest = chain
                    copy = current_copy(self.state, notice) if uncounted(notice, self.channel) else None
                    if copy is not None:
                        refused.append(copy)
                since = self.state.adopted_at()
                on_line = [e for e in refused if since is None or e.created_at >= since]
                if on_line and newest is not None:
                    local = ChainPosition(slot.sequence - 1, slot.previous_hash)
                    if self.state.adopt(newest, local):
                        logger.warning(
                            "the bus did not count envelope %s (sequence %d) of channel %r; resynced to "
                            "the bus's sequence %d", on_line[0].message_id, on_line[0].sequence,
                            self.channel, newest.sequence,
                        )  # fmt: skip
        except ReadError as exc:
            logger.warning("the bus's notices in %s cannot be read (%s): no resync before this send",
                           self.cursor.topic, exc)  # fmt: skip
            return []
        again = await self._sign_again(sorted(refused, key=lambda e: e.sequence), snapshot)
        self.cursor.save()
        return again

    def can_sign_again(self, env: Envelope) -> bool:
        """Whether this node may sign ``env``'s document again itself: it signed it (not an official's
        token elsewhere) and holds the official named as its signer."""
        if self.state.signed_elsewhere(env.message_id) or self.identity.official is None:
            return False
        return _same_name(self.identity.official_name, env.document.signer.full_name)

    async def _sign_again(self, refused: list[Envelope], snapshot: bytes | None) -> list[str]:
        done: list[str] = []
        for env in refused:
            if not self.can_sign_again(env):
                logger.warning(
                    "document %s (%s) was not counted by the bus and was signed by %s elsewhere: it "
                    "must be signed again at the node's next position (GET .../envelopes/next)",
                    env.message_id, env.document.document_id, env.document.signer.full_name,
                )  # fmt: skip
                continue
            at = snapshot or await self.directory.current_hash()
            name = await self._directory_name(at) or env.sender.name
            again, _, _ = await self._publish_new(_Again(env), at, env.message_id, name)
            logger.warning("document %s signed again at sequence %d", env.message_id, again.sequence)
            done.append(env.message_id)
        return done

    async def _directory_name(self, snapshot: bytes) -> str | None:
        """The org's name in the snapshot the envelope names (the bus binds ``sender.name`` to it);
        None when the snapshot or the code is not found (the bus then refuses the envelope anyway)."""
        found = await self.directory.snapshot(snapshot)
        entry = found.entry(self.identity.org_code) if found is not None else None
        return entry.name if entry is not None else None

    async def _publish_new(
        self, draft: DocumentDraft | EnvelopeSource, snapshot: bytes, message_id: str | None, name: str | None
    ) -> tuple[Envelope, bytes, RecordMetadata]:
        async with self.state.reserve() as slot:
            await self.flush_pending()
            unsigned = prepare_envelope(
                self.identity, draft, sequence=slot.sequence, previous_hash=slot.previous_hash,
                directory_snapshot=snapshot, message_id=message_id, sender_name=name,
            )  # fmt: skip
            if self.channel:
                unsigned = unsigned.model_copy(update={"channel": self.channel})
            if unsigned.sealed:  # encrypted chunks: wrap their keys to the recipients (ENVELOPE.md §7.4)
                found = await self.directory.snapshot(snapshot)
                if found is None:
                    raise LookupError(f"directory snapshot {snapshot.hex()[:16]} is not on its topic")
                unsigned = seal_envelope(unsigned, found, self.uploader.content_keys)
            env, raw = sign_envelope(self.identity, unsigned)
            crash_point("send.signed")
            digest = signing_hash(env)
            slot.commit(digest, raw)
            meta = await self.publisher.publish_envelope(env, raw)
            crash_point("send.published")
            self.state.sent(slot.sequence, env.message_id)
            crash_point("send.moved")
        return env, digest, meta

    def _uncounted(self, digest: bytes, outcome: Outcome | None) -> Chain | None:
        """The bus's position when its notice says it did not count the envelope of ``digest``."""
        notice = None if outcome is None else outcome.notice
        if notice is None or bytes(notice.signing_hash) != digest or not uncounted(notice, self.channel):
            return None
        return notice.chain

    async def send_signed(self, env: Envelope, raw: bytes, *, wait: float | None = None) -> SendResult:
        """Publish an envelope signed elsewhere (an official's token on the clerk's machine). It must
        carry this node's next sequence and previous hash (ContractError SEQUENCE_GAP otherwise: sign
        again at the new position); the caller has checked its signatures.

        Raises :class:`ResignRequired` (SEQUENCE_GAP) when the envelope does not continue the
        channel — after taking in the bus's notices since the last send — and, waiting, when the
        bus answers that it did not count it (the node has then taken over the bus's position):
        its ``sequence`` and ``previous_hash`` say where to sign it again."""
        await self.recover()
        async with self.state.reserve() as slot:
            await self.flush_pending()
            if env.sequence != slot.sequence or env.previous_hash != slot.previous_hash:
                detail = f"signed at sequence {env.sequence}; the node's next is {slot.sequence}"
                raise ResignRequired(detail, sequence=slot.sequence, previous_hash=slot.previous_hash)
            if env.channel != self.channel:
                detail = f"signed in channel {env.channel!r}; this sender numbers channel {self.channel!r}"
                raise ContractError(Reason.INVALID_FIELD, detail)
            digest = signing_hash(env)
            self.state.mark_signed_elsewhere(env.message_id)
            slot.commit(digest, raw)
            meta = await self.publisher.publish_envelope(env, raw)
            crash_point("send.published")
            self.state.sent(slot.sequence, env.message_id)
        result = await self._result(env, digest, meta, wait)
        chain = self._uncounted(digest, result.outcome)
        if chain is not None:  # numbered from a place the bus does not hold: its sealed position
            async with self.state.reserve() as slot:
                self.state.adopt(chain, ChainPosition(slot.sequence - 1, slot.previous_hash))
            detail = f"the bus did not count it ({result.outcome and result.outcome.reason})"
            raise ResignRequired(detail, sequence=chain.sequence + 1, previous_hash=bytes(chain.signing_hash))
        return result

    async def _result(
        self, env: Envelope, digest: bytes, meta: RecordMetadata, wait: float | None
    ) -> SendResult:
        outcome = None
        if wait is not None and self.watcher is not None:
            outcome = await self.watcher.wait_for(env.message_id, wait, digest)
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
    policy: SealVerifier,
    directory_snapshot: bytes | None = None,
    channel: str = DEFAULT_CHANNEL,
) -> SendResult:
    """One document, one connection: what ``docbus send`` does."""
    watch = wait is not None
    async with Sender(identity, kafka, state_dir, policy=policy, watch=watch, channel=channel) as sender:
        return await sender.send(draft, wait=wait, directory_snapshot=directory_snapshot)

"""The recipient's inbox client: consume ``docbus.inbox.<org>`` only, re-verify, store, acknowledge.

Every envelope is verified end to end again under the recipient's policy of
consumers/bus/decide/rules.py — every rule the bus applies (contract, directory, freshness at the
copy's arrival, signing time, seal, official) and addressed to this org explicitly or through a
group of the snapshot it names: the recipient trusts the signatures, not the bus. Accepted
documents are stored once per message id and answered with a sealed 01
receipt on ``docbus.receipts`` (key: the original sender); a refused one is kept in ``rejected/``
and answered with a 02 carrying the reason code. Notices of the bus and receipts forwarded from
recipients are verified (seal of their ``from_org``) and logged. Offsets are committed after the
record's outputs are stored and acknowledged: at-least-once underneath, effectively once here.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import UnknownTopicOrPartitionError

from consumers.bus.decide.rules import RECIPIENT_ENVELOPE, RECIPIENT_RECEIPT, AcceptanceConfig, Subject
from consumers.inbox.blobs import content_keys, receive_blob
from consumers.inbox.proof import check_route_proof, proof_header
from consumers.inbox.store import InboxStore
from consumers.outage import TRANSIENT, backoff, stop_quietly
from consumers.trust import TrustError, TrustPolicy, VerifiedDocument
from producers.blob_reader import BlobReader
from producers.failover import long_running_consumer
from producers.identity import NodeIdentity
from producers.publisher import Publisher, PublishError
from producers.reader import ReadError
from producers.receipts import make_receipt
from schemas.canonical import signing_hash
from schemas.codec import encode
from schemas.connection import KafkaConnection
from schemas.directory_store import DirectoryStore
from schemas.envelope import Envelope, parse_envelope
from schemas.errors import ContractError, DocbusError
from schemas.orgcode import canonical_org_code
from schemas.reasons import Reason
from schemas.receipt import Receipt, StatusCode, is_receipt
from schemas.topics import BLOBS_TOPIC, RECEIPTS_TOPIC, inbox_topic

__all__ = ["DirectorySource", "InboxClient", "InboxEvent", "auto_receipt_id"]

logger = logging.getLogger(__name__)

_NAMESPACE = uuid.UUID("0c4f1a52-3e9b-4f7e-8d2a-6b1c9e7d5a30")  # docbus inbox receipts


def auto_receipt_id(envelope_id: str, org: str, status: StatusCode) -> str:
    """Deterministic id of an automatic receipt: re-sent after a crash, it is the same receipt."""
    return str(uuid.uuid5(_NAMESPACE, f"{envelope_id}/{org}/{status.value}"))


@dataclass(frozen=True, slots=True)
class InboxEvent:
    """What one inbox record led to (``docbus inbox`` prints these)."""

    kind: str  # document | duplicate | rejected | receipt | notice | ignored
    message_id: str | None
    detail: str
    sender: str | None = None
    subject: str | None = None


class DirectorySource(Protocol):
    """producers.directory_view.DirectoryView (the one directory reader) or a stand-in of a test."""

    @property
    def store(self) -> DirectoryStore: ...

    async def catch_up(self, timeout: float = 30.0) -> int: ...


# the broker away, for the consumer, the receipt publisher or a directory read
_RETRIED: tuple[type[BaseException], ...] = (*TRANSIENT, PublishError, ReadError)
_OUTAGE = "inbox %s: %r; retrying with backoff until the broker is back"


class _Progress(Exception):
    """A round that reached the broker (and handled ``handled`` records), then lost it."""

    def __init__(self, handled: int, cause: BaseException) -> None:
        super().__init__(handled, cause)
        self.handled, self.cause = handled, cause


class InboxClient:
    def __init__(
        self,
        identity: NodeIdentity,
        kafka: KafkaConnection,
        store_dir: Path,
        policy: TrustPolicy,
        *,
        directory: DirectorySource | None = None,
        topic: str | None = None,
        receipts_topic: str = RECEIPTS_TOPIC,
        group: str | None = None,
        bus_org: str = "G03.BUS",
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        blobs_topic: str = BLOBS_TOPIC,
        blob_wait: float = 30.0,
        config: AcceptanceConfig | None = None,
        publisher: Publisher | None = None,
        blobs: BlobReader | None = None,
    ) -> None:
        """``publisher`` and ``blobs``: clients shared by the codes of one process
        (consumers/inbox/shared.py starts and stops them); each client makes its own otherwise."""
        self.identity, self.policy, self.directory = identity, policy, directory
        self.org = identity.org_code
        self.store = InboxStore(store_dir)
        self.topic = topic or inbox_topic(self.org)
        self.group = group or f"docbus-inbox-{self.org}"
        self.kafka = kafka
        self._failures = 0  # failed rounds in a row (consumers/outage.py: log once per state change)
        self.publisher = publisher or Publisher(
            kafka, receipts=receipts_topic, client_id=f"docbus-inbox-{self.org}", long_running=True
        )
        self.bus_org = canonical_org_code(bus_org)
        self.now = now
        self.blobs = blobs or BlobReader(
            kafka, topic=blobs_topic, wait=blob_wait, client_id=f"docbus-inbox-{self.org}"
        )
        # the recipient's policies: every rule of the bus's, and addressed to this org
        self.config = config or AcceptanceConfig()
        self.acceptance = RECIPIENT_ENVELOPE
        self.receipt_acceptance = RECIPIENT_RECEIPT

    # --- one record -------------------------------------------------------------------------

    async def handle(
        self,
        raw: bytes,
        headers: Iterable[tuple[str, bytes]] | None = None,
        received_at: datetime | None = None,
    ) -> InboxEvent:
        """Decide, store and answer one inbox record (its value and Kafka headers); returns what
        happened. An envelope is taken only with the bus's routing proof for this org in its
        headers (consumers/inbox/proof.py), however valid its sender's signatures.
        ``received_at``: when the copy reached the inbox (its record timestamp), against which
        freshness is judged."""
        if is_receipt(raw):
            return self._receipt(raw, received_at)
        try:
            env = parse_envelope(raw)
        except ContractError as exc:
            self.store.save_rejected(raw, None, exc.reason.value, exc.detail, self.now().isoformat())
            return InboxEvent("rejected", None, f"{exc.reason.value}: {exc.detail} (undecodable, no receipt)")
        if self.store.has(env.message_id):
            return await self._duplicate(env, raw)
        if self.directory is not None and self.directory.store.get(env.directory_snapshot) is None:
            await self.directory.catch_up()  # a snapshot published after our last look
        subject = Subject(
            raw=raw, now=self.now(), trust=self.policy, config=self.config,
            directory=self.directory.store if self.directory is not None else None,
            recipient=self.org, received_at=received_at,
        )  # fmt: skip
        try:
            self.acceptance.verify(subject)
        except DocbusError as exc:
            detail = exc.detail
            if isinstance(exc, TrustError) and exc.role is not None:
                detail = f"{exc.role.value} signature: {detail}"
            return await self._refuse(env, raw, exc.reason, detail)
        try:
            check_route_proof(proof_header(headers), env, self.org, self.policy, self.bus_org, self.now())
        except TrustError as exc:
            return self._not_routed(env, raw, exc)
        try:  # only for a copy the bus routed: chunks are read for nothing else
            await self._receive_blobs(env)
        except ContractError as exc:
            return await self._refuse(env, raw, exc.reason, exc.detail)
        assert subject.document is not None  # set by the policy's official rule
        meta = self._meta(env, subject.document)
        try:
            self.store.save_document(env, raw, meta)
        except OSError:
            if not self.store.has(env.message_id):
                raise
            return await self._duplicate(env, raw)  # another client of this org stored it just now
        await self._acknowledge(env)
        return InboxEvent("document", env.message_id, env.document.document_id, env.sender.code,
                          env.document.subject)  # fmt: skip

    def _not_routed(self, env: Envelope, raw: bytes, exc: TrustError) -> InboxEvent:
        """Written around the bus: nothing was routed, so there is nothing to answer; the copy is
        kept as rejected and reported."""
        what = f"{exc.reason.value}: {exc.detail}"
        logger.warning("refused %s from %s: %s", env.message_id, env.sender.code, what)
        self.store.save_rejected(raw, env.message_id, exc.reason.value, exc.detail, self.now().isoformat())
        return InboxEvent("rejected", env.message_id, what, env.sender.code)

    async def _receive_blobs(self, env: Envelope) -> None:
        """Every chunked payload reassembled and verified into the store (resumed if cut short)."""
        keys = content_keys(env, self.org, self.identity.encryption)  # KEY_MISSING, KEY_INVALID
        for p in (env.payload, *env.attachments):
            if p.blob is not None:
                key = None if p.blob.sealed is None else keys[bytes(p.blob.sealed.id)]
                try:
                    await receive_blob(self.blobs, self.store.root, p, key)
                except ContractError as exc:
                    raise ContractError(exc.reason, f"{p.file_name}: {exc.detail}") from exc

    def _meta(self, env: Envelope, doc: VerifiedDocument) -> dict[str, Any]:
        d = env.document
        return {
            "message_id": env.message_id,
            "document_id": d.document_id,
            "sender": {"code": env.sender.code, "name": env.sender.name},
            "subject": d.subject,
            "document_type": d.document_type.value,
            "priority": int(d.priority),
            "business_type": d.business_type.value,
            "response_for": d.response_for,
            "created_at": env.created_at.isoformat(),
            "received_at": self.now().isoformat(),
            "signing_hash": signing_hash(env).hex(),
            "payloads": [
                {"name": p.file_name, "content_type": p.content_type, "size": p.size,
                 "sha256": p.sha256.hex(), "chunks": len(p.blob.chunks) if p.blob is not None else 0,
                 "encrypted": p.blob is not None and p.blob.sealed is not None}
                for p in (env.payload, *env.attachments)
            ],
            "verification": {
                "result": "valid",
                "official": {"name": doc.official.name, "position": doc.official.position,
                             "org": doc.official.org_code, "serial": f"{doc.official.serial:x}"},
                "organization": {"org": doc.organization.org_code, "serial": f"{doc.organization.serial:x}"},
                "signed_at": doc.organization.signing_time.isoformat(),
            },
        }  # fmt: skip

    async def _duplicate(self, env: Envelope, raw: bytes) -> InboxEvent:
        if raw != self.store.envelope_bytes(env.message_id):
            # same id, other bytes: never replaces what was stored, and the sender is not answered
            detail = "another envelope under a stored message id"
            self.store.save_rejected(raw, env.message_id, Reason.REPLAY.value, detail, self.now().isoformat())
            return InboxEvent("rejected", env.message_id, "REPLAY: other bytes under a stored message id")
        if not self.store.receipt_sent(env.message_id):
            await self._acknowledge(env)  # stored before a crash, receipt never acknowledged
        return InboxEvent("duplicate", env.message_id, "already stored; copy dropped", env.sender.code)

    async def _acknowledge(self, env: Envelope) -> None:
        receipt = self._receipt_for(env, StatusCode.ARRIVED, None)
        raw = encode(receipt)
        await self.publisher.publish_receipt(receipt, raw)
        # fsynced: in a thread, so the inboxes handled side by side overlap their disk waits
        await asyncio.to_thread(self.store.mark_receipt, env.message_id, raw)

    async def _refuse(self, env: Envelope, raw: bytes, reason: Reason, detail: str) -> InboxEvent:
        logger.warning("refused %s from %s: %s %s", env.message_id, env.sender.code, reason.value, detail)
        self.store.save_rejected(raw, env.message_id, reason.value, detail, self.now().isoformat())
        receipt = self._receipt_for(env, StatusCode.REJECTED, f"{reason.value}: {detail}"[:1000])
        await self.publisher.publish_receipt(receipt, encode(receipt))
        return InboxEvent("rejected", env.message_id, f"{reason.value}: {detail}", env.sender.code)

    def _receipt_for(self, env: Envelope, status: StatusCode, reason: str | None) -> Receipt:
        return make_receipt(
            self.identity, envelope_message_id=env.message_id, document_id=env.document.document_id,
            signing_hash=signing_hash(env), to_org=env.sender.code, status=status, reason=reason,
            by_name=self.identity.org_name, by_position="inbox", at=self.now(),
            message_id=auto_receipt_id(env.message_id, self.org, status),
        )  # fmt: skip

    def _receipt(self, raw: bytes, received_at: datetime | None) -> InboxEvent:
        subject = Subject(raw=raw, now=self.now(), trust=self.policy, config=self.config,
                          received_at=received_at)  # fmt: skip
        try:
            self.receipt_acceptance.verify(subject)
            verified = "valid"
        except DocbusError as exc:
            verified = f"{exc.reason.value}: {exc.detail}"
        receipt, origin = subject.receipt, subject.signer
        if receipt is None:
            return InboxEvent("ignored", None, verified)
        kind = "notice" if origin == self.bus_org else "receipt"
        entry = {
            "receipt_id": receipt.message_id, "kind": kind, "envelope_id": receipt.envelope_id,
            "document_id": receipt.document_id, "signing_hash": bytes(receipt.signing_hash).hex(),
            "from": origin, "to": receipt.to_org,
            "status": receipt.status.value, "reason": receipt.reason, "by": receipt.by_name,
            "at": receipt.at.isoformat(), "received_at": self.now().isoformat(), "seal": verified,
        }  # fmt: skip
        fresh = self.store.record_receipt(receipt, raw, entry)
        detail = f"{receipt.status.value} from {origin} for {receipt.envelope_id}"
        detail += f" ({receipt.reason})" if receipt.reason else ""
        detail += "" if verified == "valid" else f" — seal NOT valid: {verified}"
        return InboxEvent(kind if fresh else "duplicate", receipt.message_id, detail, origin)

    # --- the loop ---------------------------------------------------------------------------

    async def run(
        self,
        *,
        once: bool = False,
        on_event: Callable[[InboxEvent], Awaitable[None] | None] | None = None,
        idle_ms: int = 1000,
        refresh: Callable[[], object] | None = None,
    ) -> int:
        """Consume the inbox with the org's group. ``once``: stop when caught up. Returns records
        handled. ``refresh`` runs before each batch (reload changed CRL files)."""
        # a broker outage of any length is waited out: the round's consumer is dropped, the
        # next round rejoins the group at the committed offsets (consumers/outage.py)
        handled = 0
        await self._start_publisher()
        try:
            while True:
                try:
                    return handled + await self._round(once, on_event, idle_ms, refresh)
                except _RETRIED as exc:
                    if once and isinstance(exc, UnknownTopicOrPartitionError):
                        # no inbox topic (yet: topics apply creates it): nothing to receive now;
                        # --follow waits for it like for the broker
                        logger.warning("inbox %s: no topic %s: nothing to receive", self.org, self.topic)
                        return handled
                    self._failures += 1
                    if self._failures == 1:
                        logger.error(_OUTAGE, self.org, exc)
                    await asyncio.sleep(backoff(self._failures))
                except _Progress as progress:  # the broker answered, then went away: a new outage
                    handled += progress.handled
                    self._failures = 1
                    logger.error(_OUTAGE, self.org, progress.cause)
                    await asyncio.sleep(backoff(self._failures))
        finally:
            await stop_quietly(self.blobs.stop, "inbox blob reader")
            await stop_quietly(self.publisher.stop, "inbox publisher")

    async def _start_publisher(self) -> None:
        failures = 0
        while True:
            try:
                await self.publisher.start()
                return
            except _RETRIED as exc:
                failures += 1
                if failures == 1:
                    logger.error(
                        "inbox %s: %r; retrying with backoff until the broker is back", self.org, exc
                    )
                await asyncio.sleep(backoff(failures))

    async def _round(
        self,
        once: bool,
        on_event: Callable[[InboxEvent], Awaitable[None] | None] | None,
        idle_ms: int,
        refresh: Callable[[], object] | None,
    ) -> int:
        consumer = long_running_consumer(
            self.kafka, self.topic, group_id=self.group,
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=100,
            fetch_max_wait_ms=100 if once else 500,  # stopping waits for the fetch in flight
        )  # fmt: skip
        handled, reached = 0, False
        try:
            await consumer.start()
            while True:
                # --once: short polls, each followed by a look at the ends (no idle wait at the end)
                batches = await consumer.getmany(timeout_ms=min(idle_ms, 100) if once else idle_ms)
                if not reached and self._failures:  # once when the broker is back
                    logger.warning("inbox %s: broker reachable again after %d failed attempt(s)",
                                   self.org, self._failures)  # fmt: skip
                    self._failures = 0
                reached = True
                if refresh is not None:
                    refresh()  # e.g. TrustFiles.refresh: a CRL published meanwhile applies now
                for records in batches.values():
                    for record in records:
                        arrived = datetime.fromtimestamp(record.timestamp / 1000, UTC)
                        event = await self.handle(record.value or b"", record.headers, arrived)
                        handled += 1
                        if on_event is not None:
                            result = on_event(event)
                            if result is not None:
                                await result
                if batches:
                    await consumer.commit()  # after every output above was stored or acknowledged
                if once and await self._caught_up(consumer):
                    return handled
        except _RETRIED as exc:
            if reached:
                raise _Progress(handled, exc) from exc
            raise
        finally:
            await stop_quietly(consumer.stop, f"inbox {self.org} consumer")

    @staticmethod
    async def _caught_up(consumer: AIOKafkaConsumer) -> bool:
        parts = consumer.assignment()
        if not parts:
            return False  # still joining the group
        ends = await consumer.end_offsets(list(parts))
        for tp in parts:
            if await consumer.position(tp) < ends[tp]:
                return False
        return True

"""Re-deliver what an org's inbox had from the retained log (``docbus audit replay``).

What is re-sent is decided by the audit log alone: every ROUTED record naming the org as recipient
in the time window (so only what the org was entitled to), and every RECEIPT the bus forwarded to
it in the window: the receipts about envelopes the org sent (its recipients' 01..06, 15, 16) and
the recalls (13) of envelopes routed to it; minus what its inbox topic already holds (by message
id, a receipt's own id for a receipt). The bytes come from docbus.ingress (envelopes) or
docbus.receipts (receipts) at the position the record names and must hash to the record's
``stored_hash`` or ``receipt_hash``; they go to docbus.inbox.<org> in the log's order (a
recall after its envelope) with the CloudEvents headers the bus gives them, and each delivery is
audited as a REPLAYED event (a receipt's with its status).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from consumers.audit.config import AuditConfig
from consumers.audit.core.events import draft
from consumers.audit.kafka.kafka_io import Headers, Message, fetch_at, produce_all, read_topic
from consumers.audit.kafka.logview import load_log
from consumers.trust import TrustPolicy
from producers.blob_reader import BlobReader
from schemas.audit import AuditEvent, AuditRecord, SourcePosition
from schemas.connection import KafkaConnection
from schemas.envelope import Envelope, parse_envelope
from schemas.errors import ContractError
from schemas.headers import envelope_headers, receipt_headers
from schemas.receipt import StatusCode, parse_receipt

__all__ = [
    "REPLAY_HEADER",
    "ReceiptItem",
    "ReplayItem",
    "ReplayResult",
    "plan_receipts",
    "plan_replay",
    "replay",
]

logger = logging.getLogger(__name__)

REPLAY_HEADER = "docbus_replayed_at"  # marks a re-delivery; the ce_ headers are the original's


@dataclass(frozen=True, slots=True)
class ReplayItem:
    message_id: str
    document_id: str | None
    sender: str
    routed_at: datetime
    stored_hash: bytes | None
    source: SourcePosition
    held: bool  # the inbox already holds it: not sent again
    index: int = -1  # the ROUTED record's position in the log (the order of re-delivery)


@dataclass(frozen=True, slots=True)
class ReceiptItem:
    """A receipt the bus forwarded to the org: about ``message_id``, sealed by ``from_org``."""

    message_id: str
    document_id: str | None
    sender: str  # the envelope's sender
    from_org: str
    status: str
    at: datetime
    receipt_hash: bytes
    source: SourcePosition
    index: int


@dataclass
class ReplayResult:
    org: str
    inbox: str
    items: list[ReplayItem]
    sent: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # bytes gone from ingress or not matching
    receipts: list[ReceiptItem] = field(default_factory=list)
    receipts_sent: list[ReceiptItem] = field(default_factory=list)
    receipts_held: int = 0
    expired: list[str] = field(default_factory=list)  # chunks of a large payload gone by retention

    @property
    def to_send(self) -> list[ReplayItem]:
        return [i for i in self.items if not i.held]


async def _chunks_retained(kafka: KafkaConnection, env: Envelope) -> bool:
    refs = [p.blob for p in (env.payload, *env.attachments) if p.blob is not None]
    if not refs:
        return True
    async with BlobReader(kafka, client_id="docbus-replay-blobs") as reader:
        return all([await reader.retained(ref) for ref in refs])


def plan_replay(
    records: Iterable[AuditRecord | None], org: str, since: datetime, until: datetime, held: set[str]
) -> list[ReplayItem]:
    """One item per message routed to ``org`` in [since, until], in log order."""
    items: dict[str, ReplayItem] = {}
    unplaced = 0
    for rec in records:
        if rec is None or rec.event is not AuditEvent.ROUTED or rec.recipient != org:
            continue
        if not since <= rec.at <= until or rec.message_id in items:
            continue
        if rec.source is None:
            unplaced += 1
            continue
        items[rec.message_id] = ReplayItem(
            rec.message_id, rec.document_id, rec.sender, rec.at, rec.stored_hash, rec.source,
            rec.message_id in held, rec.index,
        )  # fmt: skip
    if unplaced:
        logger.warning("%d ROUTED record(s) for %s name no ingress position: not replayable", unplaced, org)
    return list(items.values())


def plan_receipts(
    records: Iterable[AuditRecord | None], org: str, since: datetime, until: datetime, routed: set[str]
) -> list[ReceiptItem]:
    """The receipts the bus forwarded to ``org`` in [since, until], in log order: those about its
    own envelopes from others, and the recalls (13) of envelopes in ``routed`` (routed to it)."""
    items = []
    for rec in records:
        if (
            rec is None
            or rec.event is not AuditEvent.RECEIPT
            or rec.source is None
            or rec.receipt_hash is None
        ):
            continue
        recall = rec.status == StatusCode.RECALL_REQUESTED.value
        about_own = rec.sender == org and rec.recipient != org and not recall
        if not (about_own or (recall and rec.message_id in routed)) or not since <= rec.at <= until:
            continue
        items.append(ReceiptItem(
            rec.message_id, rec.document_id, rec.sender, rec.recipient or "", rec.status or "", rec.at,
            rec.receipt_hash, rec.source, rec.index,
        ))  # fmt: skip
    return items


async def inbox_ids(settings: AuditConfig, kafka: KafkaConnection, org: str) -> set[str]:
    """Message ids the org's inbox topic holds (its key; ce_id for a record without one)."""
    ids = set()
    async for msg in read_topic(kafka, settings.inbox(org)):
        key = msg.key if msg.key is not None else msg.header("ce_id")
        if key is not None:
            ids.add(key.decode("utf-8", "replace"))
    return ids


async def replay(
    settings: AuditConfig,
    kafka: KafkaConnection,
    org: str,
    since: datetime,
    until: datetime,
    *,
    now: datetime,
    dry_run: bool,
    policy: TrustPolicy,
) -> ReplayResult:
    """``policy`` accepts the audit keys: only the writer's own ROUTED records entitle ``org``."""
    view = await load_log(settings, kafka, policy, now=now)
    held = await inbox_ids(settings, kafka, org)
    routed = list(view.matching(event=AuditEvent.ROUTED.value, recipient=org))
    result = ReplayResult(org, settings.inbox(org), plan_replay(routed, org, since, until, held))
    entitled = {r.message_id for r in routed}
    result.receipts = plan_receipts(
        view.matching(event=AuditEvent.RECEIPT.value), org, since, until, entitled
    )
    if dry_run or not (result.to_send or result.receipts):
        return result
    sources = [i.source for i in result.to_send] + [r.source for r in result.receipts]
    fetched = await fetch_at(kafka, sources)
    ordered: list[tuple[int, tuple[str, bytes | None, bytes, Headers]]] = []
    audits: list[tuple[str, bytes | None, bytes, Headers]] = []
    for receipt_item in result.receipts:
        delivery = _receipt_delivery(result, receipt_item, fetched.get(receipt_item.source), held, now)
        if delivery is not None:
            ordered.append((receipt_item.index, delivery))
            audits.append((settings.audit_events_topic, *_receipt_replayed(result, receipt_item, now), []))
    for item in result.to_send:
        msg = fetched.get(item.source)
        if msg is None or hashlib.sha256(msg.value).digest() != item.stored_hash:
            logger.error("envelope %s is not at %s as recorded", item.message_id, item.source)
            result.missing.append(item.message_id)
            continue
        try:
            env = parse_envelope(msg.value)
        except ContractError as exc:
            logger.error("envelope %s at %s does not decode: %s", item.message_id, item.source, exc)
            result.missing.append(item.message_id)
            continue
        if not await _chunks_retained(kafka, env):
            # the recipient could only refuse it (BLOB_INCOMPLETE): the sender must send it again
            logger.error("envelope %s: chunks of a large payload deleted by retention", item.message_id)
            result.expired.append(item.message_id)
            continue
        headers = envelope_headers(env, item.sender, org, env.directory_snapshot)
        headers.append((REPLAY_HEADER, now.isoformat(timespec="milliseconds").encode()))
        ordered.append((item.index, (result.inbox, item.message_id.encode(), msg.value, headers)))
        key, value = draft(
            AuditEvent.REPLAYED, message_id=item.message_id, sender=item.sender, recipient=org, at=now,
            stored_hash=item.stored_hash, document_id=item.document_id, source=item.source,
            detail=f"re-delivered to {result.inbox} from the retained log",
        )  # fmt: skip
        audits.append((settings.audit_events_topic, key, value, []))
        result.sent.append(item.message_id)
    ordered.sort(key=lambda pair: pair[0])  # the log's order: an envelope before its recall
    await produce_all(kafka, [d for _, d in ordered])  # delivered (acknowledged) before audited
    await produce_all(kafka, audits)
    sent, receipts = len(result.sent), len(result.receipts_sent)
    logger.info("replayed %d envelope(s) and %d receipt(s) to %s", sent, receipts, result.inbox)
    return result


def _receipt_delivery(
    result: ReplayResult, item: ReceiptItem, msg: Message | None, held: set[str], now: datetime
) -> tuple[str, bytes | None, bytes, Headers] | None:
    """The forwarded copy of one receipt, as the bus wrote it; None when held or not as recorded."""
    if msg is None or hashlib.sha256(msg.value).digest() != item.receipt_hash:
        logger.error(
            "receipt %s about %s is not at %s as recorded", item.status, item.message_id, item.source
        )
        result.missing.append(f"{item.status}:{item.message_id}")
        return None
    try:
        receipt = parse_receipt(msg.value)
    except ContractError as exc:
        logger.error("receipt at %s does not decode: %s", item.source, exc)
        result.missing.append(f"{item.status}:{item.message_id}")
        return None
    if receipt.message_id in held:
        result.receipts_held += 1
        return None
    headers = receipt_headers(receipt, item.from_org, result.org)
    headers.append((REPLAY_HEADER, now.isoformat(timespec="milliseconds").encode()))
    result.receipts_sent.append(item)
    return result.inbox, receipt.message_id.encode(), msg.value, headers


def _receipt_replayed(result: ReplayResult, item: ReceiptItem, now: datetime) -> tuple[bytes, bytes]:
    return draft(
        AuditEvent.REPLAYED, message_id=item.message_id, sender=item.sender, recipient=result.org, at=now,
        status=item.status, document_id=item.document_id, source=item.source,
        detail=f"receipt {item.status} from {item.from_org} re-delivered to {result.inbox} from the log",
    )  # fmt: skip

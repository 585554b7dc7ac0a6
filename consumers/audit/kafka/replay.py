"""Re-deliver an org's envelopes from the retained log (``docbus audit replay``).

What is re-sent is decided by the audit log alone: every ROUTED record naming the org as recipient
in the time window (so only what the org was entitled to), minus what its inbox topic already
holds (by message id). The bytes come from docbus.ingress at the position the record names and
must hash to the record's ``stored_hash``; they go to docbus.inbox.<org> with the envelope's
CloudEvents headers, keyed by message id, and each delivery is audited as a REPLAYED event.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from consumers.audit.config import AuditConfig
from consumers.audit.core.events import draft
from consumers.audit.kafka.kafka_io import Headers, fetch_at, produce_all, read_topic
from consumers.audit.kafka.logview import load_log
from consumers.trust import TrustPolicy
from producers.blob_reader import BlobReader
from schemas.audit import AuditEvent, AuditRecord, SourcePosition
from schemas.connection import KafkaConnection
from schemas.envelope import Envelope, parse_envelope
from schemas.errors import ContractError
from schemas.headers import envelope_headers

__all__ = ["REPLAY_HEADER", "ReplayItem", "ReplayResult", "plan_replay", "replay"]

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


@dataclass
class ReplayResult:
    org: str
    inbox: str
    items: list[ReplayItem]
    sent: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # bytes gone from ingress or not matching
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
            rec.message_id in held,
        )  # fmt: skip
    if unplaced:
        logger.warning("%d ROUTED record(s) for %s name no ingress position: not replayable", unplaced, org)
    return list(items.values())


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
    routed = view.matching(event=AuditEvent.ROUTED.value, recipient=org)
    result = ReplayResult(org, settings.inbox(org), plan_replay(routed, org, since, until, held))
    if dry_run or not result.to_send:
        return result
    fetched = await fetch_at(kafka, [i.source for i in result.to_send])
    deliveries: list[tuple[str, bytes | None, bytes, Headers]] = []
    audits: list[tuple[str, bytes | None, bytes, Headers]] = []
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
        deliveries.append((result.inbox, item.message_id.encode(), msg.value, headers))
        key, value = draft(
            AuditEvent.REPLAYED, message_id=item.message_id, sender=item.sender, recipient=org, at=now,
            stored_hash=item.stored_hash, document_id=item.document_id, source=item.source,
            detail=f"re-delivered to {result.inbox} from the retained log",
        )  # fmt: skip
        audits.append((settings.audit_events_topic, key, value, []))
        result.sent.append(item.message_id)
    await produce_all(kafka, deliveries)  # delivered (acknowledged) before audited
    await produce_all(kafka, audits)
    logger.info("replayed %d envelope(s) to %s", len(result.sent), result.inbox)
    return result

"""receipts: a recipient's (or, for a recall, the sender's) sealed receipt, checked and forwarded.

Accepted: the exact bytes to each target inbox, ``docbus.status`` keyed ``<envelope id>/<recipient>``,
audit RECEIPT (and DELIVERED for a recipient's 01). Refused: quarantine and audit REJECTED.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from consumers.bus.decide.quarantine import quarantine_record
from consumers.bus.decide.receipt_check import ReceiptAccepted, ReceiptRejected
from schemas.audit import AuditEvent, SourcePosition
from schemas.headers import receipt_headers
from schemas.receipt import StatusCode

if TYPE_CHECKING:
    from faust.types import StreamT

    from consumers.bus.app import Bus, SourceRecord

__all__ = ["handle_receipt", "register"]

logger = logging.getLogger(__name__)

Futures = list[Awaitable[Any]]


def register(bus: Bus) -> None:
    @bus.app.agent(bus.receipts, name="docbus.receipts")
    async def receipts(stream: StreamT[Any]) -> None:
        await bus.ready()
        batches = stream.take_events(bus.settings.batch_size, within=bus.settings.batch_wait)  # type: ignore[attr-defined]
        async for events in batches:
            futures: Futures = []
            for event in events:  # as in validate_route: decided in order, acknowledged together
                msg = event.message
                for skipped in await bus.receipt_gaps.missing(msg.partition, msg.offset):
                    futures += await handle_receipt(bus, skipped)
                futures += await handle_receipt(bus, msg)
            await bus.acknowledged(futures)


async def handle_receipt(bus: Bus, msg: SourceRecord) -> Futures:
    """Decide on one receipt and hand its outputs to the producer; returns their acknowledgements."""
    raw: bytes = msg.value or b""
    now = datetime.now(UTC)
    source = SourcePosition(topic=msg.topic, partition=msg.partition, offset=msg.offset)
    decision = bus.receipt_check.check(
        raw,
        now=now,
        routed_of=bus.routed_of,
        recall_requested=lambda mid: bus.recalls.get(mid.encode()) is not None,
    )
    if isinstance(decision, ReceiptAccepted):
        futures = await _forward(bus, decision, now, source)
    else:
        futures = await _refuse(bus, decision, raw, now, source)
    return futures


async def _forward(bus: Bus, d: ReceiptAccepted, now: datetime, source: SourcePosition) -> Futures:
    receipt = d.receipt
    futures: Futures = []
    if receipt.status is StatusCode.RECALL_REQUESTED:
        recall = (receipt.envelope_id.encode(), receipt.message_id.encode())
        futures.append(bus.store(bus.recalls, source.partition, *recall))
    for code in d.forward_to:
        headers = receipt_headers(receipt, d.from_org, code)
        futures.append(await bus.send(bus.inbox(code), receipt.message_id.encode(), d.raw, headers))
    for key in d.status_keys:
        futures.append(await bus.send(bus.status, key.encode(), d.raw))
    common: dict[str, Any] = {
        "at": now, "message_id": receipt.envelope_id, "sender": d.routed.sender,
        "document_id": receipt.document_id, "source": source, "receipt_hash": d.receipt_hash,
    }  # fmt: skip
    futures.append(
        await bus.audit_draft(
            AuditEvent.RECEIPT, status=receipt.status.value, recipient=d.from_org,
            detail=receipt.reason[:4000], trust_hashes=d.trust_hashes, **common,
        )
    )  # fmt: skip
    if receipt.status is StatusCode.ARRIVED:
        futures.append(await bus.audit_draft(AuditEvent.DELIVERED, recipient=d.from_org, **common))
    return futures


async def _refuse(bus: Bus, d: ReceiptRejected, raw: bytes, now: datetime, source: SourcePosition) -> Futures:
    who = d.from_org or "unknown"
    message_id = d.message_id or f"{source.topic}/{source.partition}/{source.offset}"
    logger.info("refused receipt %s from %s: %s %s", message_id, who, d.reason.value, d.detail)
    record = quarantine_record(
        raw, d.reason, d.detail, topic=source.topic, partition=source.partition, offset=source.offset,
        at=now, message_id=d.message_id,
    )  # fmt: skip
    return [
        await bus.send(bus.quarantine, who.encode(), record, bus.processor_headers),
        await bus.audit_draft(
            AuditEvent.REJECTED, at=now, message_id=message_id, sender=who, reason=d.reason.value,
            detail=d.detail[:4000], source=source, receipt_hash=hashlib.sha256(raw).digest(),
        ),
    ]  # fmt: skip

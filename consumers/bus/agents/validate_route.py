"""validate+route: every ingress record is decided once and its outputs stored before moving on.

Accepted: the exact bytes to every recipient inbox (CloudEvents headers), a sealed 01 notice to
the sender, audit SUBMITTED / ACCEPTED / ROUTED per recipient. Rejected: a quarantine record,
audit SUBMITTED / REJECTED, and a sealed 02 notice when the sender is a known active org.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from consumers.bus.decide.policy import SenderState
from consumers.bus.decide.quarantine import quarantine_record
from consumers.bus.decide.routed import RoutedRecord
from consumers.bus.decide.validator import Accepted, Decision, Rejected
from schemas.audit import AuditEvent, SourcePosition
from schemas.codec import encode
from schemas.headers import envelope_headers, receipt_headers
from schemas.reasons import Reason

if TYPE_CHECKING:
    from faust.types import StreamT

    from consumers.bus.app import Bus, SourceRecord

__all__ = ["handle_envelope", "register"]

logger = logging.getLogger(__name__)

Futures = list[Awaitable[Any]]
_MAX_AUDIT_DETAIL = 4000


def register(bus: Bus) -> None:
    @bus.app.agent(bus.ingress, name="docbus.validate_route")
    async def validate_route(stream: StreamT[Any]) -> None:
        await bus.ready()
        # a batch is decided in order and its outputs awaited together; faust acks its events after
        # this body, so nothing is committed before every output of the batch is stored
        batches = stream.take_events(bus.settings.batch_size, within=bus.settings.batch_wait)  # type: ignore[attr-defined]
        async for events in batches:
            futures: Futures = []
            for event in events:
                msg = event.message
                for skipped in await bus.ingress_gaps.missing(msg.partition, msg.offset):
                    futures += await handle_envelope(bus, skipped)
                futures += await handle_envelope(bus, msg)
            await bus.acknowledged(futures)
            # sender states only after every inbox copy and routing record of the batch is stored:
            # a crash in between then re-routes (known by position) instead of refusing as REPLAY
            await bus.acknowledged(bus.flush_deferred())


def _decide(bus: Bus, raw: bytes, now: datetime, position: tuple[int, int]) -> Decision:
    def state_of(sender: str) -> SenderState:
        stored = bus.senders.get(sender.encode())
        return SenderState() if stored is None else SenderState.from_bytes(stored)

    return bus.validator.check(raw, now=now, position=position, state_of=state_of, routed_of=bus.routed_of)


async def handle_envelope(bus: Bus, msg: SourceRecord) -> Futures:
    """Decide on one record and hand its outputs to the producer; returns their acknowledgements.
    ``msg``: a faust message or an aiokafka record (topic, partition, offset, key, value)."""
    raw: bytes = msg.value or b""
    now = datetime.now(UTC)
    position = (msg.partition, msg.offset)
    decision = _decide(bus, raw, now, position)
    if isinstance(decision, Rejected) and decision.reason is Reason.DIRECTORY_MISMATCH:
        try:  # a snapshot published after our last look: read the directory, then decide again
            await bus.feed.catch_up(bus.settings.directory_timeout)
        except TimeoutError:
            logger.warning("directory catch-up timed out; deciding with what is held")
        decision = _decide(bus, raw, now, position)
    source = SourcePosition(topic=msg.topic, partition=msg.partition, offset=msg.offset)
    claimed = decision.sender or _key_sender(msg.key)
    message_id = _message_id(decision) or f"{msg.topic}/{msg.partition}/{msg.offset}"
    raw_hash = hashlib.sha256(raw).digest()
    futures: Futures = [
        await bus.audit_draft(
            AuditEvent.SUBMITTED, at=now, message_id=message_id, sender=claimed,
            envelope_hash=raw_hash, source=source,
        )
    ]  # fmt: skip
    if isinstance(decision, Accepted):
        futures += await _route(bus, decision, now, source, raw_hash)
    else:
        futures += await _refuse(bus, decision, raw, now, source, claimed, message_id, raw_hash)
    return futures


def _message_id(decision: Decision) -> str | None:
    return decision.envelope.message_id if isinstance(decision, Accepted) else decision.message_id


def _key_sender(key: bytes | None) -> str:
    # the ingress key is the sender's code by contract, but for a refused record it is only a hint
    text = (key or b"").decode("utf-8", "replace")[:35]
    return text if text.strip() else "unknown"


async def _route(bus: Bus, d: Accepted, now: datetime, source: SourcePosition, raw_hash: bytes) -> Futures:
    env, sender = d.envelope, d.sender
    key = env.message_id.encode()
    futures: Futures = []
    if not d.duplicate:
        # the routing record goes with the outputs; the sender state is deferred until they are all
        # acknowledged, so a re-processed record is always known by position (validator.py)
        position = (source.partition, source.offset)
        record = RoutedRecord(sender, d.plan.recipients, d.envelope_hash, env.document.document_id, position)
        futures.append(bus.store(bus.routed, source.partition, key, record.to_bytes()))
    else:
        logger.info("envelope %s processed again after a restart: routing it again", env.message_id)
    bus.defer(bus.senders, source.partition, sender.encode(), d.state.to_bytes())
    for code in d.plan.recipients:
        headers = envelope_headers(env, sender, code, d.plan.snapshot)
        futures.append(await bus.send(bus.inbox(code), key, d.raw, headers))
    notice = bus.notices.accepted(env, d.envelope_hash, to=sender, at=now)
    sealed = encode(notice)
    notice_headers = receipt_headers(notice, bus.notices.org, sender, notice=True)
    futures.append(await bus.send(bus.inbox(sender), notice.message_id.encode(), sealed, notice_headers))
    for code in d.plan.recipients:  # routing facts: who was addressed (ADR 0001, flow step 4)
        futures.append(await bus.send(bus.status, f"{env.message_id}/{code}/routed".encode(), sealed))
    common: dict[str, Any] = {
        "at": now, "message_id": env.message_id, "sender": sender, "envelope_hash": raw_hash,
        "document_id": env.document.document_id, "source": source,
    }  # fmt: skip
    futures.append(await bus.audit_draft(AuditEvent.ACCEPTED, trust_hashes=d.trust_hashes, **common))
    for code in d.plan.recipients:
        futures.append(await bus.audit_draft(AuditEvent.ROUTED, recipient=code, **common))
    return futures


async def _refuse(
    bus: Bus,
    d: Rejected,
    raw: bytes,
    now: datetime,
    source: SourcePosition,
    claimed: str,
    message_id: str,
    raw_hash: bytes,
) -> Futures:
    logger.info("rejected %s from %s: %s %s", message_id, claimed, d.reason.value, d.detail)
    record = quarantine_record(
        raw, d.reason, d.detail, topic=source.topic, partition=source.partition, offset=source.offset,
        at=now, message_id=d.message_id,
    )  # fmt: skip
    futures: Futures = [await bus.send(bus.quarantine, claimed.encode(), record, bus.processor_headers)]
    futures.append(
        await bus.audit_draft(
            AuditEvent.REJECTED, at=now, message_id=message_id, sender=claimed, reason=d.reason.value,
            detail=d.detail[:_MAX_AUDIT_DETAIL], envelope_hash=raw_hash, source=source,
            document_id=d.envelope.document.document_id if d.envelope is not None else None,
            trust_hashes=d.trust_hashes,
        )
    )  # fmt: skip
    if d.notify and d.envelope is not None and d.sender is not None:
        notice = bus.notices.rejected(d.envelope, d.reason, d.detail, to=d.sender, at=now)
        headers = receipt_headers(notice, bus.notices.org, d.sender, notice=True)
        futures.append(
            await bus.send(bus.inbox(d.sender), notice.message_id.encode(), encode(notice), headers)
        )
    return futures

"""A stand-in for the bus processors: real signed envelopes on ingress, inbox copies, receipts,
and the audit drafts the processors emit for them (the processors are built beside this)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from consumers.audit.core.events import CHECKPOINT_REQUEST, CONTROL_HEADER, draft
from consumers.audit.kafka.kafka_io import open_producer, read_values
from consumers.bus.decide.validator import trust_hashes
from docbus.settings import connection_env
from producers.builder import DocumentDraft, build_envelope, sign_envelope
from producers.receipts import receipt_for
from schemas.audit import AuditEvent, SourcePosition
from schemas.codec import encode
from schemas.document import DocumentType
from schemas.envelope import Envelope
from schemas.headers import envelope_headers
from schemas.payload import Payload
from schemas.receipt import Receipt, StatusCode
from tests.audit_bus.conftest import AuditPki, AuditTestSettings, wait_values
from tests.conftest import REPO

__all__ = ["Sent", "cli", "request_checkpoint", "send_document", "send_receipt"]


@dataclass(frozen=True)
class Sent:
    envelope: Envelope
    raw: bytes
    source: SourcePosition
    at: datetime

    @property
    def message_id(self) -> str:
        return self.envelope.message_id


async def send_document(
    settings: AuditTestSettings,
    pki: AuditPki,
    *,
    number: str,
    sender: str = "G03.U001",
    recipients: Sequence[str] = ("G03.U002", "H01"),
    deliver_to: Sequence[str] = (),
    receipt_from: str | None = None,
) -> Sent:
    """Sign and submit one document, emit SUBMITTED/ACCEPTED/ROUTED drafts, copy it to the inboxes
    in ``deliver_to``, and optionally answer it with a 03 receipt from ``receipt_from``."""
    identity = pki.identity(sender)
    doc = DocumentDraft(
        document_type=DocumentType.CONG_VAN, code_number=number, code_notation="ĐHSP-HCTH",
        subject="V/v phối hợp tổ chức hội thảo khoa học", recipients=list(recipients),
        payload=Payload.of("cong-van.pdf", "application/pdf", b"%PDF-1.7 " + number.encode()),
    )  # fmt: skip
    env, raw = sign_envelope(identity, build_envelope(identity, doc))
    store = pki.policy().store
    now = datetime.now(UTC)
    async with open_producer(settings.kafka) as producer:
        meta = await producer.send_and_wait(settings.ingress_topic, raw, key=sender.encode())
        source = SourcePosition(topic=meta.topic, partition=meta.partition, offset=meta.offset)
        for code in deliver_to:
            headers = envelope_headers(env, sender, code, env.directory_snapshot)
            await producer.send_and_wait(
                settings.inbox(code), raw, key=env.message_id.encode(), headers=headers
            )
        common: dict[str, Any] = {
            "message_id": env.message_id, "sender": sender, "at": now, "source": source,
            "stored_hash": hashlib.sha256(raw).digest(), "document_id": env.document.document_id,
        }  # fmt: skip
        drafts = [
            draft(AuditEvent.SUBMITTED, **common),
            draft(AuditEvent.ACCEPTED, trust_hashes=trust_hashes(store, env.signatures), **common),
            *(draft(AuditEvent.ROUTED, recipient=code, **common) for code in recipients),
        ]
        for key, value in drafts:
            await producer.send_and_wait(settings.audit_events_topic, value, key=key, partition=0)
    sent = Sent(env, raw, source, now)
    if receipt_from is not None:
        await send_receipt(settings, pki, sent, receipt_from, StatusCode.ACCEPTED)
    return sent


async def send_receipt(
    settings: AuditTestSettings,
    pki: AuditPki,
    sent: Sent,
    from_org: str,
    status: StatusCode,
    *,
    to_org: str | None = None,
    reason: str | None = None,
) -> Receipt:
    """A receipt about ``sent`` sealed by ``from_org`` on docbus.receipts, and the bus's RECEIPT
    draft for it (a 13 goes from the sender to ``to_org``, a recipient)."""
    receipt = receipt_for(pki.identity(from_org), sent.envelope, status, reason, to_org=to_org)
    rraw = encode(receipt)
    env, store = sent.envelope, pki.policy().store
    async with open_producer(settings.kafka) as producer:
        rmeta = await producer.send_and_wait(settings.receipts_topic, rraw, key=env.sender.code.encode())
        key, value = draft(
            AuditEvent.RECEIPT, message_id=env.message_id, sender=env.sender.code, at=datetime.now(UTC),
            source=SourcePosition(topic=rmeta.topic, partition=rmeta.partition, offset=rmeta.offset),
            document_id=env.document.document_id, recipient=from_org, status=receipt.status.value,
            receipt_hash=hashlib.sha256(rraw).digest(), trust_hashes=trust_hashes(store, receipt.signatures),
        )  # fmt: skip
        await producer.send_and_wait(settings.audit_events_topic, value, key=key, partition=0)
    return receipt


async def request_checkpoint(settings: AuditTestSettings, size: int) -> list[bytes]:
    """Ask the writer for a checkpoint once ``size`` records are chained; returns the checkpoints."""
    await wait_values(settings.kafka, settings.audit_topic, lambda v: len(v) >= size)
    before = len(await read_values(settings.kafka, settings.checkpoint_topic))
    async with open_producer(settings.kafka) as producer:
        await producer.send_and_wait(
            settings.audit_events_topic,
            b"",
            key=b"checkpoint",
            headers=[(CONTROL_HEADER, CHECKPOINT_REQUEST)],
        )
    return await wait_values(settings.kafka, settings.checkpoint_topic, lambda v: len(v) > before)


def settings_env(settings: AuditTestSettings, **override: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCBUS_")}
    for name, value in settings.model_dump(exclude={"kafka"}).items():
        if value is None:
            continue
        text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
        env[f"DOCBUS_{name.upper()}"] = text
    env |= connection_env(settings.kafka)
    env["COLUMNS"] = "250"  # rich wraps tables to the terminal; ids must stay whole
    env.update(override)
    return env


def cli(settings: AuditTestSettings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `docbus ...` as a real process with the test's settings in its environment."""
    return subprocess.run(
        [sys.executable, "-m", "docbus.cli", *args], cwd=REPO, env=settings_env(settings, **env),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
